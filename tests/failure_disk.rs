//! The SQLite audit disk fills up under the gateway: executions are refused
//! with a clear error once writes fail, nothing runs without its record,
//! readiness says why, and once space is freed the spooled records are
//! appended, the gateway accepts work again without a restart, and the log
//! verifies with every execution in it exactly once.

#[path = "support/outage.rs"]
mod outage;
#[path = "support/server.rs"]
mod srv;
mod support;

use std::collections::HashSet;
use std::time::Duration;

use outage::{Gateway, GatewayOpts, Recorded, Tmpfs};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_audit_disk_refuses_executions_and_recovers_when_space_returns() {
    let test = "a_full_audit_disk";
    if support::docker(test).await.is_none() || !outage::require_root(test) {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let disk = Tmpfs::mount("8m");
    let url = format!("sqlite://{}", disk.path().join("audit.db").display());
    let key_file = work.path().join("audit.key");
    let opts = GatewayOpts {
        audit_url: url.clone(),
        key_file: key_file.clone(),
        policy_dir: outage::python_only_policies(work.path(), "10s"),
        config: outage::config("{ max_concurrent: 4, queue: 0 }"),
        docker_host: None,
    };
    let key = outage::key(&url, &key_file, "t1", "submitter");
    let mut gw = Gateway::start(&opts, work.path()).await;
    let addr = gw.addr;

    // Sealed code is what makes records large: padding fills the WAL's slack fast.
    let padded = |tag: &str| {
        json!({
            "language": "python",
            "code": format!("print('{tag}')\n{}\n", "#".repeat(200_000)),
        })
    };
    let r = srv::post(addr, "/v1/executions", &key, &padded("before")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["result"]["stdout"], "before\n");
    let mut seen: Vec<String> = vec![r.json()["id"].as_str().unwrap().to_string()];

    let filled = disk.fill("filler");
    assert!(filled > 0, "nothing was written to fill the disk");

    // Submissions go on until the store refuses; each answer is checked.
    let mut refused = None;
    for i in 0..30 {
        let r = srv::post(addr, "/v1/executions", &key, &padded(&format!("full-{i}"))).await;
        match r.status {
            200 => {
                let v = r.json();
                seen.push(v["id"].as_str().unwrap().to_string());
                let result = &v["result"];
                if result["termination_reason"] == "exited" {
                    // The WAL still had room: this one is fully recorded.
                    assert!(result["audit_error"].is_null(), "{v}");
                    continue;
                }
                // The start record failed: the program did not run.
                assert_eq!(result["termination_reason"], "engine_error", "{v}");
                assert!(
                    result["detail"]
                        .as_str()
                        .unwrap_or("")
                        .contains("could not record the start"),
                    "{v}"
                );
                assert_eq!(
                    result["stdout"], "",
                    "a program ran without its record: {v}"
                );
                assert!(result["exit_code"].is_null(), "{v}");
            }
            503 => {
                assert_eq!(r.code(), "audit_unavailable", "{}", r.text());
                assert!(r.text().contains("spooled"), "{}", r.text());
                refused = Some(r.text());
                break;
            }
            other => panic!("unexpected answer {other}: {}", r.text()),
        }
    }
    assert!(
        refused.is_some(),
        "30 submissions on a full disk were never refused:\n{}",
        gw.log()
    );
    let (status, body) = outage::readyz(addr, &key).await;
    assert_eq!(status, 503, "{body}");
    let check = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "audit_store_writable")
        .cloned()
        .unwrap();
    assert_eq!(check["ok"], false, "{body}");

    // Free the space: the spool drains, the gateway is ready again, work runs.
    std::fs::remove_file(disk.path().join("filler")).expect("free the disk");
    assert!(
        outage::wait_ready(addr, &key, 200, Duration::from_secs(30)).await,
        "not ready after space was freed: {:?}\n{}",
        outage::readyz(addr, &key).await,
        gw.log()
    );
    let r = srv::post(addr, "/v1/executions", &key, &padded("after")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["result"]["stdout"], "after\n");
    seen.push(r.json()["id"].as_str().unwrap().to_string());

    assert!(gw.terminate().is_some_and(|s| s.success()), "{}", gw.log());
    outage::assert_verifies(&url, &key_file);
    let log = Recorded::open(&url, &key_file).await;
    let rows = log.executions().await;
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "an execution is recorded twice");
    for id in &seen {
        assert!(
            unique.contains(id.as_str()),
            "{id} answered but not recorded"
        );
        let kinds = log.kinds(id).await;
        assert_eq!(
            kinds.iter().filter(|k| *k == "finished").count(),
            1,
            "{id}: {kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| *k == "received").count(),
            1,
            "{id}: {kinds:?}"
        );
    }
    for row in &rows {
        assert!(
            row.termination_reason.is_some(),
            "{} has no final state",
            row.id
        );
        if row.termination_reason.as_deref() == Some("exited") {
            let kinds = log.kinds(&row.id).await;
            assert!(
                kinds.contains(&"started".to_string()),
                "{} ran without a start record: {kinds:?}",
                row.id
            );
        }
    }
    log.close().await;
}
