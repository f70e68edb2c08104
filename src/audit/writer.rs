//! The single writer task of a process: every append goes through it, so
//! events of concurrent executions are serialised into one chain. It batches
//! whatever is queued into one transaction (one fsync for many events), keeps
//! a heartbeat row so other processes can tell it is alive, and periodically
//! marks executions of dead writers as `interrupted`.
//!
//! It must not decide what is recorded; it only orders and commits [`Op`]s.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::store::{DynStore, Op, PendingEvent, RowUpdate, WriterRow};
use super::AuditError;

/// Most ops committed in one transaction.
const MAX_BATCH: usize = 512;

pub(crate) type Reply = oneshot::Sender<Result<(), AuditError>>;

pub(crate) enum Msg {
    Op { op: Op, reply: Option<Reply> },
    Flush(Reply),
}

impl Msg {
    fn has_waiter(&self) -> bool {
        matches!(self, Msg::Op { reply: Some(_), .. } | Msg::Flush(_))
    }
}

/// Longest time an op nobody waits for stays uncommitted.
const GROUP_COMMIT_DELAY: Duration = Duration::from_millis(5);

/// Failures of ops nobody waited for, reported by the next `finish`/`flush`.
#[derive(Debug, Default)]
pub(crate) struct Failures {
    list: Mutex<Vec<(Option<String>, String)>>,
}

impl Failures {
    fn push(&self, id: Option<String>, message: String) {
        if let Ok(mut l) = self.list.lock() {
            l.push((id, message));
        }
    }

    /// Takes the failures of one execution, or all when `id` is `None`.
    pub(crate) fn take(&self, id: Option<&str>) -> Vec<String> {
        let Ok(mut l) = self.list.lock() else {
            return Vec::new();
        };
        let (taken, kept): (Vec<_>, Vec<_>) = l
            .drain(..)
            .partition(|(eid, _)| id.is_none() || eid.as_deref() == id);
        *l = kept;
        taken.into_iter().map(|(_, m)| m).collect()
    }
}

/// Identity of this writer process.
#[derive(Debug, Clone)]
pub(crate) struct WriterInfo {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub started_at: String,
    pub heartbeat: Duration,
    pub lease: Duration,
}

fn op_execution(op: &Op) -> Option<String> {
    match op {
        Op::Begin { row, .. } => Some(row.id.clone()),
        Op::Update { id, .. } => Some(id.clone()),
        Op::Event(e) => e.execution_id.clone(),
    }
}

async fn commit_with_retry(store: &DynStore, ops: &[Op]) -> Result<(), AuditError> {
    let mut attempt = 0u32;
    loop {
        match store.commit_batch(ops).await {
            Ok(()) => return Ok(()),
            // Transient contention (busy database, lost connection) is retried;
            // a logical error (unknown execution) is not.
            Err(e @ AuditError::Database { .. }) if attempt < 4 => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "audit append failed, retrying");
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn process(store: &DynStore, batch: Vec<Msg>, failures: &Failures) {
    let mut ops = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    let mut flushes = Vec::new();
    for msg in batch {
        match msg {
            Msg::Op { op, reply } => {
                ops.push(op);
                replies.push(reply);
            }
            Msg::Flush(r) => flushes.push(r),
        }
    }
    if !ops.is_empty() {
        match commit_with_retry(store, &ops).await {
            Ok(()) => {
                for r in replies.into_iter().flatten() {
                    let _ = r.send(Ok(()));
                }
            }
            Err(batch_err) => {
                // Isolate the failing op so one bad request does not lose the others.
                let single = ops.len() == 1;
                for (op, reply) in ops.into_iter().zip(replies) {
                    let result = if single {
                        Err(batch_err.to_cloneable())
                    } else {
                        commit_with_retry(store, std::slice::from_ref(&op)).await
                    };
                    if let Err(e) = result {
                        tracing::error!(error = %e, "audit append failed");
                        match reply {
                            Some(r) => {
                                let _ = r.send(Err(e));
                            }
                            None => failures.push(op_execution(&op), e.to_string()),
                        }
                    } else if let Some(r) = reply {
                        let _ = r.send(Ok(()));
                    }
                }
            }
        }
    }
    for r in flushes {
        let pending = failures.take(None);
        let _ = r.send(if pending.is_empty() {
            Ok(())
        } else {
            Err(AuditError::Append(pending.join("; ")))
        });
    }
}

/// Writer ids opened by this process and not yet stopped: a writer row with our
/// own pid is alive only if it is one of these.
static LIVE_WRITERS: Mutex<Vec<String>> = Mutex::new(Vec::new());

pub(crate) fn register_live(id: &str) {
    if let Ok(mut l) = LIVE_WRITERS.lock() {
        l.push(id.to_string());
    }
}

fn unregister_live(id: &str) {
    if let Ok(mut l) = LIVE_WRITERS.lock() {
        l.retain(|x| x != id);
    }
}

fn live_in_this_process(id: &str) -> bool {
    LIVE_WRITERS
        .lock()
        .map(|l| l.iter().any(|x| x == id))
        .unwrap_or(false)
}

fn is_alive(w: &WriterRow, me: &WriterInfo, now: chrono::DateTime<chrono::Utc>) -> bool {
    if w.id == me.id {
        return true;
    }
    let fresh = chrono::DateTime::parse_from_rfc3339(&w.heartbeat_at)
        .map(|t| {
            now.signed_duration_since(t.with_timezone(&chrono::Utc))
                .to_std()
                .unwrap_or_default()
                < me.lease
        })
        .unwrap_or(false);
    if !fresh {
        return false;
    }
    if w.host == me.host {
        // Same host: the process must still exist and not be us under a reused pid
        // (pid 1 in a restarted container).
        if w.pid == me.pid {
            return live_in_this_process(&w.id);
        }
        return std::path::Path::new(&format!("/proc/{}", w.pid)).exists()
            || !std::path::Path::new("/proc/self").exists();
    }
    true
}

/// Marks executions whose writer is gone as `interrupted`; returns their ids
/// (so the caller can remove containers the dead process left).
pub(crate) async fn sweep_interrupted(
    store: &DynStore,
    me: &WriterInfo,
) -> Result<Vec<String>, AuditError> {
    let unfinished = store.unfinished().await?;
    if unfinished.is_empty() {
        return Ok(Vec::new());
    }
    let now = chrono::Utc::now();
    let writers = store.writers().await?;
    let alive: std::collections::HashSet<&str> = writers
        .iter()
        .filter(|w| is_alive(w, me, now))
        .map(|w| w.id.as_str())
        .collect();
    let at = super::format_time(now);
    let ops: Vec<Op> = unfinished
        .into_iter()
        .filter(|(_, writer)| !alive.contains(writer.as_str()))
        .map(|(id, writer)| {
            let payload = super::chain::canonical_json(&serde_json::json!({
                "termination_reason": "interrupted",
                "detected_by": me.id,
                "previous_writer": writer,
            }));
            Op::Update {
                id: id.clone(),
                update: Box::new(RowUpdate::Interrupted {
                    finished_at: at.clone(),
                }),
                event: PendingEvent {
                    execution_id: Some(id),
                    at: at.clone(),
                    kind: "interrupted",
                    payload,
                },
            }
        })
        .collect();
    let ids: Vec<String> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Update { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    for chunk in ops.chunks(MAX_BATCH) {
        commit_with_retry(store, chunk).await?;
    }
    for w in writers.iter().filter(|w| !alive.contains(w.id.as_str())) {
        store.delete_writer(&w.id).await?;
    }
    Ok(ids)
}

/// Runs until every sender is dropped, then drains and unregisters.
pub(crate) async fn run(
    store: DynStore,
    mut rx: mpsc::Receiver<Msg>,
    failures: Arc<Failures>,
    me: WriterInfo,
) {
    let mut tick = tokio::time::interval(me.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            biased;
            msg = rx.recv() => {
                let Some(first) = msg else { break };
                let mut batch = vec![first];
                // Group commit: ops nobody waits for may linger a few milliseconds so
                // that one commit (one fsync) covers a whole execution; a waiter
                // (finish, flush) or a full batch commits at once.
                let deadline = tokio::time::Instant::now() + GROUP_COMMIT_DELAY;
                loop {
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(m) => batch.push(m),
                            Err(_) => break,
                        }
                    }
                    if batch.len() >= MAX_BATCH || batch.iter().any(Msg::has_waiter) {
                        break;
                    }
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(m)) => batch.push(m),
                        Ok(None) | Err(_) => break,
                    }
                }
                process(&store, batch, &failures).await;
            }
            _ = tick.tick() => {
                let row = WriterRow {
                    id: me.id.clone(),
                    host: me.host.clone(),
                    pid: me.pid,
                    heartbeat_at: super::format_time(chrono::Utc::now()),
                };
                if let Err(e) = store.upsert_writer(&row, &me.started_at).await {
                    tracing::warn!(error = %e, "audit writer heartbeat failed");
                }
                if let Err(e) = sweep_interrupted(&store, &me).await {
                    tracing::warn!(error = %e, "marking interrupted executions failed");
                }
            }
        }
    }
    unregister_live(&me.id);
    if let Err(e) = store.delete_writer(&me.id).await {
        tracing::debug!(error = %e, "could not unregister audit writer");
    }
}
