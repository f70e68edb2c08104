//! The one place that orders the steps: analyze -> decide -> run -> monitor
//! -> audit. Each stage takes the previous stage's output; every stage
//! reports through one [`Recorder`]. No stage reaches back into another.
//!
//! Fail closed: if the code cannot be analysed, the policy denies or holds
//! it, the recorder cannot write the record before the run, or the sandbox
//! cannot be set up, the code does not run, and the result says why.

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::BoxFuture;
use serde::Serialize;
use uuid::Uuid;

use crate::analyze::{analyze, Analysis};
use crate::decide::{decide, Decision, LimitRequest, Verdict};
use crate::monitor::admission::Admission;
use crate::policy::{Limits, Policy};
use crate::sandbox::{
    Backend, CancelToken, OutputSink, Program, SandboxError, SandboxSpec, TerminationReason, Usage,
};
use crate::Language;

/// One submission to the pipeline.
#[derive(Debug, Clone)]
pub struct Submission {
    pub id: Uuid,
    pub tenant: String,
    pub language: Language,
    pub code: Vec<u8>,
    /// The program's standard input (empty: none). It is data, not analysed;
    /// it is sealed in the audit log beside the code.
    pub stdin: Vec<u8>,
    pub policy: Arc<Policy>,
    pub limits: LimitRequest,
    /// Fires to stop the run early; the result is then `interrupted`.
    pub cancel: CancelToken,
}

impl Submission {
    pub fn new(language: Language, code: Vec<u8>, policy: Arc<Policy>) -> Self {
        Submission {
            id: Uuid::new_v4(),
            tenant: "local".into(),
            language,
            code,
            stdin: Vec::new(),
            policy,
            limits: LimitRequest::default(),
            cancel: CancelToken::new(),
        }
    }
}

/// Time spent in each stage, in microseconds (run in milliseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StageDurations {
    pub analyze_us: u64,
    pub decide_us: u64,
    pub create_ms: u64,
    pub start_ms: u64,
    pub run_ms: u64,
    pub cleanup_ms: u64,
    pub total_ms: u64,
}

/// Everything the caller learns about one execution.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutionResult {
    pub id: Uuid,
    pub language: Language,
    pub verdict: Verdict,
    pub decision: Decision,
    pub analysis: Analysis,
    /// The program's exit code, when it ran and the engine reported one.
    pub exit_code: Option<i64>,
    pub termination_reason: TerminationReason,
    /// One-line explanation of a kill, a deny or an engine error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub usage: Usage,
    /// The limits that applied, when the code ran (or would have).
    pub limits: Option<Limits>,
    /// The applied sandbox configuration, when the code ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image_id: String,
    pub durations: StageDurations,
    /// Set when the end of the execution is not (yet) durably recorded: the
    /// audit store was unavailable, and the record either waits in the local
    /// spool (it says "pending") or was lost (it says why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_error: Option<String>,
}

impl ExecutionResult {
    /// Whether the program actually ran in a sandbox.
    pub fn ran(&self) -> bool {
        self.sandbox.is_some() && self.termination_reason != TerminationReason::EngineError
    }
}

/// A pipeline step as the audit log sees it.
#[derive(Debug)]
pub enum Step<'a> {
    Received {
        tenant: &'a str,
        language: Language,
        code: &'a [u8],
        stdin: &'a [u8],
    },
    Analyzed(&'a Analysis),
    Decided(&'a Decision, &'a Analysis),
    Started {
        spec: &'a SandboxSpec,
    },
    Killed {
        reason: TerminationReason,
        detail: &'a str,
    },
    Finished(&'a ExecutionResult),
    Error {
        stage: &'a str,
        message: &'a str,
    },
}

/// Where the pipeline reports its steps (the audit log, or nothing).
pub trait Recorder: Send + Sync {
    fn record<'a>(&'a self, id: Uuid, step: Step<'a>) -> BoxFuture<'a, Result<(), String>>;
}

/// Records nothing (`cordon run --no-audit`).
#[derive(Debug, Default)]
pub struct NoRecorder;

impl Recorder for NoRecorder {
    fn record<'a>(&'a self, _: Uuid, _: Step<'a>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// Analysis and decision only; nothing runs, nothing is recorded.
pub fn vet(
    language: Language,
    code: &[u8],
    policy: &Policy,
    limits: &LimitRequest,
) -> (Analysis, Decision) {
    let analysis = analyze(code, language, policy);
    let decision = decide(policy, language, &analysis, limits);
    (analysis, decision)
}

/// The pipeline: a backend to run on, a recorder to report to, and
/// optionally host admission control.
#[derive(Clone)]
pub struct Pipeline {
    backend: Arc<dyn Backend>,
    recorder: Arc<dyn Recorder>,
    admission: Option<Arc<Admission>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("backend", &self.backend.name())
            .finish()
    }
}

impl Pipeline {
    pub fn new(backend: Arc<dyn Backend>, recorder: Arc<dyn Recorder>) -> Self {
        Pipeline {
            backend,
            recorder,
            admission: None,
        }
    }

    /// Refuses or queues executions when the host has no room (see [`Admission`]).
    pub fn with_admission(mut self, admission: Arc<Admission>) -> Self {
        self.admission = Some(admission);
        self
    }

    pub fn admission(&self) -> Option<&Arc<Admission>> {
        self.admission.as_ref()
    }

    /// Runs a submission through every step and returns the result. Never
    /// panics; every failure is a result with a reason.
    pub async fn execute(&self, sub: Submission, sink: &mut dyn OutputSink) -> ExecutionResult {
        let t0 = Instant::now();
        let id = sub.id;
        let rec = &self.recorder;
        let mut audit_failed: Option<String> = None;
        let note = |r: Result<(), String>, audit_failed: &mut Option<String>| {
            if let Err(e) = r {
                audit_failed.get_or_insert(e);
            }
        };

        note(
            rec.record(
                id,
                Step::Received {
                    tenant: &sub.tenant,
                    language: sub.language,
                    code: &sub.code,
                    stdin: &sub.stdin,
                },
            )
            .await,
            &mut audit_failed,
        );

        // 1. Analyze.
        let t = Instant::now();
        let analysis = analyze(&sub.code, sub.language, &sub.policy);
        let analyze_us = t.elapsed().as_micros() as u64;
        note(
            rec.record(id, Step::Analyzed(&analysis)).await,
            &mut audit_failed,
        );

        // 2. Decide.
        let t = Instant::now();
        let decision = decide(&sub.policy, sub.language, &analysis, &sub.limits);
        let decide_us = t.elapsed().as_micros() as u64;
        note(
            rec.record(id, Step::Decided(&decision, &analysis)).await,
            &mut audit_failed,
        );

        let mut result = ExecutionResult {
            id,
            language: sub.language,
            verdict: decision.verdict,
            limits: decision.limits,
            decision: decision.clone(),
            analysis,
            exit_code: None,
            termination_reason: TerminationReason::Denied,
            detail: None,
            stdout: String::new(),
            stderr: String::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            usage: Usage::default(),
            sandbox: None,
            image_id: String::new(),
            durations: StageDurations {
                analyze_us,
                decide_us,
                ..Default::default()
            },
            audit_error: None,
        };

        // 3. Only allowed code with a written record goes further.
        if decision.verdict != Verdict::Allow {
            let why: Vec<&str> = decision
                .reasons
                .iter()
                .map(|r| r.message.as_str())
                .collect();
            result.detail = Some(format!("{}: {}", decision.verdict, why.join("; ")));
            return self.finish(result, t0).await;
        }
        if let Some(e) = audit_failed {
            result.termination_reason = TerminationReason::EngineError;
            result.detail = Some(format!(
                "not run: the audit log could not record the submission: {e}"
            ));
            return self.finish(result, t0).await;
        }
        let (Some(image), Some(limits)) = (decision.image.as_deref(), decision.limits) else {
            result.detail = Some("not run: the policy has no runtime for this language".into());
            return self.finish(result, t0).await;
        };
        let spec = SandboxSpec::new(id, sub.language, image, &limits).and_then(|s| {
            if sub.stdin.is_empty() {
                Ok(s)
            } else {
                s.with_program_stdin(sub.code.len())
            }
        });
        let spec = match spec {
            Ok(s) => s,
            Err(e) => {
                result.termination_reason = TerminationReason::EngineError;
                result.detail = Some(format!("not run: {e}"));
                let _ = rec
                    .record(
                        id,
                        Step::Error {
                            stage: "sandbox",
                            message: &e.to_string(),
                        },
                    )
                    .await;
                return self.finish(result, t0).await;
            }
        };

        // 4. Admission: the host must have room before anything starts.
        let _permit = match &self.admission {
            None => None,
            Some(a) => match a.admit(spec.memory_bytes()).await {
                Ok(p) => Some(p),
                Err(refused) => {
                    result.termination_reason = TerminationReason::HostOverloaded;
                    result.detail = Some(refused.to_string());
                    let _ = rec
                        .record(
                            id,
                            Step::Error {
                                stage: "admission",
                                message: &refused.to_string(),
                            },
                        )
                        .await;
                    return self.finish(result, t0).await;
                }
            },
        };

        // 5. Run (the backend monitors and kills), then record what happened.
        //    The `started` record must be durable before the program starts:
        //    no unrecorded runs. The backend drives that commit while it
        //    creates the sandbox, and starts nothing if it fails.
        let program = Program {
            code: &sub.code,
            stdin: &sub.stdin,
            ready: rec.record(id, Step::Started { spec: &spec }),
        };
        result.sandbox = Some(spec.summary());
        match self
            .backend
            .run(&spec, program, sink, sub.cancel.clone())
            .await
        {
            Ok(out) => {
                if out.reason != TerminationReason::Exited {
                    let detail = out.detail.clone().unwrap_or_default();
                    let _ = rec
                        .record(
                            id,
                            Step::Killed {
                                reason: out.reason,
                                detail: &detail,
                            },
                        )
                        .await;
                }
                result.exit_code = out.exit_code;
                result.termination_reason = out.reason;
                result.detail = out.detail;
                result.stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                result.stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                result.stdout_truncated = out.stdout_truncated;
                result.stderr_truncated = out.stderr_truncated;
                result.usage = out.usage;
                result.image_id = out.image_id;
                result.durations.create_ms = out.durations_ms.create_ms;
                result.durations.start_ms = out.durations_ms.start_ms;
                result.durations.run_ms = out.durations_ms.run_ms;
                result.durations.cleanup_ms = out.durations_ms.cleanup_ms;
            }
            Err(e) => {
                result.termination_reason = TerminationReason::EngineError;
                result.detail = Some(e.to_string());
                if matches!(
                    e,
                    SandboxError::ImageMissing { .. }
                        | SandboxError::Connect { .. }
                        | SandboxError::NotRecorded(_)
                ) {
                    result.sandbox = None;
                }
                let _ = rec
                    .record(
                        id,
                        Step::Error {
                            stage: "run",
                            message: &e.to_string(),
                        },
                    )
                    .await;
            }
        }
        self.finish(result, t0).await
    }

    async fn finish(&self, mut result: ExecutionResult, t0: Instant) -> ExecutionResult {
        result.durations.total_ms = t0.elapsed().as_millis() as u64;
        if let Err(e) = self
            .recorder
            .record(result.id, Step::Finished(&result))
            .await
        {
            tracing::error!(execution = %result.id, "audit log could not record the end of the execution: {e}");
            result.audit_error = Some(format!(
                "the end of this execution is not durably recorded yet: {e}"
            ));
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::fake::{RecordingBackend, Script};
    use crate::sandbox::NullSink;

    fn policy() -> Arc<Policy> {
        Arc::new(Policy::builtin("default").unwrap())
    }

    #[tokio::test]
    async fn allowed_code_runs_once_with_policy_limits() {
        let fake = Arc::new(RecordingBackend::new(Script::Exit {
            stdout: "1\n".into(),
            code: 0,
        }));
        let p = Pipeline::new(fake.clone(), Arc::new(NoRecorder));
        let r = p
            .execute(
                Submission::new(Language::Python, b"print(1)".to_vec(), policy()),
                &mut NullSink,
            )
            .await;
        assert_eq!(r.verdict, Verdict::Allow);
        assert_eq!(r.termination_reason, TerminationReason::Exited);
        assert_eq!(r.stdout, "1\n");
        let runs = fake.runs();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].image(), "cordon/python:3.11");
        assert_eq!(runs[0].memory_bytes(), 256 << 20);
    }

    #[tokio::test]
    async fn unparseable_code_never_reaches_the_backend() {
        let fake = Arc::new(RecordingBackend::new(Script::Exit {
            stdout: String::new(),
            code: 0,
        }));
        let p = Pipeline::new(fake.clone(), Arc::new(NoRecorder));
        for (lang, code) in [
            (Language::Python, &b"def (:"[..]),
            (Language::Python, &b"\xff\xfe"[..]),
        ] {
            let r = p
                .execute(
                    Submission::new(lang, code.to_vec(), policy()),
                    &mut NullSink,
                )
                .await;
            assert_eq!(r.verdict, Verdict::Deny, "{code:?}");
            assert_eq!(r.termination_reason, TerminationReason::Denied);
        }
        assert!(fake.runs().is_empty());
    }

    #[tokio::test]
    async fn limits_above_policy_are_denied() {
        let fake = Arc::new(RecordingBackend::new(Script::Exit {
            stdout: String::new(),
            code: 0,
        }));
        let p = Pipeline::new(fake.clone(), Arc::new(NoRecorder));
        let mut sub = Submission::new(Language::Python, b"print(1)".to_vec(), policy());
        sub.limits.pids = Some(10_000);
        let r = p.execute(sub, &mut NullSink).await;
        assert_eq!(r.verdict, Verdict::Deny);
        assert!(r
            .decision
            .reasons
            .iter()
            .any(|x| x.code == "limits_exceed_policy"));
        assert!(fake.runs().is_empty());
    }

    #[tokio::test]
    async fn engine_outage_is_an_engine_error_not_a_host_run() {
        let fake = Arc::new(RecordingBackend::new(Script::Unreachable));
        let p = Pipeline::new(fake, Arc::new(NoRecorder));
        let r = p
            .execute(
                Submission::new(Language::Python, b"print(1)".to_vec(), policy()),
                &mut NullSink,
            )
            .await;
        assert_eq!(r.termination_reason, TerminationReason::EngineError);
        assert!(r
            .detail
            .unwrap_or_default()
            .contains("cannot reach the Docker engine"));
        assert_eq!(r.exit_code, None);
    }
}
