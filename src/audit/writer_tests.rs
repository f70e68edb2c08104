//! The writer against a store that goes away: records wait in the spool,
//! flushes fail while they wait (so nothing starts), and when the store
//! returns they are appended in order, exactly once, even when a commit's
//! outcome was unknown (committed, then the connection failed).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::audit::chain::ChainRow;
use crate::audit::store::{ExecRow, NewRow, RowFilter, Store};

const UP: u8 = 0;
const DOWN: u8 = 1;
/// Commits, then reports a lost connection: the outcome looks unknown.
const COMMIT_THEN_FAIL: u8 = 2;

struct Flaky {
    inner: DynStore,
    mode: AtomicU8,
}

fn down() -> AuditError {
    AuditError::Database {
        op: "commit append",
        source: sqlx::Error::PoolTimedOut,
    }
}

impl Store for Flaky {
    fn commit_batch<'a>(&'a self, ops: &'a [Op]) -> BoxFuture<'a, Result<(), AuditError>> {
        Box::pin(async move {
            match self.mode.load(Ordering::SeqCst) {
                UP => self.inner.commit_batch(ops).await,
                DOWN => Err(down()),
                _ => {
                    self.inner.commit_batch(ops).await?;
                    Err(AuditError::Database {
                        op: "commit append",
                        source: sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()),
                    })
                }
            }
        })
    }
    fn chain_page<'a>(
        &'a self,
        from_seq: i64,
        since: Option<&'a str>,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<ChainRow>, AuditError>> {
        self.inner.chain_page(from_seq, since, limit)
    }
    fn events_of<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Vec<ChainRow>, AuditError>> {
        self.inner.events_of(id)
    }
    fn event_at<'a>(&'a self, seq: i64) -> BoxFuture<'a, Result<Option<ChainRow>, AuditError>> {
        self.inner.event_at(seq)
    }
    fn has_event<'a>(
        &'a self,
        execution_id: Option<&'a str>,
        kind: &'a str,
        at: &'a str,
    ) -> BoxFuture<'a, Result<bool, AuditError>> {
        Box::pin(async move {
            if self.mode.load(Ordering::SeqCst) == DOWN {
                return Err(down());
            }
            self.inner.has_event(execution_id, kind, at).await
        })
    }
    fn head(&self) -> BoxFuture<'_, Result<(i64, String), AuditError>> {
        self.inner.head()
    }
    fn first_seq(&self) -> BoxFuture<'_, Result<Option<i64>, AuditError>> {
        self.inner.first_seq()
    }
    fn execution<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<ExecRow>, AuditError>> {
        self.inner.execution(id)
    }
    fn executions_page<'a>(
        &'a self,
        filter: &'a RowFilter,
        after: Option<(&'a str, &'a str)>,
        descending: bool,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<ExecRow>, AuditError>> {
        self.inner.executions_page(filter, after, descending, limit)
    }
    fn unfinished(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, AuditError>> {
        self.inner.unfinished()
    }
    fn writers(&self) -> BoxFuture<'_, Result<Vec<WriterRow>, AuditError>> {
        self.inner.writers()
    }
    fn upsert_writer<'a>(
        &'a self,
        w: &'a WriterRow,
        started_at: &'a str,
    ) -> BoxFuture<'a, Result<(), AuditError>> {
        self.inner.upsert_writer(w, started_at)
    }
    fn delete_writer<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), AuditError>> {
        self.inner.delete_writer(id)
    }
    fn prune(&self, below_seq: i64) -> BoxFuture<'_, Result<u64, AuditError>> {
        self.inner.prune(below_seq)
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        self.inner.close()
    }
}

fn event(id: &str, kind: &'static str, n: u32) -> PendingEvent {
    PendingEvent {
        execution_id: Some(id.into()),
        at: format!("2026-01-01T00:00:00.{n:06}Z"),
        kind,
        payload: "{}".into(),
    }
}

fn begin(id: &str) -> Op {
    Op::Begin {
        row: Box::new(NewRow {
            id: id.into(),
            tenant: "t".into(),
            submitted_at: "2026-01-01T00:00:00.000000Z".into(),
            language: "python".into(),
            code_size: 0,
            code_sha256: String::new(),
            code_sealed: Vec::new(),
            code_key_id: "k".into(),
            writer_id: "w".into(),
            stdin: None,
        }),
        event: event(id, "received", 0),
    }
}

fn finished(id: &str, n: u32) -> Op {
    Op::Update {
        id: id.into(),
        update: Box::new(RowUpdate::Finished {
            exit_code: Some(0),
            reason: "exited".into(),
            spec: "null".into(),
            usage: "{}".into(),
            durations: "{}".into(),
            stdout_truncated: false,
            stderr_truncated: false,
            finished_at: "2026-01-01T00:00:01.000000Z".into(),
        }),
        event: event(id, "finished", n),
    }
}

struct Harness {
    tx: mpsc::Sender<Msg>,
    flaky: Arc<Flaky>,
    status: Arc<SpoolStatus>,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        let inner: DynStore = Arc::new(super::super::sqlite::connect(&url).await.expect("db"));
        let flaky = Arc::new(Flaky {
            inner,
            mode: AtomicU8::new(UP),
        });
        let store: DynStore = flaky.clone();
        let (tx, rx) = mpsc::channel(64);
        let status = Arc::new(SpoolStatus::default());
        let me = WriterInfo {
            id: "w".into(),
            host: "h".into(),
            pid: 1,
            started_at: "2026-01-01T00:00:00.000000Z".into(),
            heartbeat: Duration::from_secs(3600),
            lease: Duration::from_secs(3600),
        };
        tokio::spawn(run(
            store,
            rx,
            Arc::new(Failures::default()),
            status.clone(),
            me,
        ));
        Harness {
            tx,
            flaky,
            status,
            _dir: dir,
        }
    }

    fn mode(&self, m: u8) {
        self.flaky.mode.store(m, Ordering::SeqCst);
    }

    async fn op(&self, op: Op) -> Result<(), AuditError> {
        let (rtx, rrx) = oneshot::channel();
        self.tx
            .send(Msg::Op {
                op,
                reply: Some(rtx),
            })
            .await
            .expect("send");
        rrx.await.expect("reply")
    }

    async fn flush(&self) -> Result<(), AuditError> {
        let (rtx, rrx) = oneshot::channel();
        self.tx.send(Msg::Flush(rtx)).await.expect("send");
        rrx.await.expect("reply")
    }

    async fn kinds(&self, id: &str) -> Vec<String> {
        self.flaky
            .inner
            .events_of(id)
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    /// Waits until the spool is empty; false if it stays full.
    async fn drained(&self) -> bool {
        for _ in 0..100 {
            if self.status.degraded().is_none() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

#[tokio::test]
async fn records_wait_while_the_store_is_down_and_are_appended_in_order_once() {
    let h = Harness::new().await;
    h.op(begin("a")).await.expect("begin while up");

    h.mode(DOWN);
    let e = h
        .op(Op::Event(event("a", "started", 1)))
        .await
        .expect_err("the store is down");
    assert!(matches!(e, AuditError::Pending(_)), "{e}");
    // A start must not be allowed while anything waits.
    assert!(matches!(h.flush().await, Err(AuditError::Pending(_))));
    let e = h.op(finished("a", 2)).await.expect_err("still down");
    assert!(e.to_string().contains("pending"), "{e}");
    assert!(h.status.degraded().is_some());
    // The heartbeat-free writer keeps both, in order, and nothing reached the store.
    assert_eq!(h.kinds("a").await, ["received"]);

    // The store comes back but each commit's answer is lost: nothing twice.
    h.mode(COMMIT_THEN_FAIL);
    assert!(h.drained().await, "the spool never drained");
    h.mode(UP);
    h.flush().await.expect("flush once drained");
    assert_eq!(h.kinds("a").await, ["received", "started", "finished"]);
}

#[tokio::test]
async fn an_unknown_outcome_on_the_normal_path_is_not_appended_twice() {
    let h = Harness::new().await;
    h.mode(COMMIT_THEN_FAIL);
    // Committed, then the connection "failed": the retry finds it and answers Ok.
    h.op(begin("b")).await.expect("recognised as committed");
    h.op(finished("b", 1))
        .await
        .expect("recognised as committed");
    h.mode(UP);
    h.flush().await.expect("flush");
    assert_eq!(h.kinds("b").await, ["received", "finished"]);
}

#[tokio::test]
async fn a_logical_error_is_reported_not_spooled() {
    let h = Harness::new().await;
    // An update of an execution the store does not know: replaying would only repeat it.
    let e = h.op(finished("nobody", 1)).await.expect_err("unknown");
    assert!(matches!(e, AuditError::UnknownExecution(_)), "{e}");
    assert!(h.status.degraded().is_none());
    h.flush().await.expect("nothing waits");
}
