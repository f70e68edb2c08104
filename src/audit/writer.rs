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

use super::spool::{is_unavailable, Batch, Spool, SpoolStatus};
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

/// How long one commit (or the check for an earlier one) may take before its
/// outcome counts as unknown and the store as unavailable.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often spooled batches are offered to the store again.
const REPLAY_EVERY: Duration = Duration::from_millis(500);
/// How long a heartbeat may wait for the store.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);

fn timed_out(what: &str) -> AuditError {
    AuditError::Pending(format!(
        "the audit store did not answer within {COMMIT_TIMEOUT:?} ({what})"
    ))
}

/// Commits `batch` once, unless an earlier attempt whose outcome is unknown
/// (timeout, connection lost during COMMIT) already did: then the chain
/// holds its first event and nothing is appended twice.
async fn commit_once(store: &DynStore, batch: &mut Batch) -> Result<(), AuditError> {
    if batch.attempted {
        if let Some((id, kind, at)) = batch.first_event() {
            let found = tokio::time::timeout(COMMIT_TIMEOUT, store.has_event(id, kind, at))
                .await
                .map_err(|_| timed_out("checking an earlier commit"))??;
            if found {
                return Ok(());
            }
        }
    }
    batch.attempted = true;
    tokio::time::timeout(COMMIT_TIMEOUT, store.commit_batch(&batch.ops))
        .await
        .map_err(|_| timed_out("commit"))?
}

async fn commit_with_retry(store: &DynStore, batch: &mut Batch) -> Result<(), AuditError> {
    let t0 = std::time::Instant::now();
    let mut attempt = 0u32;
    loop {
        match commit_once(store, batch).await {
            Ok(()) => return Ok(()),
            // Transient contention (busy database, a connection lost once) is
            // retried briefly; a pool that timed out has already waited, and a
            // logical error (unknown execution) would only repeat.
            Err(e @ AuditError::Database { .. })
                if attempt < 4
                    && t0.elapsed() < Duration::from_secs(2)
                    && !matches!(
                        e,
                        AuditError::Database {
                            source: sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed,
                            ..
                        }
                    ) =>
            {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "audit append failed, retrying");
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Tells the waiters of a batch that could not be written, or keeps the
/// failure for the next `finish`/`flush` of its execution.
fn report(batch: Batch, e: &AuditError, failures: &Failures) {
    tracing::error!(error = %e, "audit append failed");
    for (op, reply) in batch.ops.iter().zip(batch.replies) {
        match reply {
            Some(r) => {
                let _ = r.send(Err(e.to_cloneable()));
            }
            None => failures.push(op_execution(op), e.to_string()),
        }
    }
}

/// Commits a batch, isolating a failing op so that one bad request does not
/// lose the others. When the store is unavailable, returns what is left to
/// write (in order) and why; nothing of it has been answered yet.
async fn commit_or_keep(
    store: &DynStore,
    mut batch: Batch,
    failures: &Failures,
) -> Result<(), (Vec<Batch>, String)> {
    match commit_with_retry(store, &mut batch).await {
        Ok(()) => {
            for r in batch.replies.into_iter().flatten() {
                let _ = r.send(Ok(()));
            }
            Ok(())
        }
        Err(e) if is_unavailable(&e) => Err((vec![batch], e.to_string())),
        Err(e) if batch.ops.len() == 1 => {
            report(batch, &e, failures);
            Ok(())
        }
        Err(_) => {
            // A logical error rolled the whole transaction back: each op alone.
            let mut singles = batch
                .ops
                .into_iter()
                .zip(batch.replies)
                .map(|(op, r)| Batch::new(vec![op], vec![r]))
                .collect::<Vec<_>>()
                .into_iter();
            while let Some(mut one) = singles.next() {
                match commit_with_retry(store, &mut one).await {
                    Ok(()) => {
                        for r in one.replies.into_iter().flatten() {
                            let _ = r.send(Ok(()));
                        }
                    }
                    Err(e) if is_unavailable(&e) => {
                        let mut rest = vec![one];
                        rest.extend(singles);
                        return Err((rest, e.to_string()));
                    }
                    Err(e) => report(one, &e, failures),
                }
            }
            Ok(())
        }
    }
}

/// Keeps `batches` at the front of the spool and tells their waiters the
/// record is pending.
fn keep(spool: &mut Spool, mut batches: Vec<Batch>, why: &str, status: &SpoolStatus) {
    for b in &mut batches {
        b.answer_pending(why);
    }
    spool.push_front_all(batches);
    status.set(spool.len(), Some(why));
}

/// Appends a new batch behind spooled ones without asking the store (it is
/// known to be away; the replay tick asks), or refuses it past the bound.
fn hold(spool: &mut Spool, mut batch: Batch, failures: &Failures, status: &SpoolStatus) {
    if spool.fits(&batch) {
        batch.answer_pending("earlier audit records are still waiting for the store");
        spool.push_back(batch);
        status.set(spool.len(), None);
    } else {
        report(batch, &AuditError::SpoolFull, failures);
    }
}

async fn process(
    store: &DynStore,
    batch: Vec<Msg>,
    failures: &Failures,
    spool: &mut Spool,
    status: &SpoolStatus,
) {
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
        let batch = Batch::new(ops, replies);
        if !spool.is_empty() {
            hold(spool, batch, failures, status);
        } else if let Err((rest, why)) = commit_or_keep(store, batch, failures).await {
            tracing::error!(error = %why, "the audit store is unavailable; spooling audit records until it returns");
            keep(spool, rest, &why, status);
        }
    }
    for r in flushes {
        // Nothing may count as durable while older records wait: this is what
        // stops a program from starting without its durable start record.
        if let Some(why) = status.degraded() {
            let _ = r.send(Err(AuditError::Pending(why)));
            continue;
        }
        let pending = failures.take(None);
        let _ = r.send(if pending.is_empty() {
            Ok(())
        } else {
            Err(AuditError::Append(pending.join("; ")))
        });
    }
}

/// Offers spooled batches to the store again, oldest first, until one fails.
async fn replay(store: &DynStore, spool: &mut Spool, failures: &Failures, status: &SpoolStatus) {
    let held = spool.len();
    while let Some(batch) = spool.pop_front() {
        if let Err((rest, why)) = commit_or_keep(store, batch, failures).await {
            spool.push_front_all(rest);
            status.set(spool.len(), Some(&why));
            return;
        }
    }
    status.set(0, None);
    tracing::warn!(
        records = held,
        "the audit store is available again; spooled audit records appended in order"
    );
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
        commit_with_retry(store, &mut Batch::new(chunk.to_vec(), Vec::new())).await?;
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
    status: Arc<SpoolStatus>,
    me: WriterInfo,
) {
    let mut spool = Spool::default();
    let mut tick = tokio::time::interval(me.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut retry = tokio::time::interval(REPLAY_EVERY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
                process(&store, batch, &failures, &mut spool, &status).await;
            }
            _ = retry.tick(), if !spool.is_empty() => {
                replay(&store, &mut spool, &failures, &status).await;
            }
            _ = tick.tick() => {
                let row = WriterRow {
                    id: me.id.clone(),
                    host: me.host.clone(),
                    pid: me.pid,
                    heartbeat_at: super::format_time(chrono::Utc::now()),
                };
                match tokio::time::timeout(HEARTBEAT_TIMEOUT, store.upsert_writer(&row, &me.started_at)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "audit writer heartbeat failed"),
                    Err(_) => tracing::warn!("audit writer heartbeat timed out"),
                }
                // While records are spooled the store is away; and an execution
                // whose end waits in the spool must not be taken for abandoned.
                if spool.is_empty() {
                    if let Err(e) = sweep_interrupted(&store, &me).await {
                        tracing::warn!(error = %e, "marking interrupted executions failed");
                    }
                }
            }
        }
    }
    if !spool.is_empty() {
        replay(&store, &mut spool, &failures, &status).await;
        if !spool.is_empty() {
            tracing::error!(
                records = spool.len(),
                "stopping with audit records the store never took; their executions will be marked interrupted by the next writer"
            );
        }
    }
    unregister_live(&me.id);
    if let Err(e) = store.delete_writer(&me.id).await {
        tracing::debug!(error = %e, "could not unregister audit writer");
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
