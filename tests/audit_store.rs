//! The audit log suite, run against SQLite always and against a real Postgres
//! server when `CORDON_TEST_POSTGRES_URL` is set (CI sets it and
//! `CORDON_REQUIRE_POSTGRES`, which turns a missing URL into a failure).
//!
//! Every case is an `async fn(&Env)`; the `both!` macro makes a `sqlite_*` and
//! a `postgres_*` test of it. Each Postgres test uses its own schema.

#[path = "support/postgres.rs"]
mod pg_support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use chrono::Utc;
use cordon::audit::{
    AuditConfig, AuditError, AuditLog, DecisionRecord, EventKind, ExportFormat, FinishRecord,
    NewExecution, QueryFilter, VerifyOptions,
};
use serde_json::json;
use sha2::Digest;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

struct Env {
    kind: Kind,
    url: String,
    dir: tempfile::TempDir,
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Env {
    async fn new(kind: Kind, test: &str) -> Option<Env> {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = match kind {
            Kind::Sqlite => format!("sqlite://{}", dir.path().join("audit.db").display()),
            Kind::Postgres => {
                let base = pg_support::base_url(test)?;
                pg_support::fresh_schema_url(&base, test).await
            }
        };
        Some(Env { kind, url, dir })
    }

    fn key_file(&self) -> PathBuf {
        self.dir.path().join("audit.key")
    }

    fn cfg(&self) -> AuditConfig {
        AuditConfig {
            url: Some(self.url.clone()),
            key_file: Some(self.key_file()),
            heartbeat: Some(Duration::from_millis(500)),
            lease: Some(Duration::from_secs(30)),
        }
    }

    async fn open(&self) -> AuditLog {
        AuditLog::open(&self.cfg()).await.expect("open audit log")
    }

    async fn raw(&self) -> Raw {
        match self.kind {
            Kind::Sqlite => Raw::Sqlite(
                sqlx::SqlitePool::connect(&self.url)
                    .await
                    .expect("raw sqlite"),
            ),
            Kind::Postgres => Raw::Pg(
                sqlx::PgPool::connect(&self.url)
                    .await
                    .expect("raw postgres"),
            ),
        }
    }

    fn drop_triggers(&self) -> &'static [&'static str] {
        match self.kind {
            Kind::Sqlite => &[
                "DROP TRIGGER audit_events_no_update",
                "DROP TRIGGER audit_events_no_delete",
            ],
            Kind::Postgres => &["DROP TRIGGER audit_events_append_only ON audit_events"],
        }
    }
}

impl Raw {
    async fn exec(&self, sql: &str) -> Result<u64, sqlx::Error> {
        let q = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Raw::Sqlite(p) => sqlx::query(q).execute(p).await.map(|r| r.rows_affected()),
            Raw::Pg(p) => sqlx::query(q).execute(p).await.map(|r| r.rows_affected()),
        }
    }

    async fn text(&self, sql: &str) -> String {
        let q = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Raw::Sqlite(p) => sqlx::query_scalar::<_, String>(q)
                .fetch_one(p)
                .await
                .expect("raw query"),
            Raw::Pg(p) => sqlx::query_scalar::<_, String>(q)
                .fetch_one(p)
                .await
                .expect("raw query"),
        }
    }

    async fn int(&self, sql: &str) -> i64 {
        let q = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Raw::Sqlite(p) => sqlx::query_scalar::<_, i64>(q)
                .fetch_one(p)
                .await
                .expect("raw query"),
            Raw::Pg(p) => sqlx::query_scalar::<_, i64>(q)
                .fetch_one(p)
                .await
                .expect("raw query"),
        }
    }

    async fn close(self) {
        match self {
            Raw::Sqlite(p) => p.close().await,
            Raw::Pg(p) => p.close().await,
        }
    }
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(env) = super::Env::new(super::Kind::Sqlite, stringify!($name)).await {
                        super::$name(&env).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(env) = super::Env::new(super::Kind::Postgres, stringify!($name)).await {
                        super::$name(&env).await;
                    }
                }
            )*
        }
    };
}

both!(
    records_a_full_execution,
    denied_execution_is_complete,
    append_only_triggers_reject_changes,
    concurrent_writers_keep_one_chain,
    edits_are_detected_at_their_seq,
    deletion_and_reordering_are_detected,
    newer_schema_refuses_to_start,
    interrupted_executions_are_marked,
    sealing_round_trip_and_failures,
    stdin_is_sealed_beside_the_code,
    a_version_1_log_is_upgraded_in_place,
    key_never_stored_or_logged,
    export_reverified_by_python,
    prune_keeps_chain_verifiable,
    two_processes_append_one_chain,
    sigkill_mid_append_recovers,
);

fn new_exec(tenant: &str, language: &str, code: &str) -> NewExecution {
    NewExecution {
        id: Uuid::new_v4(),
        tenant: tenant.into(),
        language: language.into(),
        code: code.as_bytes().to_vec(),
        stdin: Vec::new(),
        submitted_at: Utc::now(),
    }
}

fn decision(verdict: &str, rules: &[&str]) -> DecisionRecord {
    DecisionRecord {
        verdict: verdict.into(),
        risk_score: if verdict == "deny" { 90 } else { 10 },
        findings: json!(rules
            .iter()
            .map(|r| json!({"rule_id": r, "line": 1, "column": 1}))
            .collect::<Vec<_>>()),
        rule_ids: rules.iter().map(|r| r.to_string()).collect(),
        reasons: vec![format!("{verdict} by test")],
        policy_name: "default".into(),
        policy_hash: "ab".repeat(32),
        enforcement: "enforce".into(),
    }
}

fn finished(reason: &str, exit: Option<i64>) -> FinishRecord {
    FinishRecord {
        exit_code: exit,
        reason: reason.into(),
        spec: json!({"image": "cordon/python:3.11", "memory": 268435456, "cpus": 0.5}),
        usage: json!({"peak_memory": 1234567, "cpu_seconds": 0.0125}),
        durations: json!({"analyze_ms": 1.5, "run_ms": 230}),
        stdout_truncated: false,
        stderr_truncated: reason == "output_limit",
    }
}

/// One complete allowed run: received, analyzed, decided, started, finished.
async fn record_run(log: &AuditLog, tenant: &str, verdict: &str, rules: &[&str]) -> Uuid {
    let e = new_exec(tenant, "python", "print(1)\n");
    let id = e.id;
    log.begin(e).await.expect("begin");
    log.event(
        id,
        EventKind::Analyzed,
        json!({"findings": rules.len(), "duration_ms": 0.8}),
    )
    .await
    .expect("analyzed");
    log.decided(id, decision(verdict, rules))
        .await
        .expect("decided");
    if verdict == "deny" {
        log.finish(
            id,
            FinishRecord {
                reason: "denied".into(),
                ..Default::default()
            },
        )
        .await
        .expect("finish");
    } else {
        log.event(
            id,
            EventKind::Started,
            json!({"image_id": "sha256:abc", "spec": {"pids": 64}}),
        )
        .await
        .expect("start");
        log.finish(id, finished("exited", Some(0)))
            .await
            .expect("finish");
    }
    id
}

async fn verify_ok(log: &AuditLog) -> u64 {
    let r = log
        .verify(VerifyOptions::default())
        .await
        .expect("verify runs");
    assert!(r.ok(), "verify failed: {:?} {:?}", r.broken, r.problems);
    r.checked
}

async fn records_a_full_execution(env: &Env) {
    let log = env.open().await;
    let id = record_run(&log, "team-a", "allow", &["PY-PROC-001"]).await;
    let show = log.show(&id.to_string(), true).await.expect("show");
    assert_eq!(show.code.as_deref(), Some("print(1)\n"));
    assert!(show.mismatches.is_empty(), "{:?}", show.mismatches);
    let kinds: Vec<&str> = show.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["received", "analyzed", "decided", "started", "finished"]
    );
    let ex = &show.execution;
    assert_eq!(ex.verdict.as_deref(), Some("allow"));
    assert_eq!(ex.termination_reason.as_deref(), Some("exited"));
    assert_eq!(ex.exit_code, Some(0));
    assert_eq!(ex.rule_ids, ["PY-PROC-001"]);
    assert_eq!(ex.usage["cpu_seconds"], json!(0.0125));
    assert_eq!(verify_ok(&log).await, 5);

    record_run(&log, "team-b", "deny", &["PY-NET-001", "PY-PROC-001"]).await;
    let q = |f: QueryFilter| {
        let log = log.clone();
        async move { log.query(&f).await.expect("query").len() }
    };
    assert_eq!(q(QueryFilter::default()).await, 2);
    assert_eq!(
        q(QueryFilter {
            verdict: Some("deny".into()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        q(QueryFilter {
            tenant: Some("team-a".into()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        q(QueryFilter {
            rule: Some("PY-PROC-001".into()),
            ..Default::default()
        })
        .await,
        2
    );
    assert_eq!(
        q(QueryFilter {
            rule: Some("PY-NET-001".into()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        q(QueryFilter {
            rule: Some("PY-NET-00".into()),
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        q(QueryFilter {
            reason: Some("denied".into()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        q(QueryFilter {
            language: Some("bash".into()),
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        q(QueryFilter {
            since: Some(Utc::now() + chrono::Duration::hours(1)),
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        q(QueryFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await,
        1
    );

    let stats = log.stats(None, None).await.expect("stats");
    assert_eq!(stats.total, 2);
    assert_eq!(stats.by_verdict.get("deny"), Some(&1));
    assert_eq!(stats.by_rule.get("PY-PROC-001"), Some(&2));
    assert_eq!(stats.by_reason.get("exited"), Some(&1));

    let r = log
        .verify(VerifyOptions {
            rows: true,
            payloads: true,
            ..Default::default()
        })
        .await
        .expect("verify");
    assert!(r.ok(), "{:?} {:?}", r.broken, r.problems);

    // Editing a row column (without touching events) is caught by the row check.
    let raw = env.raw().await;
    raw.exec("UPDATE executions SET verdict = 'allow' WHERE verdict = 'deny'")
        .await
        .expect("edit row");
    let r = log
        .verify(VerifyOptions {
            rows: true,
            ..Default::default()
        })
        .await
        .expect("verify");
    assert!(
        !r.ok() && r.problems.iter().any(|p| p.contains("verdict")),
        "{:?}",
        r.problems
    );
    raw.close().await;
    log.close().await.expect("close");
}

async fn denied_execution_is_complete(env: &Env) {
    let log = env.open().await;
    let id = record_run(&log, "t", "deny", &["SH-NET-002"]).await;
    let show = log.show(&id.to_string(), false).await.expect("show");
    assert!(show.code.is_none());
    let kinds: Vec<&str> = show.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["received", "analyzed", "decided", "finished"]);
    assert_eq!(show.execution.termination_reason.as_deref(), Some("denied"));
    assert!(show.mismatches.is_empty(), "{:?}", show.mismatches);
    // The record is durable once finish returned: a fresh reader sees it.
    let reader = AuditLog::open_reader(&env.cfg()).await.expect("reader");
    assert_eq!(
        reader
            .query(&QueryFilter::default())
            .await
            .expect("query")
            .len(),
        1
    );
    log.close().await.expect("close");
}

async fn append_only_triggers_reject_changes(env: &Env) {
    let log = env.open().await;
    record_run(&log, "t", "allow", &[]).await;
    let raw = env.raw().await;
    for sql in [
        "UPDATE audit_events SET kind = 'x' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 1",
        "UPDATE chain_head SET seq = 0, hash = 'x' WHERE id = 1",
        "DELETE FROM chain_head",
    ] {
        let err = raw.exec(sql).await.expect_err(sql);
        let msg = err.to_string();
        assert!(
            msg.contains("append-only") || msg.contains("chain_head"),
            "{sql}: {msg}"
        );
    }
    if env.kind == Kind::Postgres {
        let err = raw
            .exec("TRUNCATE audit_events")
            .await
            .expect_err("truncate");
        assert!(err.to_string().contains("append-only"));
    }
    verify_ok(&log).await;
    raw.close().await;
    log.close().await.expect("close");
}

async fn concurrent_writers_keep_one_chain(env: &Env) {
    let log = env.open().await;
    // 16 writers x 125 executions x 5 events = 10,000 events.
    let mut tasks = Vec::new();
    for w in 0..16 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..125u32 {
                let verdict = if i.is_multiple_of(5) { "deny" } else { "allow" };
                let e = new_exec(&format!("tenant-{w}"), "python", "x = 1");
                let id = e.id;
                log.begin(e).await.expect("begin");
                log.event(id, EventKind::Analyzed, json!({"i": i}))
                    .await
                    .expect("analyzed");
                log.decided(id, decision(verdict, &[]))
                    .await
                    .expect("decided");
                log.event(id, EventKind::Started, json!({"w": w}))
                    .await
                    .expect("started");
                log.finish(id, finished("exited", Some(0)))
                    .await
                    .expect("finish");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
    log.flush().await.expect("flush");
    assert_eq!(verify_ok(&log).await, 10_000);
    let stats = log.stats(None, None).await.expect("stats");
    assert_eq!(stats.total, 2000);
    log.close().await.expect("close");
}

async fn edits_are_detected_at_their_seq(env: &Env) {
    let log = env.open().await;
    for _ in 0..4 {
        record_run(&log, "t", "allow", &["PY-PROC-001"]).await;
    }
    let total = verify_ok(&log).await as i64;
    assert_eq!(total, 20);
    let raw = env.raw().await;
    for sql in env.drop_triggers() {
        raw.exec(sql).await.expect("drop trigger");
    }
    let target = 7i64;
    let mut fields = vec![
        ("execution_id", "'00000000-0000-0000-0000-000000000000'"),
        ("at", "'2000-01-01T00:00:00.000000Z'"),
        ("kind", "'killed'"),
        ("payload", "'{\"findings\":0}'"),
        (
            "prev_hash",
            "'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff'",
        ),
        (
            "hash",
            "'0000000000000000000000000000000000000000000000000000000000000001'",
        ),
    ];
    if matches!(env.kind, Kind::Sqlite) {
        // SQLite keeps a BLOB in a text column as a BLOB ('killed' as bytes).
        fields.push(("kind", "x'6b696c6c6564'"));
    }
    for (field, value) in fields {
        let original = raw
            .text(&format!(
                "SELECT COALESCE({field}, 'NULL') FROM audit_events WHERE seq = {target}"
            ))
            .await;
        raw.exec(&format!(
            "UPDATE audit_events SET {field} = {value} WHERE seq = {target}"
        ))
        .await
        .expect("tamper");
        let r = log.verify(VerifyOptions::default()).await.expect("verify");
        assert!(!r.ok(), "edit of {field} not detected");
        assert_eq!(
            r.broken_seq(),
            Some(target),
            "edit of {field}: {:?}",
            r.broken
        );
        let restore = if original == "NULL" {
            "NULL".to_string()
        } else {
            format!("'{}'", original.replace('\'', "''"))
        };
        raw.exec(&format!(
            "UPDATE audit_events SET {field} = {restore} WHERE seq = {target}"
        ))
        .await
        .expect("restore");
        verify_ok(&log).await;
    }
    // The seq itself.
    raw.exec(&format!(
        "UPDATE audit_events SET seq = 1000 WHERE seq = {target}"
    ))
    .await
    .expect("tamper seq");
    let r = log.verify(VerifyOptions::default()).await.expect("verify");
    assert_eq!(r.broken_seq(), Some(target), "{:?}", r.broken);
    raw.close().await;
    log.close().await.expect("close");
}

async fn deletion_and_reordering_are_detected(env: &Env) {
    let log = env.open().await;
    for _ in 0..4 {
        record_run(&log, "t", "allow", &[]).await;
    }
    verify_ok(&log).await;
    let raw = env.raw().await;
    for sql in env.drop_triggers() {
        raw.exec(sql).await.expect("drop trigger");
    }
    // Reorder: swap the contents of seq 5 and 6 (via a temporary seq).
    raw.exec("UPDATE audit_events SET seq = -5 WHERE seq = 5")
        .await
        .expect("swap");
    raw.exec("UPDATE audit_events SET seq = 5 WHERE seq = 6")
        .await
        .expect("swap");
    raw.exec("UPDATE audit_events SET seq = 6 WHERE seq = -5")
        .await
        .expect("swap");
    let r = log.verify(VerifyOptions::default()).await.expect("verify");
    assert_eq!(r.broken_seq(), Some(5), "reorder: {:?}", r.broken);
    raw.exec("UPDATE audit_events SET seq = -5 WHERE seq = 5")
        .await
        .expect("swap back");
    raw.exec("UPDATE audit_events SET seq = 5 WHERE seq = 6")
        .await
        .expect("swap back");
    raw.exec("UPDATE audit_events SET seq = 6 WHERE seq = -5")
        .await
        .expect("swap back");
    verify_ok(&log).await;

    // Delete the last row: only the chain head notices.
    raw.exec("DELETE FROM audit_events WHERE seq = 20")
        .await
        .expect("delete last");
    let r = log.verify(VerifyOptions::default()).await.expect("verify");
    assert!(!r.ok(), "tail deletion not detected");
    assert_eq!(r.broken_seq(), Some(20), "{:?}", r.broken);

    // Delete a middle row.
    raw.exec("DELETE FROM audit_events WHERE seq = 9")
        .await
        .expect("delete");
    let r = log.verify(VerifyOptions::default()).await.expect("verify");
    assert_eq!(r.broken_seq(), Some(9), "{:?}", r.broken);

    // Delete the first rows: no checkpoint vouches for the missing prefix.
    raw.exec("DELETE FROM audit_events WHERE seq < 3")
        .await
        .expect("delete prefix");
    let r = log.verify(VerifyOptions::default()).await.expect("verify");
    assert!(!r.ok(), "prefix deletion not detected");
    raw.close().await;
    log.close().await.expect("close");
}

async fn newer_schema_refuses_to_start(env: &Env) {
    let log = env.open().await;
    log.close().await.expect("close");
    // Opening twice is idempotent.
    env.open().await.close().await.expect("close");
    let raw = env.raw().await;
    let (yes, blob) = match env.kind {
        Kind::Sqlite => ("1", "x'00'"),
        Kind::Postgres => ("TRUE", "'\\x00'::bytea"),
    };
    raw.exec(&format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (999, 'from the future', {yes}, {blob}, 0)"
    ))
    .await
    .expect("insert future migration");
    match AuditLog::open(&env.cfg()).await {
        Err(AuditError::SchemaTooNew {
            found: 999,
            known: cordon::audit::migrate::SCHEMA_VERSION,
        }) => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    raw.close().await;
}

async fn interrupted_executions_are_marked(env: &Env) {
    let log = env.open().await;
    let done = record_run(&log, "t", "allow", &[]).await;
    let e = new_exec("t", "bash", "sleep 100");
    let open_id = e.id;
    log.begin(e).await.expect("begin");
    log.event(open_id, EventKind::Started, json!({}))
        .await
        .expect("started");
    log.flush().await.expect("flush");
    // A second live writer must not steal the running execution.
    let other = env.open().await;
    let s = other.show(&open_id.to_string(), false).await.expect("show");
    assert_eq!(s.execution.termination_reason, None);
    other.close().await.expect("close");
    // Simulate the first process dying: its writer row disappears.
    let raw = env.raw().await;
    raw.exec("DELETE FROM audit_writers")
        .await
        .expect("forget writers");
    let next = env.open().await;
    let s = next.show(&open_id.to_string(), false).await.expect("show");
    assert_eq!(
        s.execution.termination_reason.as_deref(),
        Some("interrupted")
    );
    assert_eq!(
        s.events.last().map(|e| e.kind.as_str()),
        Some("interrupted")
    );
    assert!(s.mismatches.is_empty(), "{:?}", s.mismatches);
    let s = next.show(&done.to_string(), false).await.expect("show");
    assert_eq!(s.execution.termination_reason.as_deref(), Some("exited"));
    verify_ok(&next).await;
    raw.close().await;
    next.close().await.expect("close");
}

async fn sealing_round_trip_and_failures(env: &Env) {
    let log = env.open().await;
    let code = "import os\nprint('héllo')\n";
    let e = new_exec("t", "python", code);
    let id = e.id;
    log.begin(e).await.expect("begin");
    log.finish(
        id,
        FinishRecord {
            reason: "denied".into(),
            ..Default::default()
        },
    )
    .await
    .expect("finish");
    assert_eq!(
        log.show(&id.to_string(), true)
            .await
            .expect("show")
            .code
            .as_deref(),
        Some(code)
    );

    // A reader with another key gets a clear error, never garbage.
    let other_key = env.dir.path().join("other.key");
    std::fs::write(&other_key, [7u8; 32]).expect("write key");
    let reader = AuditLog::open_reader(&AuditConfig {
        key_file: Some(other_key),
        ..env.cfg()
    })
    .await
    .expect("reader");
    match reader.show(&id.to_string(), true).await {
        Err(AuditError::WrongKey { .. }) => {}
        other => panic!("expected WrongKey, got {other:?}"),
    }
    // Without any key: metadata and code_sha256 are still there; reveal is refused.
    let nokey = AuditLog::open_reader(&AuditConfig {
        key_file: Some(env.dir.path().join("missing.key")),
        ..env.cfg()
    })
    .await
    .expect("reader");
    let s = nokey
        .show(&id.to_string(), false)
        .await
        .expect("show without key");
    assert_eq!(s.execution.code_sha256.len(), 64);
    assert!(matches!(
        nokey.show(&id.to_string(), true).await,
        Err(AuditError::NoKey)
    ));

    // Flip one bit of the ciphertext.
    let raw = env.raw().await;
    let sealed_len = raw
        .int(&format!(
            "SELECT CAST(length(code_sealed) AS BIGINT) FROM executions WHERE id = '{id}'"
        ))
        .await;
    assert!(sealed_len >= 12 + 16 + code.len() as i64);
    match env.kind {
        Kind::Sqlite => {
            let hex_now = raw
                .text(&format!(
                    "SELECT hex(code_sealed) FROM executions WHERE id = '{id}'"
                ))
                .await;
            let mut bytes = hex::decode(&hex_now).expect("hex");
            bytes[20] ^= 0x01;
            raw.exec(&format!(
                "UPDATE executions SET code_sealed = x'{}' WHERE id = '{id}'",
                hex::encode(&bytes)
            ))
            .await
            .expect("flip");
        }
        Kind::Postgres => {
            raw.exec(&format!(
                "UPDATE executions SET code_sealed = set_byte(code_sealed, 20, get_byte(code_sealed, 20) # 1) WHERE id = '{id}'"
            ))
            .await
            .expect("flip");
        }
    }
    match log.show(&id.to_string(), true).await {
        Err(AuditError::Unseal(msg)) => assert!(msg.contains("altered"), "{msg}"),
        other => panic!("expected Unseal, got {other:?}"),
    }
    raw.close().await;
    log.close().await.expect("close");
}

async fn stdin_is_sealed_beside_the_code(env: &Env) {
    let log = env.open().await;
    let code = "import sys\nprint(sys.stdin.read())\n";
    // Not UTF-8 on purpose: stdin from `cordon run --stdin FILE` is bytes.
    let stdin: Vec<u8> = b"line 1\n\xff\x00binary\n".to_vec();
    let mut e = new_exec("t", "python", code);
    e.stdin = stdin.clone();
    let id = e.id;
    log.begin(e).await.expect("begin");
    log.finish(id, finished("exited", Some(0)))
        .await
        .expect("finish");
    let input = log.reveal_input(&id.to_string()).await.expect("reveal");
    assert_eq!(input.code, code.as_bytes());
    assert_eq!(input.stdin, stdin);
    let s = log.show(&id.to_string(), true).await.expect("show");
    assert_eq!(s.execution.stdin_size, Some(stdin.len() as i64));
    assert_eq!(
        s.execution.stdin_sha256.as_deref(),
        Some(hex::encode(sha2::Sha256::digest(&stdin)).as_str())
    );
    assert_eq!(s.stdin.as_deref(), Some("line 1\n\u{fffd}\u{0}binary\n"));
    assert!(s.mismatches.is_empty(), "{:?}", s.mismatches);
    let received = s
        .events
        .iter()
        .find(|e| e.kind == "received")
        .expect("received");
    assert_eq!(
        received.payload["stdin_sha256"],
        s.execution.stdin_sha256.clone().unwrap().as_str()
    );

    // No stdin: nothing recorded, an empty one revealed.
    let plain = new_exec("t", "python", "print(1)");
    let plain_id = plain.id;
    log.begin(plain).await.expect("begin");
    log.finish(plain_id, finished("exited", Some(0)))
        .await
        .expect("finish");
    let s = log.show(&plain_id.to_string(), true).await.expect("show");
    assert_eq!((s.execution.stdin_size, s.stdin), (None, None));
    assert!(s.mismatches.is_empty(), "{:?}", s.mismatches);
    let input = log
        .reveal_input(&plain_id.to_string())
        .await
        .expect("reveal");
    assert!(input.stdin.is_empty());
    verify_ok(&log).await;

    // Swapping the sealed code into the stdin column is caught by the
    // associated data, not just by the digest.
    let raw = env.raw().await;
    raw.exec(&format!(
        "UPDATE executions SET stdin_sealed = code_sealed WHERE id = '{id}'"
    ))
    .await
    .expect("swap");
    match log.reveal_input(&id.to_string()).await {
        Err(AuditError::Unseal(msg)) => assert!(msg.contains("altered"), "{msg}"),
        other => panic!("expected Unseal, got {other:?}"),
    }
    // An edited digest on the row disagrees with the chained `received` event.
    raw.exec(&format!(
        "UPDATE executions SET stdin_sha256 = '{}' WHERE id = '{id}'",
        "0".repeat(64)
    ))
    .await
    .expect("edit digest");
    let s = log.show(&id.to_string(), false).await.expect("show");
    assert!(
        s.mismatches.iter().any(|m| m.starts_with("stdin_sha256")),
        "{:?}",
        s.mismatches
    );
    raw.close().await;
    log.close().await.expect("close");
}

/// A database at schema version 1 (as every log written before stdin
/// existed) is migrated on open, and then records with and without stdin.
async fn a_version_1_log_is_upgraded_in_place(env: &Env) {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    use sqlx::SqlSafeStr;
    use std::borrow::Cow;
    let (sql, raw) = match env.kind {
        Kind::Sqlite => (
            include_str!("../migrations/sqlite/0001_audit.sql"),
            Raw::Sqlite(
                sqlx::SqlitePool::connect(&format!("{}?mode=rwc", env.url))
                    .await
                    .expect("create sqlite"),
            ),
        ),
        Kind::Postgres => (
            include_str!("../migrations/postgres/0001_audit.sql"),
            env.raw().await,
        ),
    };
    let v1 = Migrator::with_migrations(vec![Migration::new(
        1,
        Cow::Borrowed("audit"),
        MigrationType::Simple,
        sql.into_sql_str(),
        false,
    )]);
    match &raw {
        Raw::Sqlite(p) => v1.run(p).await.expect("v1 schema"),
        Raw::Pg(p) => v1.run(p).await.expect("v1 schema"),
    }
    let old = new_exec("t", "python", "print('old')");
    let old_id = old.id;
    {
        let log = env.open().await;
        log.begin(old).await.expect("begin");
        log.finish(old_id, finished("exited", Some(0)))
            .await
            .expect("finish");
        log.close().await.expect("close");
    }
    assert_eq!(
        raw.int("SELECT CAST(MAX(version) AS BIGINT) FROM _sqlx_migrations")
            .await,
        cordon::audit::migrate::SCHEMA_VERSION
    );
    let log = env.open().await;
    let mut e = new_exec("t", "python", "print(input())");
    e.stdin = b"new\n".to_vec();
    let id = e.id;
    log.begin(e).await.expect("begin");
    log.finish(id, finished("exited", Some(0)))
        .await
        .expect("finish");
    let s = log
        .show(&old_id.to_string(), true)
        .await
        .expect("old record");
    assert_eq!(s.code.as_deref(), Some("print('old')"));
    assert!(s.mismatches.is_empty(), "{:?}", s.mismatches);
    assert_eq!(
        log.reveal_input(&id.to_string()).await.expect("new").stdin,
        b"new\n"
    );
    verify_ok(&log).await;
    raw.close().await;
    log.close().await.expect("close");
}

/// Everything logged through `tracing` in this test process, at every level.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

fn captured_logs() -> &'static Captured {
    static CAPTURE: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c = Captured::default();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(c.clone())
            .try_init();
        c
    })
}

async fn key_never_stored_or_logged(env: &Env) {
    let logs = captured_logs();
    let log = env.open().await;
    let id = record_run(&log, "t", "allow", &[]).await;
    let errors = [
        format!("{:?}", log),
        format!(
            "{}",
            log.show("no-such-id", true).await.expect_err("unknown")
        ),
        format!(
            "{:?}",
            log.show("no-such-id", true).await.expect_err("unknown")
        ),
    ];
    let other_key = env.dir.path().join("other.key");
    std::fs::write(&other_key, [9u8; 32]).expect("write key");
    let reader = AuditLog::open_reader(&AuditConfig {
        key_file: Some(other_key),
        ..env.cfg()
    })
    .await
    .expect("reader");
    let e = reader
        .show(&id.to_string(), true)
        .await
        .expect_err("wrong key");
    log.close().await.expect("close");

    let key = std::fs::read(env.key_file()).expect("key file");
    assert_eq!(key.len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.key_file())
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    let key_hex = hex::encode(&key);
    let key_b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&key)
    };
    let logged = String::from_utf8_lossy(&logs.0.lock().expect("logs")).to_lowercase();
    eprintln!("captured {} bytes of logs", logged.len());
    assert!(
        !logged.contains(&key_hex) && !logged.contains(&key_b64.to_lowercase()),
        "key in the logs"
    );
    for text in errors.iter().chain(std::iter::once(&format!("{e} {e:?}"))) {
        assert!(
            !text.contains(&key_hex) && !text.contains(&key_b64),
            "key leaked in: {text}"
        );
    }
    match env.kind {
        Kind::Sqlite => {
            let mut all = Vec::new();
            for entry in std::fs::read_dir(env.dir.path()).expect("dir") {
                let p = entry.expect("entry").path();
                if p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("audit.db"))
                {
                    all.extend(std::fs::read(&p).expect("read db file"));
                }
            }
            assert!(!all.is_empty());
            assert!(
                !all.windows(32).any(|w| w == key.as_slice()),
                "raw key bytes in the database file"
            );
            let lossy = String::from_utf8_lossy(&all).to_lowercase();
            assert!(
                !lossy.contains(&key_hex) && !lossy.contains(&key_b64.to_lowercase()),
                "key text in the database file"
            );
        }
        Kind::Postgres => {
            let raw = env.raw().await;
            for table in [
                "executions",
                "audit_events",
                "chain_head",
                "audit_writers",
                "_sqlx_migrations",
            ] {
                let dump = raw
                    .text(&format!(
                        "SELECT COALESCE(string_agg(t::text, E'\\n'), '') FROM {table} t"
                    ))
                    .await
                    .to_lowercase();
                assert!(!dump.contains(&key_hex), "key in table {table}");
                assert!(
                    !dump.contains(&key_b64.to_lowercase()),
                    "key (base64) in table {table}"
                );
            }
            raw.close().await;
        }
    }
}

async fn export_reverified_by_python(env: &Env) {
    let log = env.open().await;
    for i in 0..5u32 {
        let id = record_run(
            &log,
            "t",
            if i.is_multiple_of(2) { "allow" } else { "deny" },
            &["PY-PROC-001"],
        )
        .await;
        // Awkward payload values: unicode, control characters, floats of every shape, nesting.
        log.event(
            id,
            EventKind::Error,
            json!({
                "stage": "run", "message": "naïve \"quote\" \\ back\nslash\t\u{1}\u{7f} 😀 \u{2028}",
                "floats": [0.1, 1e16, 1e15, 1e-5, 0.0001, -0.0, 2.5e-7, 123456.789, 1.0, 1e300],
                "ints": [0, -1, 9007199254740993i64, u64::MAX],
                "nested": {"z": [], "a": {}, "é": null, "B": true},
            }),
        )
        .await
        .expect("error event");
    }
    log.flush().await.expect("flush");
    let path = env.dir.path().join("export.jsonl");
    let mut f = std::fs::File::create(&path).expect("create export");
    let n = log
        .export(ExportFormat::Jsonl, None, &mut f)
        .await
        .expect("export");
    drop(f);
    assert_eq!(n as u64, verify_ok(&log).await);
    let mut csv = Vec::new();
    let m = log
        .export(ExportFormat::Csv, None, &mut csv)
        .await
        .expect("csv export");
    assert_eq!(m, n);
    assert!(String::from_utf8_lossy(&csv)
        .starts_with("seq,execution_id,at,kind,payload,prev_hash,hash\n"));

    // The documented canonical form (src/audit/chain.rs), reimplemented with the
    // Python standard library only.
    let script = r#"
import hashlib, json, sys
prev = "0" * 64
count = 0
for line in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(line)
    body = {k: e[k] for k in ("at", "execution_id", "kind", "payload", "seq")}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if e["prev_hash"] != prev:
        sys.exit("seq %d: prev_hash mismatch" % e["seq"])
    prev = hashlib.sha256(bytes.fromhex(prev) + canon.encode("utf-8")).hexdigest()
    if e["hash"] != prev:
        sys.exit("seq %d: hash mismatch\n%s" % (e["seq"], canon))
    count += 1
print(count)
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python verification failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), n.to_string());

    // --since exports a suffix; each line still carries its prev_hash.
    let mut tail = Vec::new();
    let far = Utc::now() + chrono::Duration::hours(1);
    assert_eq!(
        log.export(ExportFormat::Jsonl, Some(far), &mut tail)
            .await
            .expect("export"),
        0
    );
    log.close().await.expect("close");
}

async fn prune_keeps_chain_verifiable(env: &Env) {
    let log = env.open().await;
    for _ in 0..3 {
        record_run(&log, "old", "allow", &[]).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cut = Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let kept = record_run(&log, "new", "allow", &[]).await;
    let report = log.prune(cut).await.expect("prune");
    assert_eq!(report.removed, 15);
    assert_eq!(report.below_seq, 16);
    let r = log.verify(VerifyOptions::default()).await.expect("verify");
    assert!(r.ok(), "{:?} {:?}", r.broken, r.problems);
    assert!(r.anchor.contains("checkpoint"), "{}", r.anchor);
    assert_eq!(r.checked, 6);
    assert_eq!(
        log.query(&QueryFilter::default())
            .await
            .expect("query")
            .len(),
        1
    );
    assert!(log
        .show(&kept.to_string(), false)
        .await
        .expect("show")
        .mismatches
        .is_empty());
    // Appending after a prune continues the chain.
    record_run(&log, "new", "deny", &[]).await;
    verify_ok(&log).await;
    // A reader without the key cannot check the signature, but says so.
    let nokey = AuditLog::open_reader(&AuditConfig {
        key_file: Some(env.dir.path().join("none.key")),
        ..env.cfg()
    })
    .await
    .expect("reader");
    let r = nokey
        .verify(VerifyOptions::default())
        .await
        .expect("verify");
    assert!(
        r.ok() && r.notes.iter().any(|n| n.contains("not checked")),
        "{:?}",
        r.notes
    );
    // Removing one more row from the front is not covered by the checkpoint.
    let raw = env.raw().await;
    for sql in env.drop_triggers() {
        raw.exec(sql).await.expect("drop trigger");
    }
    raw.exec("DELETE FROM audit_events WHERE seq = 16")
        .await
        .expect("delete");
    let r = log.verify(VerifyOptions::default()).await.expect("verify");
    assert!(!r.ok(), "extra prefix deletion not detected");
    raw.close().await;
    log.close().await.expect("close");
}

// ---- multi-process cases -------------------------------------------------

/// Runs this test binary again as a child appender (see `child_appender`).
fn spawn_child(env: &Env, mode: &str, count: usize) -> std::process::Child {
    let exe = std::env::current_exe().expect("current exe");
    Command::new(exe)
        .args([
            "--exact",
            "child_appender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CORDON_AUDIT_CHILD_URL", &env.url)
        .env("CORDON_AUDIT_CHILD_KEY", env.key_file())
        .env("CORDON_AUDIT_CHILD_MODE", mode)
        .env("CORDON_AUDIT_CHILD_COUNT", count.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn child")
}

/// Not a test on its own: does nothing unless started by `spawn_child`.
#[test]
fn child_appender() {
    let Ok(url) = std::env::var("CORDON_AUDIT_CHILD_URL") else {
        return;
    };
    let key = std::env::var("CORDON_AUDIT_CHILD_KEY").expect("key");
    let mode = std::env::var("CORDON_AUDIT_CHILD_MODE").unwrap_or_default();
    let count: usize = std::env::var("CORDON_AUDIT_CHILD_COUNT")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let cfg = AuditConfig {
            url: Some(url),
            key_file: Some(key.into()),
            ..Default::default()
        };
        let log = AuditLog::open(&cfg).await.expect("child open");
        eprintln!("child ready");
        let mut i = 0usize;
        loop {
            if mode == "forever" {
                // Leave executions half-done so the parent's SIGKILL interrupts them.
                let e = new_exec("child", "python", "while True: pass");
                let id = e.id;
                log.begin(e).await.expect("begin");
                log.event(id, EventKind::Started, json!({"i": i}))
                    .await
                    .expect("started");
                if i.is_multiple_of(2) {
                    log.finish(id, finished("exited", Some(0)))
                        .await
                        .expect("finish");
                } else {
                    log.flush().await.expect("flush");
                }
                if i == 20 {
                    println!("appending");
                }
            } else {
                record_run(&log, "child", "allow", &[]).await;
                if i + 1 == count {
                    break;
                }
            }
            i += 1;
        }
        log.close().await.expect("close");
    });
}

async fn two_processes_append_one_chain(env: &Env) {
    // Create the schema first so both children only append.
    env.open().await.close().await.expect("close");
    let a = spawn_child(env, "count", 150);
    let b = spawn_child(env, "count", 150);
    for c in [a, b] {
        let out = c.wait_with_output().expect("child");
        assert!(
            out.status.success(),
            "child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = AuditLog::open_reader(&env.cfg()).await.expect("reader");
    assert_eq!(verify_ok(&log).await, 2 * 150 * 5);
    let r = log
        .verify(VerifyOptions {
            rows: true,
            ..Default::default()
        })
        .await
        .expect("verify");
    assert!(r.ok(), "{:?}", r.problems);
    // The two writers interleaved (their events are not in two blocks).
    let mut page = Vec::new();
    log.export(ExportFormat::Jsonl, None, &mut page)
        .await
        .expect("export");
    assert!(String::from_utf8_lossy(&page).lines().count() == 1500);
}

async fn sigkill_mid_append_recovers(env: &Env) {
    env.open().await.close().await.expect("close");
    let mut child = spawn_child(env, "forever", 0);
    // Wait until it is appending, then kill it hard.
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = std::io::BufReader::new(stdout);
    let mut line = String::new();
    use std::io::BufRead;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !line.contains("appending") {
        line.clear();
        if reader.read_line(&mut line).expect("read child") == 0
            || std::time::Instant::now() > deadline
        {
            let _ = child.kill();
            let out = child.wait_with_output().expect("child");
            panic!(
                "child stopped early: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let pid = child.id();
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let _ = child.wait();

    let reader = AuditLog::open_reader(&env.cfg()).await.expect("reopen");
    let before = reader
        .verify(VerifyOptions::default())
        .await
        .expect("verify");
    assert!(before.ok(), "{:?}", before.broken);
    let unfinished_before = reader
        .query(&QueryFilter {
            limit: Some(100_000),
            ..Default::default()
        })
        .await
        .expect("query")
        .iter()
        .filter(|e| e.termination_reason.is_none())
        .count();
    assert!(
        unfinished_before > 0,
        "expected the child to leave unfinished executions"
    );

    // The next writer to start marks them interrupted (the child's pid is gone).
    let log = env.open().await;
    let all = log
        .query(&QueryFilter {
            limit: Some(100_000),
            ..Default::default()
        })
        .await
        .expect("query");
    assert!(
        all.iter().all(|e| e.termination_reason.is_some()),
        "unfinished executions remain"
    );
    let interrupted = all
        .iter()
        .filter(|e| e.termination_reason.as_deref() == Some("interrupted"))
        .count();
    assert_eq!(interrupted, unfinished_before);
    let r = log
        .verify(VerifyOptions {
            rows: true,
            ..Default::default()
        })
        .await
        .expect("verify");
    assert!(r.ok(), "{:?} {:?}", r.broken, r.problems);
    log.close().await.expect("close");
}
