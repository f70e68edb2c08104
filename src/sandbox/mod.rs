//! Running allowed code in isolation.
//!
//! [`Backend`] is the seam between the pipeline and an isolation technology:
//! [`docker::DockerBackend`] talks to a Docker engine through bollard,
//! [`fake::RecordingBackend`] records calls so the pipeline's ordering and
//! fail-closed paths can be tested without an engine. Every backend takes
//! the same [`SandboxSpec`] and returns the same [`RunOutcome`]; none of them
//! ever runs code on the host.

pub mod docker;
pub mod fake;
pub mod seccomp;
pub mod spec;

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use spec::{SandboxSpec, SpecError, EXECUTION_LABEL};

/// Why a run ended. Shared by the sandbox, the monitor, the pipeline, the
/// audit log and the API; exactly one per execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminationReason {
    /// The program ended by itself (whatever its exit code).
    Exited,
    /// Killed at the wall-clock deadline.
    Timeout,
    /// Killed when its CPU-time budget ran out.
    CpuTime,
    /// Killed by the kernel's OOM killer at the memory limit.
    Oom,
    /// Hit the process limit.
    Pids,
    /// Killed for writing far more output than the cap.
    OutputLimit,
    /// Never ran: the policy denied (or held) it.
    Denied,
    /// Never ran or was cut short because the engine failed.
    EngineError,
    /// The gateway stopped or crashed while it ran.
    Interrupted,
    /// Never ran: the host had no room for it.
    HostOverloaded,
}

impl TerminationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            TerminationReason::Exited => "exited",
            TerminationReason::Timeout => "timeout",
            TerminationReason::CpuTime => "cpu_time",
            TerminationReason::Oom => "oom",
            TerminationReason::Pids => "pids",
            TerminationReason::OutputLimit => "output_limit",
            TerminationReason::Denied => "denied",
            TerminationReason::EngineError => "engine_error",
            TerminationReason::Interrupted => "interrupted",
            TerminationReason::HostOverloaded => "host_overloaded",
        }
    }

    /// Precedence when several limits are crossed at once: the most
    /// fundamental cause wins (`oom` > `pids` > `cpu_time` > `timeout` > `output_limit`).
    pub fn precedence(self) -> u8 {
        match self {
            TerminationReason::Oom => 6,
            TerminationReason::Pids => 5,
            TerminationReason::CpuTime => 4,
            TerminationReason::Timeout => 3,
            TerminationReason::OutputLimit => 2,
            _ => 1,
        }
    }
}

impl std::fmt::Display for TerminationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which stream a chunk of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Receives output as it arrives (already capped: only bytes that are kept
/// in the result are passed on), and usage snapshots while the program runs.
pub trait OutputSink: Send {
    fn chunk(&mut self, stream: Stream, bytes: &[u8]);

    /// A usage snapshot (peaks so far), about every few hundred milliseconds.
    fn usage(&mut self, _usage: &Usage) {}
}

/// A sink that drops everything (the result still holds the output).
#[derive(Debug, Default)]
pub struct NullSink;

impl OutputSink for NullSink {
    fn chunk(&mut self, _: Stream, _: &[u8]) {}
}

/// Resource usage measured during a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub peak_memory_bytes: u64,
    pub cpu_time_ms: u64,
    pub peak_pids: u64,
    pub wall_ms: u64,
}

/// What a finished run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    pub container_id: String,
    /// The program's exit code; `None` when the engine did not report one.
    pub exit_code: Option<i64>,
    pub reason: TerminationReason,
    /// Human-readable detail of the kill (`timeout after 10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(with = "bytes_lossy")]
    pub stdout: Vec<u8>,
    #[serde(with = "bytes_lossy")]
    pub stderr: Vec<u8>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub usage: Usage,
    /// Image id the container ran (content-addressed, for the audit record).
    #[serde(default)]
    pub image_id: String,
    /// Milliseconds spent in each engine step: create, start, run, remove.
    pub durations_ms: Durations,
}

/// Per-step durations in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durations {
    pub create_ms: u64,
    pub start_ms: u64,
    pub run_ms: u64,
    pub cleanup_ms: u64,
}

pub(crate) fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

mod bytes_lossy {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(b))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(String::deserialize(d)?.into_bytes())
    }
}

/// Why the sandbox could not run the code. Each variant names the step that
/// failed and what it acted on; none of them ever falls back to the host.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("not run: the audit log could not record the start: {0}")]
    NotRecorded(String),
    #[error("cannot reach the Docker engine at {endpoint}: {message}. Start dockerd (see README) or point DOCKER_HOST at a running engine")]
    Connect { endpoint: String, message: String },
    #[error("image {image} not found: run `cordon images build`")]
    ImageMissing { image: String },
    #[error("failed to create container from {image}: {source}")]
    CreateContainer {
        image: String,
        source: bollard::errors::Error,
    },
    #[error("failed to attach to container {id}: {source}")]
    Attach {
        id: String,
        source: bollard::errors::Error,
    },
    #[error("failed to start container {id}: {source}")]
    Start {
        id: String,
        source: bollard::errors::Error,
    },
    #[error("failed to deliver code to container {id}: {source}")]
    Deliver { id: String, source: std::io::Error },
    #[error("failed to inspect container {id}: {source}")]
    Inspect {
        id: String,
        source: bollard::errors::Error,
    },
    #[error("failed to inspect image {image}: {source}")]
    InspectImage {
        image: String,
        source: bollard::errors::Error,
    },
    #[error("failed to list containers: {source}")]
    List { source: bollard::errors::Error },
    #[error(transparent)]
    Spec(#[from] SpecError),
}

/// What a backend runs.
pub struct Program<'a> {
    pub code: &'a [u8],
    /// The program's standard input; must be empty unless the spec was made
    /// with [`SandboxSpec::with_program_stdin`].
    pub stdin: &'a [u8],
    /// Resolves when the program may start (the pipeline: once its `started`
    /// record is durable). Backends poll it alongside their own set-up, so
    /// the audit commit overlaps container creation instead of preceding it.
    pub ready: BoxFuture<'a, Result<(), String>>,
}

impl<'a> Program<'a> {
    /// A program that may start at once.
    pub fn new(code: &'a [u8], stdin: &'a [u8]) -> Self {
        Program {
            code,
            stdin,
            ready: Box::pin(async { Ok(()) }),
        }
    }
}

/// Lets a caller stop a run early (`POST /v1/executions/{id}/cancel`, shutdown).
pub type CancelToken = tokio_util::sync::CancellationToken;

/// An isolation technology that can run one sandboxed program.
pub trait Backend: Send + Sync {
    /// Short name for logs and the audit record (`docker`).
    fn name(&self) -> &'static str;

    /// Runs `program` under `spec`, streaming kept output to `sink`. The
    /// backend drives `program.ready` while it prepares the sandbox and
    /// starts nothing until it has resolved; if it fails, nothing starts.
    /// When `cancel` fires, the sandbox is killed and the run ends as
    /// `interrupted`.
    fn run<'a>(
        &'a self,
        spec: &'a SandboxSpec,
        program: Program<'a>,
        sink: &'a mut dyn OutputSink,
        cancel: CancelToken,
    ) -> BoxFuture<'a, Result<RunOutcome, SandboxError>>;

    /// Checks that the engine is reachable and `image` is present.
    fn preflight<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<(), SandboxError>>;
}
