//! A recording backend for tests of the pipeline's ordering and fail-closed
//! paths: it runs nothing, records every spec it was asked to run, and
//! answers with a scripted outcome or error.

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;

use super::{
    Backend, CancelToken, Durations, OutputSink, Program, RunOutcome, SandboxError, SandboxSpec,
    Stream, TerminationReason, Usage,
};

/// What the fake answers.
#[derive(Debug, Clone)]
pub enum Script {
    /// Pretend the program printed `stdout` and exited with `code`.
    Exit { stdout: String, code: i64 },
    /// Pretend the engine is unreachable.
    Unreachable,
    /// Pretend the image is missing.
    ImageMissing,
}

/// Records runs instead of performing them.
#[derive(Debug, Clone)]
pub struct RecordingBackend {
    script: Script,
    runs: Arc<Mutex<Vec<SandboxSpec>>>,
}

impl RecordingBackend {
    pub fn new(script: Script) -> Self {
        RecordingBackend {
            script,
            runs: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Specs the pipeline asked to run, in order.
    pub fn runs(&self) -> Vec<SandboxSpec> {
        self.runs.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn error(&self, image: &str) -> Option<SandboxError> {
        match self.script {
            Script::Unreachable => Some(SandboxError::Connect {
                endpoint: "fake://".into(),
                message: "scripted outage".into(),
            }),
            Script::ImageMissing => Some(SandboxError::ImageMissing {
                image: image.to_string(),
            }),
            Script::Exit { .. } => None,
        }
    }
}

impl Backend for RecordingBackend {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn run<'a>(
        &'a self,
        spec: &'a SandboxSpec,
        program: Program<'a>,
        sink: &'a mut dyn OutputSink,
        _cancel: CancelToken,
    ) -> BoxFuture<'a, Result<RunOutcome, SandboxError>> {
        Box::pin(async move {
            if let Ok(mut r) = self.runs.lock() {
                r.push(spec.clone());
            }
            // Like the Docker backend: the start record is always driven to
            // its end, a set-up failure wins over it, and nothing "starts"
            // unless it is durable.
            let ready = program.ready.await;
            if let Some(e) = self.error(spec.image()) {
                return Err(e);
            }
            ready.map_err(SandboxError::NotRecorded)?;
            let (stdout, code) = match &self.script {
                Script::Exit { stdout, code } => (stdout.clone(), *code),
                _ => (String::new(), 0),
            };
            sink.chunk(Stream::Stdout, stdout.as_bytes());
            Ok(RunOutcome {
                container_id: "fake".into(),
                exit_code: Some(code),
                reason: TerminationReason::Exited,
                detail: None,
                stdout: stdout.into_bytes(),
                stderr: Vec::new(),
                stdout_truncated: false,
                stderr_truncated: false,
                usage: Usage::default(),
                image_id: "sha256:fake".into(),
                durations_ms: Durations::default(),
            })
        })
    }

    fn preflight<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async move { self.error(image).map_or(Ok(()), Err) })
    }
}
