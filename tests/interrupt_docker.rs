//! A sandbox must never outlive its limits: the real `cordon` binary is
//! interrupted (SIGINT, twice; SIGTERM) or killed (SIGKILL) while its
//! program spins on the CPU, and the test checks what is left: no
//! container, and the execution recorded as `interrupted` in the audit log
//! (for SIGKILL once the next cordon command opens the log, which also
//! removes the container the in-sandbox deadline has stopped by then).

#[macro_use]
mod support;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use cordon::audit::{AuditConfig, AuditLog, QueryFilter, VerifyOptions};
use cordon::sandbox::docker::DockerBackend;
use cordon::sandbox::spec::DEADLINE_GRACE;
use support::*;

const SPIN: &str = "while True: pass\n";
/// The wall limit the interrupted runs ask for.
const WALL: Duration = Duration::from_secs(6);

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("permissive.yaml"), PERMISSIVE).expect("policy");
        std::fs::write(dir.path().join("spin.py"), SPIN).expect("code");
        std::fs::write(dir.path().join("hello.py"), "print('hello')\n").expect("code");
        Setup { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn audit(&self) -> AuditConfig {
        AuditConfig {
            url: Some(format!("sqlite://{}", self.path("audit.db").display())),
            key_file: Some(self.path("audit.key")),
            ..Default::default()
        }
    }

    /// `cordon run` of `file` under the permissive policy and this log.
    fn run(&self, file: &str, timeout: Duration) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cordon"));
        cmd.args(["run", "--policy"])
            .arg(self.path("permissive.yaml"))
            .args(["--timeout", &format!("{}s", timeout.as_secs())])
            .arg(self.path(file))
            .env(
                "CORDON_AUDIT_URL",
                format!("sqlite://{}", self.path("audit.db").display()),
            )
            .env("CORDON_AUDIT_KEY_FILE", self.path("audit.key"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Waits until the log records an execution and its container runs;
    /// returns the execution id.
    async fn running_execution(&self, d: &DockerBackend, child: &mut Child) -> String {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "cordon ended before its sandbox ran: {status}: {}",
                    stderr_of(child)
                );
            }
            if let Some(id) = self.only_execution().await {
                if let Ok(c) = d
                    .client()
                    .inspect_container(&format!("cordon-{id}"), None)
                    .await
                {
                    if c.state.and_then(|s| s.running).unwrap_or(false) {
                        return id;
                    }
                }
            }
            assert!(Instant::now() < until, "no running sandbox within 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn only_execution(&self) -> Option<String> {
        if !self.path("audit.db").exists() {
            return None;
        }
        let log = AuditLog::open_reader(&self.audit()).await.ok()?;
        let rows = log.query(&QueryFilter::default()).await.ok()?;
        rows.first().map(|r| r.id.clone())
    }

    /// The execution's termination reason and event kinds, and whether the
    /// whole chain verifies.
    async fn record(&self, id: &str) -> (Option<String>, Vec<String>, bool) {
        let log = AuditLog::open_reader(&self.audit())
            .await
            .expect("open the log");
        let shown = log.show(id, false).await.expect("show");
        let report = log
            .verify(VerifyOptions {
                rows: true,
                payloads: true,
                ..Default::default()
            })
            .await
            .expect("verify");
        assert!(shown.mismatches.is_empty(), "{:?}", shown.mismatches);
        (
            shown.execution.termination_reason.clone(),
            shown.events.iter().map(|e| e.kind.clone()).collect(),
            report.ok(),
        )
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    s
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -{name} failed");
}

/// Waits for `child` to end, at most `limit`.
async fn exit_within(child: &mut Child, limit: Duration) -> ExitStatus {
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("cordon did not end within {limit:?} of the signal");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGINT or SIGTERM (`repeat` times, 200 ms apart) during a CPU spin:
/// cordon exits 129 after it removed the container, and the execution is
/// recorded as `interrupted`.
async fn interrupted_by(test: &str, name: &str, repeat: usize) {
    let d = engine!(test);
    let s = Setup::new();
    let mut child = s.run("spin.py", WALL).spawn().expect("spawn cordon");
    let id = s.running_execution(&d, &mut child).await;
    // Let it spin a moment, so the kill meets a busy program.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let t = Instant::now();
    for i in 0..repeat {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        signal(&child, name);
    }
    let status = exit_within(&mut child, Duration::from_secs(30)).await;
    let stderr = stderr_of(&mut child);
    eprintln!("cordon ended {:?} after {name}: {stderr}", t.elapsed());
    assert_eq!(status.code(), Some(129), "{status}: {stderr}");
    assert!(
        stderr.contains(&format!("cordon: SIG{name}: stopping")),
        "{stderr}"
    );
    assert!(stderr.contains("cordon: interrupted"), "{stderr}");
    // Well before the wall limit: the signal, not the deadline, ended it.
    assert!(t.elapsed() < WALL, "took {:?}", t.elapsed());
    // Removed before cordon exited (the helper allows the engine a moment).
    assert_no_container(&d, &id).await;
    let (reason, kinds, verified) = s.record(&id).await;
    assert_eq!(reason.as_deref(), Some("interrupted"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "started"), "{kinds:?}");
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("finished"),
        "{kinds:?}"
    );
    assert!(verified, "the chain does not verify");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_twice_during_a_spin_removes_the_sandbox_and_records_interrupted() {
    interrupted_by(
        "sigint_twice_during_a_spin_removes_the_sandbox_and_records_interrupted",
        "INT",
        2,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_spin_removes_the_sandbox_and_records_interrupted() {
    interrupted_by(
        "sigterm_during_a_spin_removes_the_sandbox_and_records_interrupted",
        "TERM",
        1,
    )
    .await;
}

/// SIGKILL leaves cordon no chance to clean up: the in-sandbox deadline
/// stops the program at the wall limit plus grace, and the next cordon
/// command that opens the log records the execution `interrupted` and
/// removes the stopped container.
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_a_spin_stops_at_the_deadline_and_the_next_command_cleans_up() {
    let d = engine!("sigkill_during_a_spin_stops_at_the_deadline_and_the_next_command_cleans_up");
    let s = Setup::new();
    let mut child = s.run("spin.py", WALL).spawn().expect("spawn cordon");
    let id = s.running_execution(&d, &mut child).await;
    let name = format!("cordon-{id}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    signal(&child, "KILL");
    // Reaped, so the writer's pid is gone from /proc as after a real crash.
    let status = exit_within(&mut child, Duration::from_secs(10)).await;
    assert_eq!(status.code(), None, "killed by a signal: {status}");

    // Nobody is left to kill the sandbox: it is still spinning.
    let state = d
        .client()
        .inspect_container(&name, None)
        .await
        .expect("the sandbox outlives the killed cordon until its deadline")
        .state
        .unwrap_or_default();
    assert_eq!(state.running, Some(true), "{state:?}");

    // It ends by itself at the wall limit plus grace (rounded up to seconds).
    let deadline = WALL + DEADLINE_GRACE;
    let until = Instant::now() + deadline + Duration::from_secs(10);
    let state = loop {
        let state = d
            .client()
            .inspect_container(&name, None)
            .await
            .expect("inspect")
            .state
            .unwrap_or_default();
        if state.running != Some(true) {
            break state;
        }
        assert!(
            Instant::now() < until,
            "the sandbox outlived its deadline of {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(state.exit_code, Some(137), "{state:?}");
    let ran = ran_for(&state);
    assert!(
        ran >= deadline && ran < deadline + Duration::from_secs(4),
        "ran {ran:?}, deadline {deadline:?}"
    );

    // Before any other command: the log still shows it unfinished.
    let (reason, _, _) = s.record(&id).await;
    assert_eq!(reason, None);

    // The next command that opens the log cleans up, and runs its own program.
    let out = s
        .run("hello.py", Duration::from_secs(10))
        .output()
        .expect("run cordon");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert_no_container(&d, &id).await;
    let (reason, kinds, verified) = s.record(&id).await;
    assert_eq!(reason.as_deref(), Some("interrupted"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "interrupted"), "{kinds:?}");
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("killed"),
        "{kinds:?}"
    );
    assert!(verified, "the chain does not verify");
}

/// How long the engine saw the container run.
fn ran_for(state: &bollard::models::ContainerState) -> Duration {
    let t = |s: &Option<String>| {
        chrono::DateTime::parse_from_rfc3339(s.as_deref().expect("timestamp")).expect("rfc3339")
    };
    (t(&state.finished_at) - t(&state.started_at))
        .to_std()
        .expect("finished after it started")
}
