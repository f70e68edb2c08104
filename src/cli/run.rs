//! `cordon run`: the whole pipeline from the command line.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::{read_input, PolicyArgs};
use crate::decide::{LimitRequest, Verdict};
use crate::pipeline::{ExecutionResult, NoRecorder, Pipeline, Recorder, Submission};
use crate::sandbox::docker::DockerBackend;
use crate::sandbox::{OutputSink, Stream, TerminationReason};
use crate::units::{ByteSize, HumanDuration};
use crate::Language;

/// Exit codes of `cordon run` (also in the README). When the program ran
/// and ended by itself, cordon exits with the program's own exit code.
pub const EXIT_DENIED: i32 = 121;
pub const EXIT_REVIEW: i32 = 122;
pub const EXIT_ENGINE_ERROR: i32 = 123;
pub const EXIT_TIMEOUT: i32 = 124;
pub const EXIT_CPU_TIME: i32 = 125;
pub const EXIT_OOM: i32 = 126;
pub const EXIT_PIDS: i32 = 127;
pub const EXIT_OUTPUT_LIMIT: i32 = 128;
pub const EXIT_INTERRUPTED: i32 = 129;

/// Largest stdin `cordon run --stdin` gives a program (it is sealed into the
/// audit log, so it is bounded like the code).
const MAX_STDIN_BYTES: u64 = 16 << 20;

#[derive(Debug, Args)]
#[command(after_long_help = "EXIT CODES:
  0-255  the program ran and exited by itself: its own exit code
  120    cordon could not start: bad arguments, unreadable input, invalid policy
  121    denied by policy (nothing ran)
  122    held for review by policy (nothing ran)
  123    engine error: the sandbox could not be set up (nothing ran on the host)
  124    killed: wall-clock timeout
  125    killed: CPU-time budget exhausted
  126    killed: out of memory
  127    killed: process limit reached
  128    killed: output far over the cap
  129    interrupted, or refused because the host is overloaded

EXAMPLES:
  cordon run --language python script.py
  echo 'console.log(1)' | cordon run -l javascript -
  cordon run -l bash --timeout 2s --memory 64Mi --json job.sh
  cordon run --stdin words.txt sort_words.py
  grep -v '^#' data.csv | cordon run --stdin - count.py")]
pub struct RunArgs {
    /// Language of the code (inferred from the file extension or shebang when omitted).
    #[arg(long, short = 'l')]
    language: Option<Language>,
    /// File with the code, or `-` for stdin.
    #[arg(default_value = "-")]
    file: String,
    /// File to give the program as its standard input, or `-` for cordon's
    /// own stdin (then the code must come from a file). Without it the
    /// program's stdin is empty. Sealed in the audit log beside the code;
    /// at most 16Mi.
    #[arg(long, value_name = "FILE")]
    stdin: Option<String>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Print one JSON result object instead of streaming the program's output.
    #[arg(long)]
    json: bool,
    /// Wall-clock limit, e.g. 2s (may only be stricter than the policy).
    #[arg(long, value_name = "DURATION")]
    timeout: Option<HumanDuration>,
    /// CPU-time budget, e.g. 1s (may only be stricter than the policy).
    #[arg(long, value_name = "DURATION")]
    cpu_time: Option<HumanDuration>,
    /// Memory limit, e.g. 64Mi (may only be stricter than the policy).
    #[arg(long, value_name = "SIZE")]
    memory: Option<ByteSize>,
    /// CPU share in cores, e.g. 0.25 (may only be stricter than the policy).
    #[arg(long, value_name = "CORES")]
    cpus: Option<f64>,
    /// Process limit (may only be stricter than the policy).
    #[arg(long, value_name = "N")]
    pids: Option<u32>,
    /// Cap on captured stdout and stderr, each, e.g. 64Ki (may only be stricter than the policy).
    #[arg(long, value_name = "SIZE")]
    output: Option<ByteSize>,
    /// Do not write the audit log (says so on stderr).
    #[arg(long)]
    no_audit: bool,
    #[command(flatten)]
    audit: super::audit::AuditArgs,
}

/// Streams kept output straight to the terminal.
struct Terminal;

impl OutputSink for Terminal {
    fn chunk(&mut self, stream: Stream, bytes: &[u8]) {
        // A closed terminal must not stop the run; the result keeps the output.
        let _ = match stream {
            Stream::Stdout => std::io::stdout()
                .write_all(bytes)
                .and_then(|_| std::io::stdout().flush()),
            Stream::Stderr => std::io::stderr()
                .write_all(bytes)
                .and_then(|_| std::io::stderr().flush()),
        };
    }
}

struct Quiet;
impl OutputSink for Quiet {
    fn chunk(&mut self, _: Stream, _: &[u8]) {}
}

pub(crate) fn language_for(
    explicit: Option<Language>,
    file: &str,
    code: &[u8],
) -> anyhow::Result<Language> {
    if let Some(l) = explicit {
        return Ok(l);
    }
    if let Some(l) = Language::from_extension(std::path::Path::new(file)) {
        return Ok(l);
    }
    let head = String::from_utf8_lossy(&code[..code.len().min(256)]).into_owned();
    Language::from_shebang(&head).with_context(|| {
        format!("cannot tell the language of {file}: pass --language python|javascript|bash")
    })
}

pub async fn run(a: RunArgs) -> anyhow::Result<i32> {
    if a.file == "-" && a.stdin.as_deref() == Some("-") {
        anyhow::bail!(
            "the code and the program's stdin cannot both come from cordon's stdin: give the code as a file"
        );
    }
    let code = read_input(&a.file)?;
    let stdin = match &a.stdin {
        None => Vec::new(),
        Some(path) => {
            let data = read_input(path)?;
            if data.len() as u64 > MAX_STDIN_BYTES {
                anyhow::bail!(
                    "--stdin {path}: {} is over the {} cordon accepts for a program's stdin",
                    ByteSize(data.len() as u64),
                    ByteSize(MAX_STDIN_BYTES)
                );
            }
            data
        }
    };
    let language = language_for(a.language, &a.file, &code)?;
    let policy = Arc::new(a.policy.load()?);
    // From here on a signal stops the sandbox and removes it instead of
    // ending cordon at once (the input is read: nothing blocks on stdin).
    let stop = super::signals::cancel_on_signal().context("cannot handle SIGINT/SIGTERM")?;
    let mut sub = Submission::new(language, code, policy);
    sub.cancel = stop.clone();
    sub.stdin = stdin;
    sub.tenant = std::env::var("USER").unwrap_or_else(|_| "local".into());
    sub.limits = LimitRequest {
        cpus: a.cpus,
        memory: a.memory,
        pids: a.pids,
        wall: a.timeout,
        cpu_time: a.cpu_time,
        output: a.output,
        tmpfs: None,
    };

    let audit_log = if a.no_audit {
        eprintln!("cordon: --no-audit: this execution is NOT recorded in the audit log");
        None
    } else {
        // Fail closed: without a working audit log nothing runs.
        let log = crate::audit::AuditLog::open(&a.audit.config())
            .await
            .context("cannot open the audit log (pass --no-audit to run without one)")?;
        Some(log)
    };
    let recorder: Arc<dyn Recorder> = match &audit_log {
        Some(log) => Arc::new(crate::audit::recorder::AuditRecorder::new(log.clone())),
        None => Arc::new(NoRecorder),
    };

    // Only connect to the engine for code the policy allows, so analysis
    // problems are reported even where no engine runs.
    let (_, decision) = crate::pipeline::vet(language, &sub.code, &sub.policy, &sub.limits);
    let docker = if decision.verdict == Verdict::Allow {
        Some(DockerBackend::connect().await)
    } else {
        None
    };
    let engine = docker.as_ref().and_then(|d| d.as_ref().ok()).cloned();
    let backend: Arc<dyn crate::sandbox::Backend> = match docker {
        Some(Ok(b)) => Arc::new(b),
        Some(Err(e)) => Arc::new(Unavailable(e.to_string())),
        None => Arc::new(Unavailable("not connected: nothing to run".into())),
    };

    let pipeline = Pipeline::new(backend, recorder);
    // Sandboxes a dead cordon left are removed beside this run, not before it.
    let leftovers = async {
        if let Some(log) = &audit_log {
            super::leftovers::remove(log, engine.as_ref(), "run").await;
        }
    };
    let execute = async {
        if a.json {
            pipeline.execute(sub, &mut Quiet).await
        } else {
            pipeline.execute(sub, &mut Terminal).await
        }
    };
    let ((), result) = tokio::join!(leftovers, execute);
    if let Some(log) = audit_log {
        if let Err(e) = log.close().await {
            eprintln!("cordon: warning: the audit log did not close cleanly: {e}");
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        report(&result);
    }
    if stop.is_cancelled() {
        // Whatever the run got to, the caller asked cordon to stop.
        return Ok(EXIT_INTERRUPTED);
    }
    Ok(exit_code(&result))
}

/// A backend that fails every call with the connection error it was made
/// with: the pipeline still runs its steps, and records the engine error.
struct Unavailable(String);

impl crate::sandbox::Backend for Unavailable {
    fn name(&self) -> &'static str {
        "unavailable"
    }
    fn run<'a>(
        &'a self,
        _: &'a crate::sandbox::SandboxSpec,
        program: crate::sandbox::Program<'a>,
        _: &'a mut dyn OutputSink,
        _: crate::sandbox::CancelToken,
    ) -> futures_util::future::BoxFuture<
        'a,
        Result<crate::sandbox::RunOutcome, crate::sandbox::SandboxError>,
    > {
        let msg = self.0.clone();
        Box::pin(async move {
            // Nothing starts; the pipeline's start record is still completed.
            program
                .ready
                .await
                .map_err(crate::sandbox::SandboxError::NotRecorded)?;
            Err(crate::sandbox::SandboxError::Connect {
                endpoint: String::new(),
                message: msg,
            })
        })
    }
    fn preflight<'a>(
        &'a self,
        _: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<(), crate::sandbox::SandboxError>> {
        let msg = self.0.clone();
        Box::pin(async move {
            Err(crate::sandbox::SandboxError::Connect {
                endpoint: String::new(),
                message: msg,
            })
        })
    }
}

fn report(r: &ExecutionResult) {
    match r.termination_reason {
        TerminationReason::Exited => {
            if r.stdout_truncated || r.stderr_truncated {
                eprintln!(
                    "cordon: output truncated at the {} cap",
                    r.limits.map(|l| l.output.to_string()).unwrap_or_default()
                );
            }
        }
        TerminationReason::Denied => {
            eprintln!(
                "cordon: {} by policy {} (risk score {})",
                if r.verdict == Verdict::Review {
                    "held for review"
                } else {
                    "denied"
                },
                r.decision.policy.name,
                r.decision.risk_score
            );
            for f in &r.analysis.findings {
                eprintln!(
                    "  {} {} at {}:{}: {}",
                    f.rule_id,
                    f.severity.as_str(),
                    f.span.start_line,
                    f.span.start_col,
                    f.message
                );
            }
            for reason in &r.decision.reasons {
                eprintln!("  reason: {}: {}", reason.code, reason.message);
            }
        }
        TerminationReason::EngineError => {
            eprintln!(
                "cordon: engine error: {}",
                r.detail.as_deref().unwrap_or("unknown")
            );
        }
        TerminationReason::Interrupted => {
            eprintln!(
                "cordon: interrupted: {}; the sandbox was removed",
                r.detail.as_deref().unwrap_or("stopped")
            );
        }
        other => {
            eprintln!(
                "cordon: killed: {}",
                r.detail.clone().unwrap_or_else(|| other.to_string())
            );
        }
    }
}

/// Maps a result to `cordon run`'s exit code.
pub fn exit_code(r: &ExecutionResult) -> i32 {
    match r.termination_reason {
        TerminationReason::Exited => r
            .exit_code
            .map(|c| (c & 0xff) as i32)
            .unwrap_or(EXIT_ENGINE_ERROR),
        TerminationReason::Denied if r.verdict == Verdict::Review => EXIT_REVIEW,
        TerminationReason::Denied => EXIT_DENIED,
        TerminationReason::EngineError => EXIT_ENGINE_ERROR,
        TerminationReason::Timeout => EXIT_TIMEOUT,
        TerminationReason::CpuTime => EXIT_CPU_TIME,
        TerminationReason::Oom => EXIT_OOM,
        TerminationReason::Pids => EXIT_PIDS,
        TerminationReason::OutputLimit => EXIT_OUTPUT_LIMIT,
        TerminationReason::Interrupted | TerminationReason::HostOverloaded => EXIT_INTERRUPTED,
    }
}
