//! `cordon audit ...` subcommands. Until `src/cli/mod.rs` wires the module in,
//! the CLI file is compiled into this test directly (its `crate::audit` paths
//! resolve through the `use cordon::audit` below) and driven in-process.

use cordon::audit;
use cordon::sandbox;

#[path = "../src/cli/audit.rs"]
#[allow(dead_code)]
mod cli_audit;

// `audit prune` opens the log for writing and removes what a dead cordon left.
#[path = "../src/cli/leftovers.rs"]
mod leftovers;

use clap::Parser;
use cli_audit::{AuditArgs, AuditCommand};
use serde_json::json;

#[derive(Debug, Parser)]
struct Cmd {
    #[command(flatten)]
    args: AuditArgs,
    #[command(subcommand)]
    cmd: AuditCommand,
}

fn parse(args: &[&str]) -> Cmd {
    Cmd::try_parse_from(std::iter::once("audit").chain(args.iter().copied())).expect("parse")
}

async fn seeded() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let key = dir.path().join("a.key").display().to_string();
    let log = audit::AuditLog::open(&audit::AuditConfig {
        url: Some(url.clone()),
        key_file: Some(key.clone().into()),
        ..Default::default()
    })
    .await
    .expect("open");
    for verdict in ["allow", "deny"] {
        let id = uuid::Uuid::new_v4();
        log.begin(audit::NewExecution {
            id,
            tenant: "t".into(),
            language: "python".into(),
            code: b"print(1)".to_vec(),
            stdin: Vec::new(),
            submitted_at: chrono::Utc::now(),
        })
        .await
        .expect("begin");
        log.decided(
            id,
            audit::DecisionRecord {
                verdict: verdict.into(),
                rule_ids: vec!["PY-PROC-001".into()],
                findings: json!([]),
                ..Default::default()
            },
        )
        .await
        .expect("decided");
        log.finish(
            id,
            audit::FinishRecord {
                reason: "exited".into(),
                exit_code: Some(0),
                ..Default::default()
            },
        )
        .await
        .expect("finish");
    }
    log.close().await.expect("close");
    (dir, url, key)
}

#[tokio::test]
async fn every_subcommand_runs() {
    let (_dir, url, key) = seeded().await;
    let base = [
        "--audit-url",
        url.as_str(),
        "--audit-key-file",
        key.as_str(),
    ];
    let run = |extra: &[&str]| {
        let mut v: Vec<&str> = base.to_vec();
        v.extend_from_slice(extra);
        let c = parse(&v);
        async move { cli_audit::run(c.cmd, &c.args).await.expect("run") }
    };
    assert_eq!(run(&["query"]).await, 0);
    assert_eq!(
        run(&[
            "query",
            "--verdict",
            "deny",
            "--rule",
            "PY-PROC-001",
            "--format",
            "json"
        ])
        .await,
        0
    );
    assert_eq!(
        run(&["query", "--since", "1h", "--until", "2999-01-01"]).await,
        0
    );
    assert_eq!(run(&["verify"]).await, 0);
    assert_eq!(
        run(&["verify", "--rows", "--payloads", "--format", "json"]).await,
        0
    );
    assert_eq!(run(&["verify", "--from", "3"]).await, 0);
    assert_eq!(run(&["stats"]).await, 0);
    assert_eq!(
        run(&["stats", "--format", "json", "--since", "7d"]).await,
        0
    );
    let out = _dir.path().join("x.csv");
    assert_eq!(
        run(&[
            "export",
            "--format",
            "csv",
            "-o",
            out.to_str().expect("utf8")
        ])
        .await,
        0
    );
    assert_eq!(
        std::fs::read_to_string(&out).expect("csv").lines().count(),
        1 + 6
    );
    assert_eq!(run(&["prune", "--before", "2000-01-01"]).await, 0);
    assert_eq!(run(&["verify"]).await, 0);

    // Tampering makes verify exit 1.
    let pool = sqlx::SqlitePool::connect(&url).await.expect("raw");
    sqlx::query("DROP TRIGGER audit_events_no_update")
        .execute(&pool)
        .await
        .expect("drop");
    sqlx::query("UPDATE audit_events SET kind = 'killed' WHERE seq = 2")
        .execute(&pool)
        .await
        .expect("edit");
    assert_eq!(run(&["verify"]).await, 1);
    pool.close().await;
}

#[tokio::test]
async fn show_reveals_code_only_with_key() {
    let (_dir, url, key) = seeded().await;
    let reader = audit::AuditLog::open_reader(&audit::AuditConfig::with_url(url.clone()))
        .await
        .expect("reader");
    let id = reader.query(&Default::default()).await.expect("query")[0]
        .id
        .clone();
    let c = parse(&[
        "--audit-url",
        &url,
        "--audit-key-file",
        &key,
        "show",
        &id,
        "--reveal-code",
    ]);
    assert_eq!(cli_audit::run(c.cmd, &c.args).await.expect("show"), 0);
    let missing = _dir.path().join("nope.key").display().to_string();
    let c = parse(&[
        "--audit-url",
        &url,
        "--audit-key-file",
        &missing,
        "show",
        &id,
        "--reveal-code",
    ]);
    let err = cli_audit::run(c.cmd, &c.args).await.expect_err("no key");
    assert!(err.to_string().contains("no audit key"), "{err}");
}

#[test]
fn bad_times_are_rejected_with_a_hint() {
    let err =
        Cmd::try_parse_from(["audit", "query", "--since", "last tuesday"]).expect_err("bad time");
    assert!(err.to_string().contains("RFC 3339"), "{err}");
}

/// End to end through the binary, once `cordon audit` is wired into src/cli/mod.rs.
#[test]
fn binary_audit_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("b.db").display());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(["audit", "--audit-url", &url, "verify"])
        .env("CORDON_AUDIT_KEY_FILE", dir.path().join("k"))
        .output()
        .expect("run cordon");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok: 0 events"));
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(["audit", "--help"])
        .output()
        .expect("run cordon");
    let text = String::from_utf8_lossy(&help.stdout);
    for sub in ["query", "show", "verify", "export", "stats", "prune"] {
        assert!(text.contains(sub), "{sub} missing from help");
    }
}
