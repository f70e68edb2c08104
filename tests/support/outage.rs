//! Fixtures for the failure tests: components of the test's own that the
//! test may break without disturbing any other test, each cleaned up by its
//! `Drop` even when the test fails:
//! - [`Gateway`]: the real `cordon serve` binary as a child process;
//! - [`OwnEngine`]: a dockerd with its own socket, data root, exec root and
//!   pidfile, `--bridge=none --iptables=false`, fed one runtime image from
//!   the shared engine (never the shared engine itself, which is never stopped);
//! - [`OwnPostgres`]: a Postgres cluster in a temporary directory on a free port;
//! - [`Tmpfs`]: a small tmpfs mounted in a temporary directory.
//!
//! Breaking components needs root; [`require_root`] skips (or, under
//! `CORDON_REQUIRE_DOCKER`, fails) a test run without it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bollard::query_parameters::ListContainersOptionsBuilder;
use bollard::Docker;

use super::srv;

/// Whether the test may go on: it needs root to start daemons and mount.
pub fn require_root(test: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root {
        if std::env::var_os("CORDON_REQUIRE_DOCKER").is_some() {
            panic!("{test}: needs root (it starts its own engine or database, or mounts a tmpfs)");
        }
        eprintln!("skipped: {test}: needs root");
    }
    root
}

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("run sh")
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// A policy directory holding one `default` policy with a Python runtime
/// only (the images an own engine must hold) and no rules.
pub fn python_only_policies(dir: &Path, wall: &str) -> PathBuf {
    let p = dir.join("policies");
    std::fs::create_dir_all(&p).expect("policy dir");
    std::fs::write(
        p.join("default.yaml"),
        format!(
            "apiVersion: cordon.dev/v1\nkind: Policy\nmetadata: {{ name: default }}\n\
             thresholds: {{ review: 100, deny: 100 }}\nruntimes:\n  python:\n    image: cordon/python:3.11\n    \
             limits: {{ cpus: 0.5, memory: 128Mi, pids: 64, wall: {wall}, cpu_time: 10s, output: 64Ki, tmpfs: 8Mi }}\n"
        ),
    )
    .expect("write policy");
    p
}

/// How a [`Gateway`] is started.
#[derive(Debug, Clone, Default)]
pub struct GatewayOpts {
    pub audit_url: String,
    pub key_file: PathBuf,
    pub policy_dir: PathBuf,
    /// YAML for `--config` (rate limits, admission, ...).
    pub config: String,
    /// `DOCKER_HOST` for the gateway, when not the shared engine.
    pub docker_host: Option<String>,
}

/// `cordon serve` as a child process on a free loopback port.
pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Gateway {
    /// Starts the gateway and waits until `/healthz` answers.
    pub async fn start(opts: &GatewayOpts, dir: &Path) -> Gateway {
        let port = srv::free_port();
        let config = dir.join(format!("serve-{port}.yaml"));
        std::fs::write(&config, &opts.config).expect("write config");
        let log = dir.join(format!("serve-{port}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cordon"));
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--shutdown-grace", "2s"])
            .arg("--config")
            .arg(&config)
            .arg("--policy-dir")
            .arg(&opts.policy_dir)
            .env("CORDON_AUDIT_URL", &opts.audit_url)
            .env("CORDON_AUDIT_KEY_FILE", &opts.key_file)
            .env("CORDON_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).expect("log file")));
        match &opts.docker_host {
            Some(h) => cmd.env("DOCKER_HOST", h),
            None => cmd.env_remove("DOCKER_HOST"),
        };
        let child = cmd.spawn().expect("spawn cordon serve");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let gw = Gateway { child, addr, log };
        if !srv::wait_healthy(addr, Duration::from_secs(120)).await {
            panic!("the gateway did not come up:\n{}", gw.log());
        }
        gw
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and the exit status within a minute.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        signal(self.child.id(), "-TERM");
        wait_exit(&mut self.child, Duration::from_secs(60))
    }

    /// SIGKILL, and wait for it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether it still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `/readyz` status and body.
pub async fn readyz(addr: SocketAddr, key: &str) -> (u16, serde_json::Value) {
    let r = srv::get(addr, "/readyz", key).await;
    let body = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
    (r.status, body)
}

/// Polls `/readyz` until it answers `want` (200 or 503); returns whether it did.
pub async fn wait_ready(addr: SocketAddr, key: &str, want: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if readyz(addr, key).await.0 == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// Containers carrying the cordon execution label on `docker`: (container, execution).
pub async fn labelled(docker: &Docker) -> Vec<(String, String)> {
    let mut filters = std::collections::HashMap::new();
    filters.insert("label".to_string(), vec!["cordon.execution".to_string()]);
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    docker
        .list_containers(Some(opts))
        .await
        .expect("list containers")
        .into_iter()
        .filter_map(|c| {
            let e = c.labels.as_ref()?.get("cordon.execution")?.clone();
            Some((c.id?, e))
        })
        .collect()
}

/// Waits until none of `ids` has a container on `docker`; returns those left.
pub async fn wait_no_containers(docker: &Docker, ids: &[String], within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let left: Vec<String> = labelled(docker)
            .await
            .into_iter()
            .map(|(_, e)| e)
            .filter(|e| ids.contains(e))
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A dockerd of the test's own. The shared engine is never touched, except
/// to export the one image this engine needs.
pub struct OwnEngine {
    root: tempfile::TempDir,
    child: Option<Child>,
}

impl OwnEngine {
    /// Starts the engine and loads `image` into it from the shared engine.
    pub async fn start(image: &str) -> OwnEngine {
        let root = tempfile::Builder::new()
            .prefix("cordon-own-engine-")
            .tempdir()
            .expect("tempdir");
        std::fs::write(root.path().join("daemon.json"), "{}").expect("daemon.json");
        let mut engine = OwnEngine { root, child: None };
        engine.up().await;
        let load = sh(&format!(
            "docker -H unix:///var/run/docker.sock save {image} | docker -H {} load",
            engine.host()
        ));
        assert!(
            load.status.success(),
            "loading {image} into the test's engine failed: {}",
            String::from_utf8_lossy(&load.stderr)
        );
        engine
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p)
    }

    /// `unix:///.../docker.sock`, for `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.path("docker.sock").display())
    }

    pub fn client(&self) -> Docker {
        Docker::connect_with_unix(
            &self.path("docker.sock").display().to_string(),
            30,
            bollard::API_DEFAULT_VERSION,
        )
        .expect("client for the test's engine")
    }

    /// Starts dockerd (again) and waits until it answers.
    pub async fn up(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("dockerd.log"))
            .expect("dockerd log");
        let child = Command::new("dockerd")
            .arg("--host")
            .arg(self.host())
            .arg("--data-root")
            .arg(self.path("data"))
            .arg("--exec-root")
            .arg(self.path("exec"))
            .arg("--pidfile")
            .arg(self.path("docker.pid"))
            .arg("--config-file")
            .arg(self.path("daemon.json"))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--userland-proxy=false",
                // Containers get this long to stop when the engine stops (their
                // PID 1 ignores SIGTERM, so they are killed after it).
                "--shutdown-timeout=3",
                "--log-level=warn",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn dockerd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.path("docker.sock").exists() && self.client().ping().await.is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!("the test's dockerd did not come up:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops dockerd (SIGTERM, as an operator or systemd would) and waits.
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), "-TERM");
            if wait_exit(&mut c, Duration::from_secs(60)).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for OwnEngine {
    fn drop(&mut self) {
        if self.child.is_some() {
            // Remove what a failed test left, then stop.
            let _ = sh(&format!(
                "docker -H {h} ps -aq | xargs -r docker -H {h} rm -f",
                h = self.host()
            ));
        }
        self.down();
        // Mounts a dying engine left would make the directory undeletable.
        let root = self.root.path().display().to_string();
        let _ = sh(&format!(
            "grep -o ' {root}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l"
        ));
    }
}

/// A Postgres cluster of the test's own (the shared one is never stopped).
pub struct OwnPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    running: bool,
}

/// Postgres server binaries, or `None` (after printing or panicking why).
fn pg_bin(test: &str) -> Option<PathBuf> {
    let found = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|d| {
        let mut v: Vec<PathBuf> = d
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("pg_ctl").exists())
            .collect();
        v.sort();
        v.pop()
    });
    if found.is_none() {
        if std::env::var_os("CORDON_REQUIRE_POSTGRES").is_some() {
            panic!("{test}: CORDON_REQUIRE_POSTGRES is set but no Postgres server binaries are installed");
        }
        eprintln!("skipped: {test}: no Postgres server binaries (apt-get install postgresql)");
    }
    found
}

impl OwnPostgres {
    /// Initialises and starts a cluster, or `None` when Postgres is absent and not required.
    pub fn start(test: &str) -> Option<OwnPostgres> {
        let bin = pg_bin(test)?;
        let dir = tempfile::Builder::new()
            .prefix("cordon-own-pg-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path().display().to_string();
        let init = sh(&format!(
            "chown postgres:postgres {d} && chmod 700 {d} && \
             runuser -u postgres -- {bin}/initdb -D {d}/data -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8",
            bin = bin.display()
        ));
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let port = srv::free_port();
        std::fs::write(
            dir.path().join("data/postgresql.auto.conf"),
            format!(
                "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{d}'\nfsync = on\n"
            ),
        )
        .expect("postgres conf");
        let mut pg = OwnPostgres {
            dir,
            bin,
            port,
            running: false,
        };
        pg.up();
        Some(pg)
    }

    fn ctl(&self, args: &str) -> std::process::Output {
        let d = self.dir.path().display();
        sh(&format!(
            "runuser -u postgres -- {}/pg_ctl -D {d}/data {args}",
            self.bin.display()
        ))
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn up(&mut self) {
        let d = self.dir.path().display().to_string();
        let out = self.ctl(&format!("-l {d}/server.log -w -t 60 start"));
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(format!("{d}/server.log")).unwrap_or_default()
        );
        self.running = true;
    }

    /// Stops the server the way an operator's fast shutdown does: open
    /// connections are terminated.
    pub fn down(&mut self) {
        let out = self.ctl("-m fast -w -t 60 stop");
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.running = false;
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        if self.running {
            let _ = self.ctl("-m immediate -w stop");
        }
    }
}

/// A tmpfs of a given size mounted on a fresh directory; unmounted on drop.
pub struct Tmpfs {
    dir: tempfile::TempDir,
    mounted: bool,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::Builder::new()
            .prefix("cordon-small-disk-")
            .tempdir()
            .expect("tempdir");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "mount tmpfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir, mounted: true }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the remaining space with `name`; returns the bytes written.
    pub fn fill(&self, name: &str) -> u64 {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path().join(name)).expect("filler");
        let block = vec![0x5a_u8; 4096];
        let mut n = 0u64;
        while f.write_all(&block).is_ok() {
            n += block.len() as u64;
        }
        // Whatever is left below one block too.
        while f.write_all(&block[..1]).is_ok() {
            n += 1;
        }
        let _ = f.sync_all();
        n
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// What the audit log holds, read as `cordon audit` reads it.
pub struct Recorded {
    log: cordon::audit::AuditLog,
}

impl Recorded {
    pub async fn open(url: &str, key_file: &Path) -> Recorded {
        let cfg = cordon::audit::AuditConfig {
            url: Some(url.to_string()),
            key_file: Some(key_file.to_path_buf()),
            ..Default::default()
        };
        Recorded {
            log: cordon::audit::AuditLog::open_reader(&cfg)
                .await
                .expect("open the audit log for reading"),
        }
    }

    /// Every execution row.
    pub async fn executions(&self) -> Vec<cordon::audit::ExecutionRecord> {
        self.log
            .query(&cordon::audit::QueryFilter {
                limit: Some(100_000),
                ..Default::default()
            })
            .await
            .expect("query the audit log")
    }

    /// The kinds of one execution's events, in chain order.
    pub async fn kinds(&self, id: &str) -> Vec<String> {
        self.log
            .show(id, false)
            .await
            .unwrap_or_else(|e| panic!("show {id}: {e}"))
            .events
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    pub async fn close(self) {
        let _ = self.log.close().await;
    }
}

/// `cordon audit verify --rows --payloads` passes on the log.
pub fn assert_verifies(url: &str, key_file: &Path) {
    let out = srv::cordon(&["audit", "verify", "--rows", "--payloads"], url, key_file);
    assert!(
        out.status.success(),
        "audit verify failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new API key's secret, made with the CLI against the gateway's store.
pub fn key(url: &str, key_file: &Path, tenant: &str, role: &str) -> String {
    let out = srv::cordon(
        &["keys", "create", "--tenant", tenant, "--role", role],
        url,
        key_file,
    );
    assert!(
        out.status.success(),
        "keys create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Relaxed rate limits plus the given admission settings, as gateway YAML.
pub fn config(admission: &str) -> String {
    format!(
        "rate_limits:\n  default: {{ concurrent: 100, per_hour: 100000 }}\nadmission: {admission}\n"
    )
}
