//! The writer's local spool: audit operations that could not be committed
//! because the store was unavailable (Postgres stopped, the SQLite disk
//! full, a connection lost), kept in memory in their original order and
//! appended to the chain, oldest first, when the store answers again.
//!
//! Why it exists: a program that already ran must not lose its outcome when
//! the database goes away mid-run. Its `finished` record waits here, and the
//! caller is told plainly that the record is pending. What must NOT go
//! through the spool is the permission to start: while anything is spooled,
//! [`crate::audit::AuditLog::flush`] fails, so no new program starts without
//! its durable start record.
//!
//! It is bounded (operations and bytes); past the bound new operations are
//! refused, which refuses their executions before anything runs. It is in
//! memory only: if the process dies while records are spooled, those
//! executions are marked `interrupted` by the next writer, as any execution
//! of a dead writer is.
//!
//! This module must not decide what is recorded nor talk to the database;
//! the writer task ([`super::writer`]) commits and replays.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::store::Op;
use super::writer::Reply;
use super::AuditError;

/// Most operations held (about 6 per execution).
pub(crate) const MAX_OPS: usize = 20_000;
/// Most bytes held (sealed code dominates).
pub(crate) const MAX_BYTES: usize = 64 << 20;

/// A batch as it was handed to the writer: one transaction when replayed.
pub(crate) struct Batch {
    pub ops: Vec<Op>,
    /// Per op, the caller still waiting for its outcome (answered at once
    /// with [`AuditError::Pending`] when the batch is spooled).
    pub replies: Vec<Option<Reply>>,
    /// A commit of exactly this batch was attempted and its outcome is
    /// unknown (a timeout or a connection lost during COMMIT): before a
    /// replay, the chain is checked for it so nothing is appended twice.
    pub attempted: bool,
}

impl Batch {
    pub fn new(ops: Vec<Op>, mut replies: Vec<Option<Reply>>) -> Self {
        // One reply slot per op, so the two always zip whole.
        replies.resize_with(ops.len(), || None);
        Batch {
            ops,
            replies,
            attempted: false,
        }
    }

    fn bytes(&self) -> usize {
        self.ops.iter().map(op_bytes).sum()
    }

    /// The identity of the batch's first event: (execution id, kind, at).
    pub fn first_event(&self) -> Option<(Option<&str>, &str, &str)> {
        self.ops.first().map(|op| {
            let e = match op {
                Op::Begin { event, .. } | Op::Update { event, .. } | Op::Event(event) => event,
            };
            (e.execution_id.as_deref(), e.kind, e.at.as_str())
        })
    }

    /// Answers every waiter with `err` (they learn the record is pending).
    pub fn answer_pending(&mut self, why: &str) {
        for r in self.replies.iter_mut().filter_map(Option::take) {
            let _ = r.send(Err(AuditError::Pending(why.to_string())));
        }
    }
}

fn op_bytes(op: &Op) -> usize {
    const OVERHEAD: usize = 256;
    match op {
        Op::Begin { row, event } => {
            OVERHEAD
                + row.code_sealed.len()
                + row.stdin.as_ref().map_or(0, |i| i.sealed.len())
                + event.payload.len()
        }
        Op::Update { event, .. } => OVERHEAD + 2 * event.payload.len(),
        Op::Event(e) => OVERHEAD + e.payload.len(),
    }
}

/// Spooled batches, oldest first.
#[derive(Default)]
pub(crate) struct Spool {
    batches: VecDeque<Batch>,
    ops: usize,
    bytes: usize,
}

impl Spool {
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops
    }

    /// Whether `batch` fits under the bound.
    pub fn fits(&self, batch: &Batch) -> bool {
        self.ops + batch.ops.len() <= MAX_OPS && self.bytes + batch.bytes() <= MAX_BYTES
    }

    /// Appends at the back (the caller checked [`Spool::fits`], except for a
    /// batch whose commit was attempted: that one is kept whatever the bound,
    /// since its outcome may already be owed to a program that ran).
    pub fn push_back(&mut self, batch: Batch) {
        self.ops += batch.ops.len();
        self.bytes += batch.bytes();
        self.batches.push_back(batch);
    }

    /// Puts batches back at the front, in the given order.
    pub fn push_front_all(&mut self, batches: Vec<Batch>) {
        for b in batches.into_iter().rev() {
            self.ops += b.ops.len();
            self.bytes += b.bytes();
            self.batches.push_front(b);
        }
    }

    pub fn pop_front(&mut self) -> Option<Batch> {
        let b = self.batches.pop_front()?;
        self.ops -= b.ops.len();
        self.bytes = self.bytes.saturating_sub(b.bytes());
        Some(b)
    }
}

/// What the rest of the process may know about the spool (shared with
/// [`crate::audit::AuditLog`] handles): how many operations wait, and why.
#[derive(Debug, Default)]
pub(crate) struct SpoolStatus {
    held: AtomicUsize,
    why: Mutex<String>,
}

impl SpoolStatus {
    pub fn set(&self, held: usize, why: Option<&str>) {
        self.held.store(held, Ordering::SeqCst);
        if let (Some(w), Ok(mut g)) = (why, self.why.lock()) {
            *g = w.to_string();
        }
    }

    /// `Some(reason)` while operations wait in the spool.
    pub fn degraded(&self) -> Option<String> {
        let held = self.held.load(Ordering::SeqCst);
        if held == 0 {
            return None;
        }
        let why = self.why.lock().map(|g| g.clone()).unwrap_or_default();
        Some(format!(
            "the audit store is unavailable ({why}); {held} audit records are spooled locally and will be appended when it returns"
        ))
    }
}

/// Whether `e` means the store cannot be reached or cannot write right now
/// (so the operation is worth keeping and replaying), as opposed to a
/// logical error that a replay would only repeat.
pub(crate) fn is_unavailable(e: &AuditError) -> bool {
    let AuditError::Database { source, .. } = e else {
        return matches!(e, AuditError::Pending(_));
    };
    match source {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        // A connection left in a bad transaction state (it is closed, not reused).
        | sqlx::Error::BeginFailed
        | sqlx::Error::InvalidSavePointStatement => true,
        sqlx::Error::Database(d) => {
            let code = d.code().map(|c| c.into_owned()).unwrap_or_default();
            if let Ok(n) = code.parse::<i64>() {
                // SQLite (extended code; the primary is the low byte): BUSY,
                // LOCKED, READONLY, IOERR, CORRUPT-free I/O trouble, FULL, CANTOPEN.
                return matches!(n & 0xff, 5 | 6 | 8 | 10 | 13 | 14);
            }
            // Postgres SQLSTATE classes: connection exception, insufficient
            // resources (disk full), operator intervention (shutdown), system error.
            ["08", "53", "57", "58"].iter().any(|c| code.starts_with(c))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::store::PendingEvent;

    fn ev(id: &str, payload: usize) -> Op {
        Op::Event(PendingEvent {
            execution_id: Some(id.into()),
            at: "2026-01-01T00:00:00.000000Z".into(),
            kind: "started",
            payload: "x".repeat(payload),
        })
    }

    #[test]
    fn keeps_order_and_counts() {
        let mut s = Spool::default();
        s.push_back(Batch::new(vec![ev("a", 1)], vec![None]));
        s.push_back(Batch::new(vec![ev("b", 1), ev("c", 1)], vec![None, None]));
        assert_eq!(s.len(), 3);
        let first = s.pop_front().unwrap();
        assert_eq!(first.first_event().unwrap().0, Some("a"));
        s.push_front_all(vec![first]);
        assert_eq!(s.len(), 3);
        assert_eq!(s.pop_front().unwrap().first_event().unwrap().0, Some("a"));
        assert_eq!(s.pop_front().unwrap().first_event().unwrap().0, Some("b"));
        assert!(s.is_empty());
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn refuses_past_its_bound() {
        let mut s = Spool::default();
        let big = Batch::new(vec![ev("a", MAX_BYTES / 2)], vec![None]);
        assert!(s.fits(&big));
        s.push_back(big);
        let again = Batch::new(vec![ev("b", MAX_BYTES / 2)], vec![None]);
        assert!(
            !s.fits(&again),
            "a second half of the byte bound must not fit"
        );
        let many = Batch::new((0..MAX_OPS).map(|_| ev("c", 0)).collect(), Vec::new());
        assert!(!s.fits(&many));
    }

    #[test]
    fn availability_errors_are_told_from_logical_ones() {
        let down = AuditError::Database {
            op: "commit append",
            source: sqlx::Error::PoolTimedOut,
        };
        assert!(is_unavailable(&down));
        assert!(!is_unavailable(&AuditError::UnknownExecution("x".into())));
        let status = SpoolStatus::default();
        assert!(status.degraded().is_none());
        status.set(3, Some("pool timed out"));
        let msg = status.degraded().unwrap();
        assert!(msg.contains("3 audit records are spooled"), "{msg}");
        status.set(0, None);
        assert!(status.degraded().is_none());
    }
}
