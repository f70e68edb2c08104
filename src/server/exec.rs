//! Executions in flight: the in-memory registry the HTTP handlers read, the
//! [`OutputSink`] that turns output chunks and usage snapshots into an
//! ordered, replayable event list (so a client that connects late to the
//! event stream still gets every chunk, in order, then the final status),
//! and the [`Recorder`] wrapper that tells the registry when the pipeline
//! has decided and started, while passing every step on to the audit log.
//!
//! The registry only mirrors what the pipeline does; it never decides,
//! runs or audits anything itself. Finished entries are kept for a while
//! for late readers and then dropped; the audit log stays the record.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;
use uuid::Uuid;

use crate::audit::EventKind;
use crate::decide::Verdict;
use crate::pipeline::{ExecutionResult, Recorder, Step};
use crate::sandbox::{CancelToken, OutputSink, Stream, TerminationReason, Usage};

/// Where an execution is in its life, as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Accepted; analysis, decision or host admission still under way.
    Pending,
    /// The sandbox is running the code.
    Running,
    /// Ended (by itself, by a limit, by cancellation or by an engine error); see `result`.
    Completed,
    /// The policy denied it; nothing ran.
    Denied,
    /// Held for a reviewer; nothing ran yet.
    PendingReview,
    /// A reviewer approved it; `approved_execution_id` ran the code.
    Approved,
    /// A reviewer rejected it; nothing ran.
    Rejected,
    /// Nobody reviewed it in time; nothing ran.
    Expired,
    /// Host admission control refused it; nothing ran.
    Refused,
    /// The service stopped while it ran.
    Interrupted,
}

/// One entry of the event stream.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    Output(Stream, String),
    Usage(Usage),
    Status(Value),
}

impl StreamEvent {
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::Output(Stream::Stdout, _) => "stdout",
            StreamEvent::Output(Stream::Stderr, _) => "stderr",
            StreamEvent::Usage(_) => "usage",
            StreamEvent::Status(_) => "status",
        }
    }

    pub fn data(&self, seq: usize) -> Value {
        match self {
            StreamEvent::Output(_, text) => json!({ "seq": seq, "data": text }),
            StreamEvent::Usage(u) => json!({ "seq": seq, "usage": u }),
            StreamEvent::Status(v) => {
                let mut v = v.clone();
                if let Some(o) = v.as_object_mut() {
                    o.insert("seq".into(), json!(seq));
                }
                v
            }
        }
    }
}

/// Mutable state of one execution.
#[derive(Debug)]
pub struct ExecState {
    pub status: Status,
    pub verdict: Option<Verdict>,
    pub decided: bool,
    pub started: bool,
    pub done: bool,
    pub events: Vec<StreamEvent>,
    pub result: Option<Arc<ExecutionResult>>,
    pub review_id: Option<String>,
    pub approved_execution_id: Option<String>,
    pub finished_at: Option<Instant>,
}

/// One execution known to this process.
#[derive(Debug)]
pub struct Exec {
    pub id: Uuid,
    pub tenant: String,
    pub key_id: String,
    pub language: String,
    pub policy: String,
    pub created_at: DateTime<Utc>,
    pub cancel: CancelToken,
    /// Set when this execution runs code a reviewer approved: (held id, reviewer, comment).
    pub approval: Option<(String, String, String)>,
    state: Mutex<ExecState>,
    changed: watch::Sender<u64>,
}

impl Exec {
    pub fn new(
        id: Uuid,
        tenant: &str,
        key_id: &str,
        language: &str,
        policy: &str,
        approval: Option<(String, String, String)>,
    ) -> Arc<Exec> {
        Arc::new(Exec {
            id,
            tenant: tenant.into(),
            key_id: key_id.into(),
            language: language.into(),
            policy: policy.into(),
            created_at: Utc::now(),
            cancel: CancelToken::new(),
            approval,
            state: Mutex::new(ExecState {
                status: Status::Pending,
                verdict: None,
                decided: false,
                started: false,
                done: false,
                events: Vec::new(),
                result: None,
                review_id: None,
                approved_execution_id: None,
                finished_at: None,
            }),
            changed: watch::channel(0).0,
        })
    }

    /// The state, even if a panicking holder poisoned the lock (the data stays consistent:
    /// every update is a plain assignment).
    pub fn state(&self) -> MutexGuard<'_, ExecState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `f` to the state and wakes every waiter.
    pub fn update(&self, f: impl FnOnce(&mut ExecState)) {
        {
            let mut s = self.state();
            f(&mut s);
        }
        self.changed.send_modify(|v| *v += 1);
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Waits until `cond` holds or `timeout` passes; returns whether it holds.
    pub async fn wait_for(&self, timeout: Duration, cond: impl Fn(&ExecState) -> bool) -> bool {
        let mut rx = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if cond(&self.state()) {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return cond(&self.state()),
            }
        }
    }
}

/// Every execution this process knows, by id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    map: Arc<Mutex<HashMap<Uuid, Arc<Exec>>>>,
}

impl Registry {
    fn map(&self) -> MutexGuard<'_, HashMap<Uuid, Arc<Exec>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, e: Arc<Exec>) {
        self.map().insert(e.id, e);
    }

    pub fn get(&self, id: &Uuid) -> Option<Arc<Exec>> {
        self.map().get(id).cloned()
    }

    /// Executions not yet done.
    pub fn active(&self) -> Vec<Arc<Exec>> {
        self.map()
            .values()
            .filter(|e| !e.state().done)
            .cloned()
            .collect()
    }

    /// Executions currently inside the sandbox.
    pub fn running(&self) -> usize {
        self.map()
            .values()
            .filter(|e| {
                let s = e.state();
                s.started && !s.done
            })
            .count()
    }

    /// Drops finished entries older than `keep`.
    pub fn evict(&self, keep: Duration) {
        self.map().retain(|_, e| {
            let s = e.state();
            !(s.done && s.finished_at.is_some_and(|t| t.elapsed() > keep))
        });
    }
}

/// Feeds an execution's event list while the program runs.
pub struct ExecSink(pub Arc<Exec>);

impl OutputSink for ExecSink {
    fn chunk(&mut self, stream: Stream, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes).into_owned();
        self.0
            .update(|s| s.events.push(StreamEvent::Output(stream, text)));
    }

    fn usage(&mut self, usage: &Usage) {
        let u = *usage;
        self.0.update(|s| s.events.push(StreamEvent::Usage(u)));
    }
}

/// Passes every step to the audit recorder and mirrors decisions and starts
/// into the registry; for approved runs, records the approval right after
/// the new execution's `received` event.
pub struct ServerRecorder {
    pub inner: Arc<dyn Recorder>,
    pub registry: Registry,
    pub audit: crate::audit::AuditLog,
}

impl Recorder for ServerRecorder {
    fn record<'a>(&'a self, id: Uuid, step: Step<'a>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let entry = self.registry.get(&id);
            if let (Step::Decided(d, _), Some(e)) = (&step, &entry) {
                let v = d.verdict;
                e.update(|s| {
                    s.verdict = Some(v);
                    s.decided = true;
                });
            }
            let is_received = matches!(step, Step::Received { .. });
            let is_started = matches!(step, Step::Started { .. });
            let r = self.inner.record(id, step).await;
            // `running` (and the 202 that reports it) only once the start
            // record is durable: a crash right after the answer must not lose
            // an execution the caller holds an id for.
            if is_started && r.is_ok() {
                if let Some(e) = &entry {
                    e.update(|s| {
                        s.started = true;
                        s.status = Status::Running;
                    });
                }
            }
            if is_received {
                if let Some((held, reviewer, comment)) =
                    entry.as_ref().and_then(|e| e.approval.clone())
                {
                    let linked = self
                        .audit
                        .event(
                            id,
                            EventKind::Reviewed,
                            json!({
                                "decision": "approved",
                                "approves_execution_id": held,
                                "reviewer": reviewer,
                                "comment": comment,
                            }),
                        )
                        .await
                        .map_err(|e| e.to_string());
                    return r.and(linked);
                }
            }
            r
        })
    }
}

/// The status an ended execution gets from its result.
pub fn final_status(r: &ExecutionResult) -> Status {
    match r.termination_reason {
        TerminationReason::Denied if r.verdict == Verdict::Review => Status::PendingReview,
        TerminationReason::Denied => Status::Denied,
        TerminationReason::HostOverloaded => Status::Refused,
        TerminationReason::Interrupted => Status::Interrupted,
        _ => Status::Completed,
    }
}
