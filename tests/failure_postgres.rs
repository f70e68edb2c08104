//! Postgres goes away while executions run. Programs that already started
//! keep their outcome: the answer says plainly that the record is pending,
//! the records wait in the gateway's spool and are appended, in order, when
//! the server returns. While it is away nothing new starts (503, readiness
//! fails); afterwards the chain verifies and every execution is in it once.
//! The cluster is the test's own; the shared one is never stopped.

#[path = "support/outage.rs"]
mod outage;
#[path = "support/server.rs"]
mod srv;
mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use outage::{Gateway, GatewayOpts, OwnPostgres, Recorded};
use serde_json::json;

/// `cordon_executions_running` from `/metrics`.
async fn running(addr: std::net::SocketAddr, key: &str) -> Option<u64> {
    let r = srv::get(addr, "/metrics", key).await;
    if r.status != 200 {
        return None;
    }
    r.text()
        .lines()
        .find(|l| l.starts_with("cordon_executions_running"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopping_mid_load_loses_no_outcome() {
    let test = "postgres_stopping_mid_load";
    if support::docker(test).await.is_none() || !outage::require_root(test) {
        return;
    }
    let Some(mut pg) = OwnPostgres::start(test) else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let url = pg.url();
    let key_file = work.path().join("audit.key");
    let opts = GatewayOpts {
        audit_url: url.clone(),
        key_file: key_file.clone(),
        policy_dir: outage::python_only_policies(work.path(), "20s"),
        config: outage::config("{ max_concurrent: 8, queue: 0 }"),
        docker_host: None,
    };
    let key = outage::key(&url, &key_file, "t1", "submitter");
    let admin = outage::key(&url, &key_file, "t1", "admin");
    let mut gw = Gateway::start(&opts, work.path()).await;
    let addr = gw.addr;

    // Six programs that run for a while and then print; the answers are awaited.
    const N: usize = 6;
    let mut calls = Vec::new();
    for i in 0..N {
        let key = key.clone();
        calls.push(tokio::spawn(async move {
            let body = json!({
                "language": "python",
                "code": format!("import time\nprint('up {i}', flush=True)\ntime.sleep(6)\nprint('done {i}')\n"),
            });
            srv::post(addr, "/v1/executions", &key, &body).await
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while running(addr, &admin).await.unwrap_or(0) < N as u64 {
        assert!(
            Instant::now() < deadline,
            "the programs never all ran:\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    pg.down();

    // While it is away: nothing new is accepted, and readiness says so.
    let r = srv::post(
        addr,
        "/v1/executions",
        &key,
        &json!({"language": "python", "code": "print('during')"}),
    )
    .await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.code(), "audit_unavailable", "{}", r.text());
    assert_eq!(outage::readyz(addr, &key).await.0, 503);
    let health = srv::request(addr, "GET", "/healthz", None, None).await;
    assert_eq!(health.status, 200, "the process must stay alive");

    // The programs that were running end normally; each answer says the record is pending.
    let mut ids = Vec::new();
    for c in calls {
        let r = c.await.expect("request task");
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        let result = &v["result"];
        assert_eq!(result["termination_reason"], "exited", "{v}");
        assert!(
            result["stdout"].as_str().unwrap_or("").contains("done"),
            "{v}"
        );
        let pending = result["audit_error"].as_str().unwrap_or("");
        assert!(
            pending.contains("pending") && pending.contains("spool"),
            "the answer must say the record is pending: {v}"
        );
        ids.push(v["id"].as_str().unwrap().to_string());
    }

    // The server returns: the spool is appended and the gateway is ready, no restart.
    pg.up();
    assert!(
        outage::wait_ready(addr, &key, 200, Duration::from_secs(60)).await,
        "not ready after Postgres returned: {:?}\n{}",
        outage::readyz(addr, &key).await,
        gw.log()
    );
    let r = srv::post(
        addr,
        "/v1/executions",
        &key,
        &json!({"language": "python", "code": "print('after')"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["result"]["stdout"], "after\n");
    assert!(r.json()["result"]["audit_error"].is_null(), "{}", r.text());
    ids.push(r.json()["id"].as_str().unwrap().to_string());

    assert!(gw.terminate().is_some_and(|s| s.success()), "{}", gw.log());
    outage::assert_verifies(&url, &key_file);
    let log = Recorded::open(&url, &key_file).await;
    let rows = log.executions().await;
    assert_eq!(
        rows.len(),
        N + 1,
        "exactly the executions that were accepted"
    );
    let unique: HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    for id in &ids {
        assert!(unique.contains(id.as_str()), "{id} is not in the log");
        let row = rows.iter().find(|r| &r.id == id).unwrap();
        assert_eq!(row.termination_reason.as_deref(), Some("exited"), "{id}");
        let kinds = log.kinds(id).await;
        for k in ["received", "decided", "started", "finished"] {
            assert_eq!(
                kinds.iter().filter(|x| *x == k).count(),
                1,
                "{id}: `{k}` must appear exactly once: {kinds:?}"
            );
        }
        assert_eq!(
            kinds.last().map(String::as_str),
            Some("finished"),
            "{kinds:?}"
        );
    }
    log.close().await;
}
