//! Audit log benchmark: append throughput, per-execution overhead and verify
//! time, on SQLite and (when `CORDON_TEST_POSTGRES_URL` is set) Postgres.
//!
//! `cargo bench --bench audit` (env: `CORDON_BENCH_VERIFY_EVENTS`, default
//! 1,000,000; `CORDON_BENCH_QUICK=1` for a short run). Prints one line per
//! measurement; targets: audit adds <= 1 ms p50 to an execution on SQLite,
//! verify of 1 M events <= 5 s.

use std::time::{Duration, Instant};

use chrono::Utc;
use cordon::audit::{
    AuditConfig, AuditLog, DecisionRecord, EventKind, FinishRecord, NewExecution, VerifyOptions,
};
use serde_json::json;
use sqlx::Connection;
use uuid::Uuid;

fn exec() -> NewExecution {
    NewExecution {
        id: Uuid::new_v4(),
        tenant: "bench".into(),
        language: "python".into(),
        code: b"import json\nprint(json.dumps({'a': 1}))\n".repeat(10),
        stdin: Vec::new(),
        submitted_at: Utc::now(),
    }
}

fn decision() -> DecisionRecord {
    DecisionRecord {
        verdict: "allow".into(),
        risk_score: 12,
        findings: json!([{"rule_id": "PY-NET-001", "line": 3, "column": 1, "severity": "low"}]),
        rule_ids: vec!["PY-NET-001".into()],
        reasons: vec!["imports a network module".into()],
        policy_name: "default".into(),
        policy_hash: "ab".repeat(32),
        enforcement: "enforce".into(),
    }
}

fn finish() -> FinishRecord {
    FinishRecord {
        exit_code: Some(0),
        reason: "exited".into(),
        spec: json!({"image": "cordon/python:3.11", "memory": 268435456, "pids": 64, "cpus": 0.5}),
        usage: json!({"peak_memory": 12345678, "cpu_seconds": 0.02}),
        durations: json!({"analyze_ms": 0.4, "run_ms": 230.5}),
        stdout_truncated: false,
        stderr_truncated: false,
    }
}

/// Time one execution's audit costs, split as the pipeline sees it.
struct Cost {
    /// On the request path: queueing the first four events, then the durable
    /// `finished` commit the result waits for.
    path: Duration,
    /// The durable commit of everything up to `started`. The pipeline drives
    /// it while the engine creates the container (tens of milliseconds and
    /// more) and starts nothing before it is done, so it is off the path.
    start_commit: Duration,
}

/// One execution as the pipeline records it: 5 events, a durable commit
/// before the start and one at the finish.
async fn one_execution(log: &AuditLog) -> Cost {
    let t = Instant::now();
    let e = exec();
    let id = e.id;
    log.begin(e).await.expect("begin");
    log.event(
        id,
        EventKind::Analyzed,
        json!({"findings": 1, "duration_ms": 0.4}),
    )
    .await
    .expect("analyzed");
    log.decided(id, decision()).await.expect("decided");
    log.event(
        id,
        EventKind::Started,
        json!({"image_id": "sha256:0123", "spec": {"pids": 64}}),
    )
    .await
    .expect("started");
    let queued = t.elapsed();
    let t = Instant::now();
    log.flush().await.expect("start commit");
    let start_commit = t.elapsed();
    let t = Instant::now();
    log.finish(id, finish()).await.expect("finish");
    Cost {
        path: queued + t.elapsed(),
        start_commit,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn bench_backend(name: &str, cfg: AuditConfig, quick: bool) {
    let log = AuditLog::open(&cfg).await.expect("open");

    // Per-execution overhead, one execution at a time (the latency a request sees).
    let n = if quick { 200 } else { 1000 };
    for _ in 0..20 {
        one_execution(&log).await;
    }
    let mut lat = Vec::with_capacity(n);
    let mut start = Vec::with_capacity(n);
    let mut both = Vec::with_capacity(n);
    for _ in 0..n {
        let c = one_execution(&log).await;
        lat.push(c.path);
        start.push(c.start_commit);
        both.push(c.path + c.start_commit);
    }
    lat.sort();
    start.sort();
    both.sort();
    println!(
        "{name}: per-execution audit overhead on the request path (4 events queued, durable finish), sequential: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms",
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.9)),
        ms(pct(&lat, 0.99))
    );
    println!(
        "{name}:   durable start commit, overlapped with container creation: p50 {:.3} ms, p99 {:.3} ms; both commits back to back: p50 {:.3} ms",
        ms(pct(&start, 0.5)),
        ms(pct(&start, 0.99)),
        ms(pct(&both, 0.5))
    );

    // Same, with 16 executions in flight (batching shares the commits).
    let per_task = if quick { 50 } else { 200 };
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut l = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let c = one_execution(&log).await;
                l.push(c.path + c.start_commit);
            }
            l
        }));
    }
    let mut lat = Vec::new();
    for task in tasks {
        lat.extend(task.await.expect("task"));
    }
    let secs = t.elapsed().as_secs_f64();
    lat.sort();
    println!(
        "{name}: 16 concurrent executions: {:.0} executions/s ({:.0} events/s), per-execution (both commits) p50 {:.3} ms, p99 {:.3} ms",
        (16 * per_task) as f64 / secs,
        (16 * per_task * 5) as f64 / secs,
        pct(&lat, 0.5).as_secs_f64() * 1e3,
        pct(&lat, 0.99).as_secs_f64() * 1e3
    );

    // Raw append throughput: events queued as fast as possible, one flush.
    let events = if quick { 20_000 } else { 100_000 };
    let e = exec();
    let id = e.id;
    log.begin(e).await.expect("begin");
    let t = Instant::now();
    for i in 0..events {
        log.event(
            id,
            EventKind::LimitHit,
            json!({"i": i, "what": "memory", "value": 1234567}),
        )
        .await
        .expect("event");
    }
    log.flush().await.expect("flush");
    println!(
        "{name}: append throughput: {:.0} events/s ({events} events)",
        events as f64 / t.elapsed().as_secs_f64()
    );
    log.close().await.expect("close");
}

async fn bench_verify(name: &str, cfg: AuditConfig, target: u64) {
    let log = AuditLog::open(&cfg).await.expect("open");
    let t = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let log = log.clone();
            tokio::spawn(async move {
                let e = exec();
                let id = e.id;
                log.begin(e).await.expect("begin");
                for i in 0..(target / 8) {
                    log.event(
                        id,
                        EventKind::LimitHit,
                        json!({"i": i, "what": "cpu", "value": 0.25}),
                    )
                    .await
                    .expect("event");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("fill");
    }
    log.flush().await.expect("flush");
    let fill = t.elapsed();
    let t = Instant::now();
    let report = log.verify(VerifyOptions::default()).await.expect("verify");
    let took = t.elapsed();
    assert!(report.ok(), "{:?}", report.broken);
    println!(
        "{name}: verify {} events in {:.2} s ({:.0} events/s); filling them took {:.1} s",
        report.checked,
        took.as_secs_f64(),
        report.checked as f64 / took.as_secs_f64(),
        fill.as_secs_f64()
    );
    log.close().await.expect("close");
}

async fn pg_schema(base: &str, name: &str) -> String {
    let mut c = sqlx::PgConnection::connect(base)
        .await
        .expect("connect postgres");
    let schema = format!("bench_{name}_{}", &Uuid::new_v4().simple().to_string()[..8]);
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut c)
        .await
        .expect("schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options[search_path]={schema}")
}

fn main() {
    let quick = std::env::var("CORDON_BENCH_QUICK").is_ok_and(|v| v == "1");
    let verify_events: u64 = std::env::var("CORDON_BENCH_VERIFY_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 100_000 } else { 1_000_000 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = |db: &str| AuditConfig {
            url: Some(format!("sqlite://{}", dir.path().join(db).display())),
            key_file: Some(dir.path().join("bench.key")),
            ..Default::default()
        };
        bench_backend("sqlite", cfg("a.db"), quick).await;
        bench_verify("sqlite", cfg("v.db"), verify_events).await;
        match std::env::var("CORDON_TEST_POSTGRES_URL") {
            Ok(base) if !base.is_empty() => {
                let key = Some(dir.path().join("bench.key"));
                let url = pg_schema(&base, "a").await;
                bench_backend(
                    "postgres",
                    AuditConfig {
                        url: Some(url),
                        key_file: key.clone(),
                        ..Default::default()
                    },
                    quick,
                )
                .await;
                let url = pg_schema(&base, "v").await;
                let n = if quick {
                    verify_events
                } else {
                    verify_events.min(1_000_000)
                };
                bench_verify(
                    "postgres",
                    AuditConfig {
                        url: Some(url),
                        key_file: key,
                        ..Default::default()
                    },
                    n,
                )
                .await;
            }
            _ => println!(
                "postgres: skipped: set CORDON_TEST_POSTGRES_URL (scripts/postgres.sh prints one)"
            ),
        }
    });
}
