//! The `cordon` binary as a user meets it: exit codes, one-line reasons,
//! JSON results, fail-closed errors, policy errors with positions.

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn cordon(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cordon"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn cordon");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    child.wait_with_output().expect("wait cordon")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn engine(name: &str) -> bool {
    support::docker(name).await.is_some()
}

#[tokio::test(flavor = "multi_thread")]
async fn run_streams_output_and_propagates_exit_code() {
    if !engine("run_streams_output_and_propagates_exit_code").await {
        return;
    }
    let o = cordon(
        &["run", "--no-audit", "-l", "python", "-"],
        "print('out')\nimport sys\nprint('err', file=sys.stderr)\nsys.exit(7)\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(7), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "out\n");
    assert!(text(&o.stderr).contains("err\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn run_gives_the_program_a_stdin_file_and_audits_it() {
    // Refused before anything else: both cannot come from cordon's stdin.
    let o = cordon(
        &["run", "--no-audit", "--stdin", "-", "-l", "python", "-"],
        "",
        &[],
    );
    assert_eq!(o.status.code(), Some(120), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("give the code as a file"),
        "{}",
        text(&o.stderr)
    );
    if !engine("run_gives_the_program_a_stdin_file_and_audits_it").await {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let prog = dir.path().join("count.py");
    std::fs::write(
        &prog,
        "import sys\nlines = sys.stdin.read().splitlines()\nprint(len(lines), lines[-1])\n",
    )
    .unwrap();
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let key = dir.path().join("audit.key");
    let key = key.to_str().unwrap();
    let o = cordon(
        &[
            "run",
            "--json",
            "--audit-url",
            &url,
            "--audit-key-file",
            key,
            "--stdin",
            "-",
            prog.to_str().unwrap(),
        ],
        "alpha\nbeta\ngamma\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json result");
    assert_eq!(v["stdout"], "3 gamma\n", "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let o = cordon(
        &[
            "audit",
            "--audit-url",
            &url,
            "--audit-key-file",
            key,
            "show",
            &id,
            "--reveal-code",
        ],
        "",
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let shown = text(&o.stdout);
    assert!(shown.contains("stdin       17 bytes, sha256 "), "{shown}");
    assert!(shown.contains("stdin\nalpha\nbeta\ngamma\n"), "{shown}");
}

#[test]
fn run_refuses_a_stdin_over_its_limit_before_anything_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prog = dir.path().join("p.py");
    std::fs::write(&prog, "print(1)\n").unwrap();
    let big = dir.path().join("big.txt");
    std::fs::write(&big, vec![b'x'; (16 << 20) + 1]).unwrap();
    let o = cordon(
        &[
            "run",
            "--no-audit",
            "--stdin",
            big.to_str().unwrap(),
            prog.to_str().unwrap(),
        ],
        "",
        &[],
    );
    assert_eq!(o.status.code(), Some(120), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("is over the 16Mi"),
        "{}",
        text(&o.stderr)
    );
    assert!(text(&o.stdout).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn run_reports_a_kill_with_a_distinct_exit_code_and_one_line() {
    if !engine("run_reports_a_kill_with_a_distinct_exit_code_and_one_line").await {
        return;
    }
    let o = cordon(
        &["run", "--no-audit", "-l", "bash", "--timeout", "1s", "-"],
        "sleep 30",
        &[],
    );
    assert_eq!(o.status.code(), Some(124));
    assert!(
        text(&o.stderr).contains("cordon: killed: timeout after 1s"),
        "{}",
        text(&o.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_json_has_the_documented_fields() {
    if !engine("run_json_has_the_documented_fields").await {
        return;
    }
    let o = cordon(
        &[
            "run",
            "--no-audit",
            "--json",
            "-l",
            "javascript",
            "--memory",
            "128Mi",
            "-",
        ],
        "console.log(6*7)",
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json result");
    assert_eq!(v["stdout"], "42\n");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["termination_reason"], "exited");
    assert_eq!(v["stdout_truncated"], false);
    assert_eq!(v["limits"]["memory"], "128Mi");
    assert!(v["durations"]["total_ms"].is_u64());
    assert!(v["usage"]["peak_memory_bytes"].as_u64().unwrap_or(0) > 0);
    assert_eq!(v["sandbox"]["read_only_rootfs"], true);
}

#[test]
fn limits_can_only_be_tightened() {
    let o = cordon(
        &["run", "--no-audit", "-l", "python", "--memory", "4Gi", "-"],
        "print(1)",
        &[],
    );
    assert_eq!(o.status.code(), Some(121));
    assert!(
        text(&o.stderr).contains("memory 4Gi > policy 256Mi"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn engine_unreachable_fails_closed_with_the_cause() {
    let o = cordon(
        &["run", "--no-audit", "-l", "python", "-"],
        "print(1)",
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(o.status.code(), Some(123));
    let err = text(&o.stderr);
    assert!(
        err.contains("cannot reach the Docker engine") && err.contains("/nonexistent/docker.sock"),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "nothing may run: {}", text(&o.stdout));
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_image_names_the_fix() {
    if !engine("missing_image_names_the_fix").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.yaml");
    std::fs::write(
        &p,
        support::PERMISSIVE.replace("cordon/bash:5", "cordon/bash:missing"),
    )
    .unwrap();
    let o = cordon(
        &[
            "run",
            "--no-audit",
            "-l",
            "bash",
            "--policy",
            p.to_str().unwrap(),
            "-",
        ],
        "echo hi",
        &[],
    );
    assert_eq!(o.status.code(), Some(123));
    assert!(
        text(&o.stderr).contains("image cordon/bash:missing not found: run `cordon images build`"),
        "{}",
        text(&o.stderr)
    );
    assert!(o.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn denied_code_never_creates_a_container() {
    let Some(d) = support::docker("denied_code_never_creates_a_container").await else {
        return;
    };
    let before = d.labelled_containers().await.unwrap().len();
    let o = cordon(
        &["run", "--no-audit", "--json", "-l", "python", "-"],
        "def broken(:\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(121));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "deny");
    assert_eq!(v["termination_reason"], "denied");
    assert!(v["sandbox"].is_null());
    assert_eq!(d.labelled_containers().await.unwrap().len(), before);
}

#[test]
fn unknown_language_is_a_usage_error() {
    let o = cordon(&["run", "-l", "ruby", "-"], "puts 1", &[]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        text(&o.stderr).contains("unknown language"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn analyze_exit_codes_follow_the_verdict() {
    let ok = cordon(
        &["analyze", "-l", "python", "-"],
        "print(sum([1, 2]))\n",
        &[],
    );
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stdout));
    let bad = cordon(&["analyze", "-l", "python", "-"], "def f(:\n", &[]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stdout));
    assert!(text(&bad.stdout).contains("unparseable"));
    let missing = cordon(&["analyze", "/nonexistent.py"], "", &[]);
    assert_eq!(missing.status.code(), Some(3));
}

#[test]
fn analyze_json_has_a_stable_shape() {
    let o = cordon(
        &["analyze", "--format", "json", "-l", "bash", "-"],
        "echo hi\n",
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    for key in ["verdict", "risk_score", "findings", "policy", "language"] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(v["policy"]["name"], "default");
    assert!(v["policy"]["hash"]
        .as_str()
        .unwrap_or("")
        .starts_with("sha256:"));
}

#[test]
fn policy_errors_carry_file_line_column_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("network: bridge\n", "network"),
        (
            "thresholds: { review: 80, deny: 20 }\n",
            "thresholds out of order",
        ),
        ("bogus_key: 1\n", "bogus_key"),
    ];
    for (i, (extra, needle)) in cases.iter().enumerate() {
        let body = support::PERMISSIVE.replace("thresholds: { review: 100, deny: 100 }\n", "");
        let text_in = if extra.starts_with("thresholds") {
            format!("{body}{extra}")
        } else {
            format!("{body}thresholds: {{ review: 30, deny: 70 }}\n{extra}")
        };
        let p = dir.path().join(format!("p{i}.yaml"));
        std::fs::write(&p, &text_in).unwrap();
        let o = cordon(&["policy", "check", p.to_str().unwrap()], "", &[]);
        assert_eq!(o.status.code(), Some(1));
        let err = text(&o.stderr);
        let expected_line = text_in
            .lines()
            .position(|l| l.starts_with(extra.split(':').next().unwrap()))
            .unwrap()
            + 1;
        assert!(
            err.starts_with(&format!("{}:{expected_line}:", p.display())),
            "{err}"
        );
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn policy_check_summarises_the_shipped_policies() {
    let o = cordon(
        &[
            "policy",
            "check",
            "policies/default.yaml",
            "policies/strict.yaml",
        ],
        "",
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("policy default") && out.contains("policy strict"));
    assert!(out.contains("cordon/python:3.11"));
}

#[tokio::test(flavor = "multi_thread")]
async fn images_build_is_idempotent() {
    if !engine("images_build_is_idempotent").await {
        return;
    }
    // CI builds the images before the tests; a second build must skip them all.
    let o = cordon(&["images", "build"], "", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    for image in ["cordon/python:3.11", "cordon/node:18", "cordon/bash:5"] {
        assert!(out.contains(&format!("{image} up to date")), "{out}");
    }
    let list = cordon(&["images", "list"], "", &[]);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list.stdout));
}
