//! The engine goes away while 8 executions run and more arrive, then comes
//! back. Running executions end `engine_error` or `interrupted` with a clear
//! message; new ones are refused while it is down (`/readyz` fails); nothing
//! runs unrecorded; the gateway recovers without a restart; no container is
//! left. The engine is a dockerd of the test's own: the shared engine is
//! never stopped.

#[path = "support/outage.rs"]
mod outage;
#[path = "support/server.rs"]
mod srv;
mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use outage::{Gateway, GatewayOpts, OwnEngine, Recorded};
use serde_json::{json, Value};

async fn status_of(addr: std::net::SocketAddr, key: &str, id: &str) -> Value {
    srv::get(addr, &format!("/v1/executions/{id}"), key)
        .await
        .json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_stopping_mid_load_loses_nothing_and_the_gateway_recovers() {
    let test = "the_engine_stopping_mid_load";
    if support::docker(test).await.is_none() || !outage::require_root(test) {
        return;
    }
    let mut engine = OwnEngine::start("cordon/python:3.11").await;
    let work = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", work.path().join("audit.db").display());
    let key_file = work.path().join("audit.key");
    let opts = GatewayOpts {
        audit_url: url.clone(),
        key_file: key_file.clone(),
        policy_dir: outage::python_only_policies(work.path(), "30s"),
        config: outage::config("{ max_concurrent: 8, queue: 0 }"),
        docker_host: Some(engine.host()),
    };
    let key = outage::key(&url, &key_file, "t1", "submitter");
    let mut gw = Gateway::start(&opts, work.path()).await;
    let addr = gw.addr;
    assert_eq!(outage::readyz(addr, &key).await.0, 200);

    // Eight programs running.
    let long = json!({
        "language": "python",
        "code": "import time\nprint('up', flush=True)\ntime.sleep(25)\nprint('not reached')\n",
        "wait": false,
    });
    let mut running = Vec::new();
    for _ in 0..8 {
        let r = srv::post(addr, "/v1/executions", &key, &long).await;
        assert_eq!(r.status, 202, "{}", r.text());
        assert_eq!(r.json()["status"], "running", "{}", r.text());
        running.push(r.json()["id"].as_str().unwrap().to_string());
    }

    // More arrive while the engine goes away.
    let arrivals = tokio::spawn({
        let key = key.clone();
        async move {
            let mut answers = Vec::new();
            for i in 0..20 {
                let body = json!({"language": "python", "code": format!("print({i})")});
                answers.push(srv::post(addr, "/v1/executions", &key, &body).await);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            answers
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    engine.down();

    assert!(
        outage::wait_ready(addr, &key, 503, Duration::from_secs(10)).await,
        "readiness did not notice the engine was gone"
    );
    let (_, body) = outage::readyz(addr, &key).await;
    let engine_check = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "engine")
        .cloned()
        .unwrap();
    assert_eq!(engine_check["ok"], false, "{body}");
    let r = srv::post(
        addr,
        "/v1/executions",
        &key,
        &json!({"language": "python", "code": "print('down')"}),
    )
    .await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.code(), "engine_unavailable", "{}", r.text());

    // The running ones end with a reason and a message, not as programs that exited.
    for id in &running {
        let deadline = Instant::now() + Duration::from_secs(60);
        let v = loop {
            let v = status_of(addr, &key, id).await;
            if v["status"] != "running" && v["status"] != "pending" {
                break v;
            }
            assert!(Instant::now() < deadline, "{id} never ended: {v}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let reason = v["result"]["termination_reason"].as_str().unwrap_or("");
        assert!(
            reason == "engine_error" || reason == "interrupted",
            "{id} ended {reason}: {v}"
        );
        let detail = v["result"]["detail"].as_str().unwrap_or("");
        assert!(!detail.is_empty(), "{id} ended without a message: {v}");
        assert!(
            !v["result"]["stdout"]
                .as_str()
                .unwrap_or("")
                .contains("not reached"),
            "{v}"
        );
    }

    // The engine returns: the gateway is ready again without a restart.
    let answers = arrivals.await.expect("arrivals");
    engine.up().await;
    assert!(
        outage::wait_ready(addr, &key, 200, Duration::from_secs(30)).await,
        "not ready after the engine returned: {:?}\n{}",
        outage::readyz(addr, &key).await,
        gw.log()
    );
    let r = srv::post(
        addr,
        "/v1/executions",
        &key,
        &json!({"language": "python", "code": "print('back')"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["result"]["termination_reason"], "exited");
    assert_eq!(r.json()["result"]["stdout"], "back\n");

    // Every arrival was either refused before anything was recorded (503),
    // or answered with an id and a final state; none ran without a record.
    let mut answered: Vec<String> = running.clone();
    answered.push(r.json()["id"].as_str().unwrap().to_string());
    let (mut refused, mut overloaded) = (0, 0);
    for a in &answers {
        match a.status {
            // Before the engine went: the eight running held every slot.
            503 if a.code() == "host_overloaded" => overloaded += 1,
            503 => {
                assert_eq!(a.code(), "engine_unavailable", "{}", a.text());
                refused += 1;
            }
            200 => {
                let v = a.json();
                let reason = v["result"]["termination_reason"].as_str().unwrap_or("");
                assert!(
                    reason == "exited" || reason == "engine_error",
                    "{}",
                    a.text()
                );
                answered.push(v["id"].as_str().unwrap().to_string());
            }
            other => panic!("unexpected answer {other}: {}", a.text()),
        }
    }
    assert!(
        refused > 0,
        "no arrival was refused while the engine was down"
    );

    // No container is left of any execution, on the test's engine.
    let left =
        outage::wait_no_containers(&engine.client(), &answered, Duration::from_secs(40)).await;
    assert!(left.is_empty(), "containers left: {left:?}\n{}", gw.log());

    assert!(gw.terminate().is_some_and(|s| s.success()), "{}", gw.log());
    outage::assert_verifies(&url, &key_file);
    let log = Recorded::open(&url, &key_file).await;
    let rows = log.executions().await;
    let recorded: HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(recorded.len(), rows.len());
    // The log holds the executions answered with an id, plus one record per
    // admission refusal (answered 503 without an id); engine_unavailable
    // refusals came before anything was recorded.
    let answered_ids: HashSet<&str> = answered.iter().map(String::as_str).collect();
    assert!(
        answered_ids.is_subset(&recorded),
        "answered but not recorded: {:?}",
        answered_ids.difference(&recorded).collect::<Vec<_>>()
    );
    let others: Vec<_> = rows
        .iter()
        .filter(|r| !answered_ids.contains(r.id.as_str()))
        .collect();
    assert_eq!(others.len(), overloaded, "records nobody was answered for");
    assert!(others
        .iter()
        .all(|r| r.termination_reason.as_deref() == Some("host_overloaded")));
    for row in &rows {
        assert!(
            row.termination_reason.is_some(),
            "{} has no final state",
            row.id
        );
        let kinds = log.kinds(&row.id).await;
        assert_eq!(
            kinds.iter().filter(|k| *k == "finished").count(),
            1,
            "{kinds:?}"
        );
        if row.termination_reason.as_deref() == Some("exited") {
            assert!(kinds.contains(&"started".to_string()), "{kinds:?}");
        }
    }
    log.close().await;
}
