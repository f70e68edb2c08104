//! The real `cordon serve` binary as a child process: SIGTERM drains and
//! leaves no container behind with an intact audit chain; SIGKILL mid-run
//! followed by a restart reaps the orphan and records `interrupted`.

#[path = "support/server.rs"]
mod srv;
mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use srv::{get, post};

struct Env {
    dir: tempfile::TempDir,
    url: String,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("audit.db").display());
        Env { dir, url }
    }
    fn key_file(&self) -> PathBuf {
        self.dir.path().join("audit.key")
    }
    fn cordon(&self, args: &[&str]) -> std::process::Output {
        srv::cordon(args, &self.url, &self.key_file())
    }
    fn key(&self, tenant: &str, role: &str) -> String {
        let out = self.cordon(&["keys", "create", "--tenant", tenant, "--role", role]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
    fn serve(&self, port: u16) -> Child {
        Command::new(env!("CARGO_BIN_EXE_cordon"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--shutdown-grace",
                "1s",
            ])
            .arg("--policy-dir")
            .arg(srv::policies_dir())
            .env("CORDON_AUDIT_URL", &self.url)
            .env("CORDON_AUDIT_KEY_FILE", self.key_file())
            .env("CORDON_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(self.dir.path().join(format!("serve-{port}.log")))
                    .expect("log file"),
            ))
            .spawn()
            .expect("spawn cordon serve")
    }
    fn log(&self, port: u16) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("serve-{port}.log")))
            .unwrap_or_default()
    }
    fn audit_show(&self, id: &str) -> Value {
        let out = self.cordon(&["audit", "show", id, "--format", "json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("show json")
    }
    fn verify_ok(&self) {
        let out = self.cordon(&["audit", "verify", "--rows"]);
        assert!(
            out.status.success(),
            "audit verify failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok);
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

async fn start(env: &Env, port: u16) -> (Child, SocketAddr) {
    let mut child = env.serve(port);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    if !srv::wait_healthy(addr, Duration::from_secs(90)).await {
        let _ = child.kill();
        let _ = child.wait();
        panic!("server did not come up:\n{}", env.log(port));
    }
    (child, addr)
}

/// Submits a long sleep and waits until the program runs; returns its id.
async fn long_run(addr: SocketAddr, key: &str) -> String {
    let body = json!({
        "language": "python",
        "code": "import time\nprint('up', flush=True)\ntime.sleep(60)\n",
        "wait": false,
    });
    let r = post(addr, "/v1/executions", key, &body).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    for _ in 0..200 {
        if get(addr, &format!("/v1/executions/{id}"), key).await.json()["status"] == "running" {
            tokio::time::sleep(Duration::from_millis(300)).await;
            return id;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("execution {id} never started");
}

async fn containers_of(id: &str) -> usize {
    let d = cordon::sandbox::docker::DockerBackend::connect()
        .await
        .expect("engine");
    d.labelled_containers()
        .await
        .expect("list")
        .iter()
        .filter(|(_, e)| e == id)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_leaves_no_container_and_the_audit_verifies() {
    if support::docker("sigterm").await.is_none() {
        return;
    }
    let env = Env::new();
    let key = env.key("t1", "submitter");
    let port = srv::free_port();
    let (mut child, addr) = start(&env, port).await;
    let id = long_run(addr, &key).await;
    assert_eq!(containers_of(&id).await, 1);
    signal(&child, "-TERM");
    let status = wait_exit(&mut child, Duration::from_secs(60)).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("serve did not exit after SIGTERM:\n{}", env.log(port))
    });
    assert!(status.success(), "exit {status:?}:\n{}", env.log(port));
    assert_eq!(containers_of(&id).await, 0, "a container was left behind");
    let rec = env.audit_show(&id);
    assert_eq!(
        rec["execution"]["termination_reason"], "interrupted",
        "{rec}"
    );
    env.verify_ok();
    // Structured logs: JSON lines, the execution id on the execution's lines, no code.
    let log = env.log(port);
    assert!(log
        .lines()
        .filter(|l| l.starts_with('{'))
        .all(|l| serde_json::from_str::<Value>(l).is_ok()));
    assert!(log.contains(&id));
    assert!(!log.contains("time.sleep(60)"), "code leaked into the log");
    assert!(!log.contains(&key), "a key leaked into the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_then_restart_reaps_the_orphan_and_records_interrupted() {
    if support::docker("sigkill").await.is_none() {
        return;
    }
    let env = Env::new();
    let key = env.key("t1", "submitter");
    let port = srv::free_port();
    let (mut child, addr) = start(&env, port).await;
    let id = long_run(addr, &key).await;
    signal(&child, "-KILL");
    let _ = child.wait();
    assert_eq!(
        containers_of(&id).await,
        1,
        "the orphan should still be there before the restart"
    );

    let port2 = srv::free_port();
    let (mut child2, addr2) = start(&env, port2).await;
    assert_eq!(
        containers_of(&id).await,
        0,
        "restart did not reap the orphan:\n{}",
        env.log(port2)
    );
    let r = get(addr2, &format!("/v1/executions/{id}"), &key).await;
    assert_eq!(r.json()["status"], "interrupted", "{}", r.text());
    signal(&child2, "-TERM");
    assert!(wait_exit(&mut child2, Duration::from_secs(60)).is_some_and(|s| s.success()));
    let rec = env.audit_show(&id);
    assert_eq!(rec["execution"]["termination_reason"], "interrupted");
    let kinds: Vec<&str> = rec["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"interrupted"), "{kinds:?}");
    env.verify_ok();
}
