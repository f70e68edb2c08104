//! The hardened sandbox against the real engine: correctness per language,
//! and the fence read back from inside the container. Every abuse payload
//! runs only inside the sandbox.

#[macro_use]
mod support;

use cordon::decide::LimitRequest;
use cordon::sandbox::TerminationReason;
use cordon::Language;
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn hello_world_in_every_language() {
    let d = engine!("hello_world_in_every_language");
    for (lang, code) in [
        (Language::Python, "print('hello')"),
        (Language::Javascript, "console.log('hello')"),
        (Language::Bash, "echo hello"),
    ] {
        let r = run(&d, lang, code).await;
        assert_eq!(
            r.termination_reason,
            TerminationReason::Exited,
            "{lang}: {:?}",
            r.detail
        );
        assert_eq!(r.exit_code, Some(0), "{lang}: stderr {}", r.stderr);
        assert_eq!(r.stdout, "hello\n", "{lang}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_propagate() {
    let d = engine!("exit_codes_propagate");
    for (lang, code) in [
        (Language::Python, "import sys; sys.exit(3)"),
        (Language::Javascript, "process.exit(3)"),
        (Language::Bash, "exit 3"),
    ] {
        let r = run(&d, lang, code).await;
        assert_eq!(r.termination_reason, TerminationReason::Exited, "{lang}");
        assert_eq!(r.exit_code, Some(3), "{lang}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unicode_and_a_200k_program_arrive_intact() {
    let d = engine!("unicode_and_a_200k_program_arrive_intact");
    let padding = "x".repeat(200 * 1024);
    let cases = [
        (
            Language::Python,
            format!("# {padding}\ns = 'héllo wörld ✓ 日本'\nprint(s, len(s))\n"),
        ),
        (
            Language::Javascript,
            format!(
                "// {padding}\nconst s = 'héllo wörld ✓ 日本';\nconsole.log(s, [...s].length);\n"
            ),
        ),
        (
            Language::Bash,
            format!("# {padding}\ns='héllo wörld ✓ 日本'\necho \"$s\" \"${{#s}}\"\n"),
        ),
    ];
    for (lang, code) in cases {
        assert!(code.len() > 200 * 1024);
        let r = run(&d, lang, &code).await;
        assert_eq!(r.exit_code, Some(0), "{lang}: {}", r.stderr);
        assert_eq!(r.stdout, "héllo wörld ✓ 日本 16\n", "{lang}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn program_stdin_is_empty() {
    let d = engine!("program_stdin_is_empty");
    for (lang, code) in [
        (
            Language::Python,
            "import sys; print(repr(sys.stdin.read()))",
        ),
        (
            Language::Javascript,
            "console.log(JSON.stringify(require('fs').readFileSync(0, 'utf8')))",
        ),
        (
            Language::Bash,
            "if read -r line; then echo \"read:$line\"; else echo eof; fi\necho after",
        ),
    ] {
        let r = run(&d, lang, code).await;
        assert_eq!(r.exit_code, Some(0), "{lang}: {}", r.stderr);
        let want = match lang {
            Language::Python => "''\n",
            Language::Javascript => "\"\"\n",
            Language::Bash => "eof\nafter\n",
        };
        assert_eq!(r.stdout, want, "{lang}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn program_stdin_arrives_whole_after_a_large_program_in_every_language() {
    use sha2::Digest;
    let d = engine!("program_stdin_arrives_whole_after_a_large_program_in_every_language");
    // The code is larger than a pipe buffer, and the stdin looks like code:
    // if the split were off by one byte, the digest would differ or the
    // stdin would run.
    let padding = "x".repeat(200 * 1024);
    let mut stdin = String::from("first line ✓\n");
    for i in 0..20_000 {
        stdin.push_str(&format!("print('not code {i}') # échappé\n"));
    }
    let rest = &stdin["first line ✓\n".len()..];
    let digest = hex::encode(sha2::Sha256::digest(rest.as_bytes()));
    let cases = [
        (
            Language::Python,
            format!("# {padding}\nimport sys, hashlib\nfirst = sys.stdin.buffer.readline()\nrest = sys.stdin.buffer.read()\nprint('first:' + first.decode().rstrip())\nprint(hashlib.sha256(rest).hexdigest())\n"),
        ),
        (
            Language::Javascript,
            format!("// {padding}\nconst d = require('fs').readFileSync(0);\nconst i = d.indexOf(10);\nconsole.log('first:' + d.subarray(0, i).toString());\nconsole.log(require('crypto').createHash('sha256').update(d.subarray(i + 1)).digest('hex'));\n"),
        ),
        (
            Language::Bash,
            format!("# {padding}\nIFS= read -r first\necho \"first:$first\"\nsum=$(sha256sum)\necho \"${{sum%% *}}\"\n"),
        ),
    ];
    for (lang, code) in cases {
        let mut sub = cordon::pipeline::Submission::new(lang, code.into_bytes(), permissive());
        sub.stdin = stdin.clone().into_bytes();
        let r = run_submission(&d, sub).await;
        assert_eq!(
            r.termination_reason,
            TerminationReason::Exited,
            "{lang}: {:?}",
            r.detail
        );
        assert_eq!(r.exit_code, Some(0), "{lang}: {}", r.stderr);
        assert_eq!(
            r.stdout,
            format!("first:first line ✓\n{digest}\n"),
            "{lang}"
        );
        assert_eq!(
            r.sandbox.as_ref().map(|s| s["program_stdin"].clone()),
            Some(serde_json::json!(true)),
            "{lang}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stdin_for_a_spec_without_the_split_command_is_refused_before_any_container() {
    use cordon::sandbox::{Backend, CancelToken, NullSink, Program, SandboxError, SandboxSpec};
    let d = engine!("stdin_for_a_spec_without_the_split_command_is_refused_before_any_container");
    let id = uuid::Uuid::new_v4();
    let limits = cordon::policy::Limits {
        cpus: 0.5,
        memory: cordon::units::ByteSize(64 << 20),
        pids: 16,
        wall: "5s".parse().unwrap(),
        cpu_time: "5s".parse().unwrap(),
        output: cordon::units::ByteSize(1 << 20),
        tmpfs: cordon::units::ByteSize(8 << 20),
    };
    // Made without `with_program_stdin`: the runtime would read the stdin as more code.
    let spec = SandboxSpec::new(id, Language::Python, "cordon/python:3.11", &limits).unwrap();
    let r = d
        .run(
            &spec,
            Program::new(b"print('ran')", b"print('stdin ran as code')"),
            &mut NullSink,
            CancelToken::new(),
        )
        .await;
    match r {
        Err(SandboxError::Spec(e)) => assert!(e.to_string().contains("stdin"), "{e}"),
        other => panic!("expected a spec error, got {other:?}"),
    }
    assert_no_container(&d, &id.to_string()).await;
}

/// Fails the `started` record after the container has had time to be created.
struct StartNotDurable;

impl cordon::pipeline::Recorder for StartNotDurable {
    fn record<'a>(
        &'a self,
        _: uuid::Uuid,
        step: cordon::pipeline::Step<'a>,
    ) -> futures_util::future::BoxFuture<'a, Result<(), String>> {
        let started = matches!(step, cordon::pipeline::Step::Started { .. });
        Box::pin(async move {
            if started {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                return Err("disk full".into());
            }
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_starts_when_the_start_record_is_not_durable() {
    let d = engine!("nothing_starts_when_the_start_record_is_not_durable");
    let pipeline = cordon::pipeline::Pipeline::new(
        std::sync::Arc::new(d.clone()),
        std::sync::Arc::new(StartNotDurable),
    );
    // Would print if it ever started.
    let sub =
        cordon::pipeline::Submission::new(Language::Python, b"print('ran')".to_vec(), permissive());
    let id = sub.id.to_string();
    let mut out = cordon::sandbox::NullSink;
    let r = pipeline.execute(sub, &mut out).await;
    assert_eq!(r.termination_reason, TerminationReason::EngineError);
    assert!(
        r.detail
            .as_deref()
            .unwrap_or("")
            .contains("could not record the start: disk full"),
        "{:?}",
        r.detail
    );
    assert_eq!((r.exit_code, r.stdout.as_str()), (None, ""));
    assert!(r.sandbox.is_none());
    assert_no_container(&d, &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_as_non_root_without_capabilities() {
    let d = engine!("runs_as_non_root_without_capabilities");
    let r = run(
        &d,
        Language::Bash,
        "id -u; id -g; grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status",
    )
    .await;
    assert_eq!(r.exit_code, Some(0), "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_ne!(lines[0], "0", "uid must not be 0");
    assert_ne!(lines[1], "0", "gid must not be 0");
    assert!(
        r.stdout.contains("CapEff:\t0000000000000000"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("CapPrm:\t0000000000000000"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("NoNewPrivs:\t1"), "{}", r.stdout);
    assert!(r.stdout.contains("Seccomp:\t2"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn rootfs_is_read_only_and_tmp_is_bounded() {
    let d = engine!("rootfs_is_read_only_and_tmp_is_bounded");
    let code = r#"
for p in / /usr /etc /home; do
  if ( echo x > "$p/cordon-probe" ) 2>/dev/null; then echo "WROTE $p"; else echo "ro $p"; fi
done
dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>/dev/null; echo "dd=$?"
echo "size=$(stat -c %s /tmp/fill)"
grep ' /tmp ' /proc/mounts
"#;
    let r = run(&d, Language::Bash, code).await;
    assert!(!r.stdout.contains("WROTE"), "{}", r.stdout);
    for p in ["/", "/usr", "/etc", "/home"] {
        assert!(r.stdout.contains(&format!("ro {p}\n")), "{}", r.stdout);
    }
    assert!(
        !r.stdout.contains("dd=0"),
        "filling /tmp past its size must fail: {}",
        r.stdout
    );
    let size: u64 = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("size="))
        .and_then(|s| s.parse().ok())
        .expect("size line");
    assert!(
        size <= 16 << 20,
        "tmp file grew to {size}, above the 16Mi tmpfs"
    );
    let mount = r
        .stdout
        .lines()
        .find(|l| l.contains(" /tmp "))
        .expect("/tmp mount");
    for opt in ["noexec", "nosuid", "nodev"] {
        assert!(mount.contains(opt), "{mount}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_network_but_loopback() {
    let d = engine!("no_network_but_loopback");
    let code = r#"
import os, socket
print("ifaces", sorted(os.listdir("/sys/class/net")))
for host in ("127.0.0.1", "192.0.2.1"):
    s = socket.socket(); s.settimeout(2)
    try:
        s.connect((host, 80)); print("CONNECTED", host)
    except OSError as e:
        print("refused", host, type(e).__name__)
    finally:
        s.close()
"#;
    let r = run(&d, Language::Python, code).await;
    assert_eq!(r.exit_code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("ifaces ['lo']"), "{}", r.stdout);
    assert!(!r.stdout.contains("CONNECTED"), "{}", r.stdout);
    assert!(
        r.stdout.contains("refused 127.0.0.1") && r.stdout.contains("refused 192.0.2.1"),
        "{}",
        r.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn host_environment_does_not_leak() {
    let d = engine!("host_environment_does_not_leak");
    std::env::set_var("CORDON_TEST_SECRET", "hunter2");
    let r = run(&d, Language::Bash, "env").await;
    assert_eq!(r.exit_code, Some(0));
    assert!(
        !r.stdout.contains("hunter2") && !r.stdout.contains("CORDON_TEST_SECRET"),
        "{}",
        r.stdout
    );
    for var in r
        .stdout
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
    {
        assert!(
            ["PATH", "HOME", "LANG", "TMPDIR", "HOSTNAME", "PWD", "SHLVL", "_", "OLDPWD"]
                .contains(&var),
            "unexpected variable {var} in the sandbox environment"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fork_bomb_hits_the_pids_limit_and_the_host_is_unaffected() {
    let d = engine!("fork_bomb_hits_the_pids_limit_and_the_host_is_unaffected");
    let bomb = run_with(
        &d,
        Language::Bash,
        ":(){ :|:& };: ; sleep 5",
        LimitRequest {
            pids: Some(32),
            wall: wall("15s"),
            ..Default::default()
        },
    );
    let d2 = d.clone();
    let neighbour = async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        run(&d2, Language::Python, "print(sum(range(1000)))").await
    };
    let (bomb, neighbour) = tokio::join!(bomb, neighbour);
    assert_eq!(
        bomb.termination_reason,
        TerminationReason::Pids,
        "{:?}",
        bomb.detail
    );
    assert!(
        bomb.usage.peak_pids <= 32,
        "peak pids {}",
        bomb.usage.peak_pids
    );
    assert_eq!(neighbour.stdout, "499500\n");
    assert_eq!(neighbour.termination_reason, TerminationReason::Exited);
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_bomb_is_oom_killed() {
    let d = engine!("memory_bomb_is_oom_killed");
    let r = run(
        &d,
        Language::Python,
        "x = []\nwhile True: x.append(bytearray(16 << 20))",
    )
    .await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::Oom,
        "{:?}",
        r.detail
    );
    assert!(
        r.usage.peak_memory_bytes <= 256 << 20,
        "{}",
        r.usage.peak_memory_bytes
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn busy_loop_times_out() {
    let d = engine!("busy_loop_times_out");
    let r = run_with(
        &d,
        Language::Python,
        "while True: pass",
        LimitRequest {
            wall: wall("2s"),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::Timeout,
        "{:?}",
        r.detail
    );
    assert!(
        r.usage.wall_ms >= 1900 && r.usage.wall_ms < 6000,
        "{}",
        r.usage.wall_ms
    );
    assert_eq!(r.detail.as_deref(), Some("timeout after 2s"));
}

#[tokio::test(flavor = "multi_thread")]
async fn output_flood_is_truncated_and_flagged() {
    let d = engine!("output_flood_is_truncated_and_flagged");
    let r = run(
        &d,
        Language::Python,
        "import sys\nfor _ in range(800): sys.stdout.write('y' * 65536)",
    )
    .await;
    assert!(r.stdout_truncated);
    assert_eq!(
        r.stdout.len(),
        1 << 20,
        "kept output must stop exactly at the cap"
    );
    assert_eq!(
        r.termination_reason,
        TerminationReason::OutputLimit,
        "{:?}",
        r.detail
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn output_just_over_the_cap_is_truncated_but_not_killed() {
    let d = engine!("output_just_over_the_cap_is_truncated_but_not_killed");
    let r = run(
        &d,
        Language::Python,
        "import sys\nsys.stdout.write('z' * ((1 << 20) + 1000))\nprint('', file=sys.stderr)",
    )
    .await;
    assert!(r.stdout_truncated);
    assert_eq!(r.stdout.len(), 1 << 20);
    assert_eq!(r.termination_reason, TerminationReason::Exited);
    assert_eq!(r.exit_code, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_image_fails_closed_with_the_fix() {
    let d = engine!("missing_image_fails_closed_with_the_fix");
    let text = support::PERMISSIVE.replace("cordon/python:3.11", "cordon/python:does-not-exist");
    let policy =
        std::sync::Arc::new(cordon::policy::Policy::from_str_with(&text, "t.yaml", None).unwrap());
    let pipeline = cordon::pipeline::Pipeline::new(
        std::sync::Arc::new(d.clone()),
        std::sync::Arc::new(cordon::pipeline::NoRecorder),
    );
    let sub = cordon::pipeline::Submission::new(Language::Python, b"print(1)".to_vec(), policy);
    let r = pipeline.execute(sub, &mut cordon::sandbox::NullSink).await;
    assert_eq!(r.termination_reason, TerminationReason::EngineError);
    assert_eq!(r.exit_code, None);
    let detail = r.detail.unwrap_or_default();
    assert!(
        detail.contains("cordon/python:does-not-exist not found")
            && detail.contains("cordon images build"),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_kills_the_run_as_interrupted() {
    let d = engine!("cancel_kills_the_run_as_interrupted");
    /// Cancels the run as soon as the program has printed something.
    struct CancelOnOutput(cordon::sandbox::CancelToken);
    impl cordon::sandbox::OutputSink for CancelOnOutput {
        fn chunk(&mut self, _: cordon::sandbox::Stream, _: &[u8]) {
            self.0.cancel();
        }
    }
    let pipeline = cordon::pipeline::Pipeline::new(
        std::sync::Arc::new(d.clone()),
        std::sync::Arc::new(cordon::pipeline::NoRecorder),
    );
    let sub = cordon::pipeline::Submission::new(
        Language::Bash,
        b"echo started; sleep 30".to_vec(),
        support::permissive(),
    );
    let mut sink = CancelOnOutput(sub.cancel.clone());
    let id = sub.id.to_string();
    let t = std::time::Instant::now();
    let r = pipeline.execute(sub, &mut sink).await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::Interrupted,
        "{:?}",
        r.detail
    );
    assert_eq!(r.stdout, "started\n");
    assert!(t.elapsed() < std::time::Duration::from_secs(15));
    support::assert_no_container(&d, &id).await;
}

/// The engine's event log is the fallback witness of an OOM kill when the
/// container state's `OOMKilled` flag lost the race with the exit (Docker
/// 20.10). A container the kernel OOM-killed has the event; one killed by
/// `docker kill` does not. Both containers run the hardened image with no
/// network and are removed afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn engine_event_log_tells_an_oom_kill_from_a_plain_sigkill() {
    let d = engine!("engine_event_log_tells_an_oom_kill_from_a_plain_sigkill");
    let since = std::time::SystemTime::now();
    let docker = |args: &[&str]| {
        std::process::Command::new("docker")
            .args(args)
            .output()
            .expect("docker cli")
    };
    let oom_name = format!("cordon-test-oom-{}", std::process::id());
    let out = docker(&[
        "run",
        "--name",
        &oom_name,
        "--network",
        "none",
        "--memory",
        "32m",
        "--memory-swap",
        "32m",
        "--read-only",
        "--cap-drop",
        "ALL",
        "cordon/python:3.11",
        "python3",
        "-c",
        "x = []\nwhile True: x.append(bytearray(8 << 20))",
    ]);
    assert_eq!(
        out.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let killed_name = format!("cordon-test-sigkill-{}", std::process::id());
    let out = docker(&[
        "run",
        "-d",
        "--name",
        &killed_name,
        "--network",
        "none",
        "--read-only",
        "--cap-drop",
        "ALL",
        "cordon/python:3.11",
        "sleep",
        "60",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(docker(&["kill", &killed_name]).status.success());
    let _ = docker(&["wait", &killed_name]);

    let oom = d.engine_reported_oom(&oom_name, since).await;
    let plain = d.engine_reported_oom(&killed_name, since).await;
    let _ = docker(&["rm", "-f", &oom_name, &killed_name]);
    assert!(oom, "the OOM-killed container has an oom event");
    assert!(!plain, "a plain SIGKILL is not an OOM");
}
