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
    /// YAML for `cordon serve --config`, when the defaults will not do.
    config: Option<String>,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("audit.db").display());
        Env {
            dir,
            url,
            config: None,
        }
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
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cordon"));
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--shutdown-grace",
            "1s",
        ]);
        if let Some(yaml) = self.config.as_deref() {
            let path = self.dir.path().join("serve.yaml");
            std::fs::write(&path, yaml).expect("write config");
            cmd.arg("--config").arg(path);
        }
        cmd.arg("--policy-dir")
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

/// `cordon_executions_running` from `/metrics`.
async fn running(addr: SocketAddr, key: &str) -> u64 {
    get(addr, "/metrics", key)
        .await
        .text()
        .lines()
        .find(|l| l.starts_with("cordon_executions_running"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_20_concurrent_executions_leaves_each_one_final_and_no_container() {
    if support::docker("sigkill_during_20").await.is_none() {
        return;
    }
    let mut env = Env::new();
    // Eight run at once, twelve wait in the admission queue: the kill hits both.
    env.config = Some(
        "rate_limits:\n  default: { concurrent: 50, per_hour: 10000 }\n\
         admission: { max_concurrent: 8, queue: 20, queue_timeout: 60s }\n"
            .to_string(),
    );
    let key = env.key("t1", "submitter");
    let auditor = env.key("t1", "auditor");
    let port = srv::free_port();
    let (mut child, addr) = start(&env, port).await;

    const N: usize = 20;
    let mut calls = Vec::new();
    for i in 0..N {
        let key = key.clone();
        calls.push(tokio::spawn(async move {
            let body = json!({
                "language": "python",
                "code": format!("import time\nprint('up {i}', flush=True)\ntime.sleep(60)\n"),
                "wait": false,
            });
            post(addr, "/v1/executions", &key, &body).await
        }));
    }
    // All twenty are recorded and eight run; then the gateway dies.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let recorded = get(addr, "/v1/audit?limit=100", &auditor).await.json();
        let n = recorded.as_array().map_or(0, Vec::len);
        if n == N && running(addr, &auditor).await >= 8 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never {N} recorded and 8 running ({n} recorded):\n{}",
            env.log(port)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(&child, "-KILL");
    let _ = child.wait();
    for c in calls {
        c.abort();
    }
    let rows = get_ids(&env);
    assert_eq!(rows.len(), N);

    let port2 = srv::free_port();
    let (mut child2, addr2) = start(&env, port2).await;
    for id in &rows {
        assert_eq!(
            containers_of(id).await,
            0,
            "a container of {id} was left:\n{}",
            env.log(port2)
        );
        let r = get(addr2, &format!("/v1/executions/{id}"), &key).await;
        let status = r.json()["status"].clone();
        assert!(
            status != "running" && status != "pending",
            "{id} has no final state: {}",
            r.text()
        );
        let rec = env.audit_show(id);
        let reason = rec["execution"]["termination_reason"]
            .as_str()
            .unwrap_or("");
        assert!(
            ["interrupted", "timeout", "exited"].contains(&reason),
            "{id}: {rec}"
        );
    }
    signal(&child2, "-TERM");
    assert!(wait_exit(&mut child2, Duration::from_secs(60)).is_some_and(|s| s.success()));
    env.verify_ok();
}

/// The ids of every execution in the log (read with the CLI).
fn get_ids(env: &Env) -> Vec<String> {
    let out = env.cordon(&["audit", "query", "--limit", "1000", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("query json");
    v.as_array()
        .expect("array")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}
