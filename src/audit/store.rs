//! The `Store` trait: everything the audit log asks of a database, and one
//! SQL implementation shared by SQLite and Postgres.
//!
//! Both schemas are column-for-column identical and every statement uses
//! `$N` placeholders (SQLite accepts them too), so the implementation is
//! written once, as a macro instantiated per backend; the backends differ only
//! in how an appending transaction takes the chain lock (`BEGIN IMMEDIATE` on
//! SQLite, `SELECT ... FOR UPDATE` on the chain head row on Postgres).
//!
//! This module must not contain any statement that updates or deletes
//! `audit_events`, except the prefix deletion of [`Store::prune`], which the
//! database triggers only allow through `prune_allowance`.

use futures_util::future::BoxFuture;

use super::chain::ChainRow;
use super::AuditError;

/// A new `executions` row (code already sealed).
#[derive(Debug, Clone)]
pub(crate) struct NewRow {
    pub id: String,
    pub tenant: String,
    pub submitted_at: String,
    pub language: String,
    pub code_size: i64,
    pub code_sha256: String,
    pub code_sealed: Vec<u8>,
    pub code_key_id: String,
    pub writer_id: String,
    /// The program's stdin (size, digest, sealed), when it was given one.
    pub stdin: Option<SealedInput>,
}

/// The program's standard input as recorded: like the code, sealed at rest.
#[derive(Debug, Clone, Default)]
pub(crate) struct SealedInput {
    pub size: i64,
    pub sha256: String,
    pub sealed: Vec<u8>,
}

/// Column updates of an `executions` row that go with an event.
#[derive(Debug, Clone)]
pub(crate) enum RowUpdate {
    Decided {
        policy_name: String,
        policy_hash: String,
        enforcement: String,
        verdict: String,
        risk_score: i64,
        findings: String,
        rule_ids: String,
        reasons: String,
    },
    Finished {
        exit_code: Option<i64>,
        reason: String,
        spec: String,
        usage: String,
        durations: String,
        stdout_truncated: bool,
        stderr_truncated: bool,
        finished_at: String,
    },
    /// Only applies (and only emits its event) when the row is still unfinished.
    Interrupted { finished_at: String },
}

/// An event waiting for its seq and hash.
#[derive(Debug, Clone)]
pub(crate) struct PendingEvent {
    pub execution_id: Option<String>,
    pub at: String,
    pub kind: &'static str,
    /// Canonical JSON text.
    pub payload: String,
}

/// One unit of work for the writer; a batch of these is one transaction.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Begin {
        row: Box<NewRow>,
        event: PendingEvent,
    },
    Update {
        id: String,
        update: Box<RowUpdate>,
        event: PendingEvent,
    },
    Event(PendingEvent),
}

/// An `executions` row as stored.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExecRow {
    pub id: String,
    pub tenant: String,
    pub submitted_at: String,
    pub language: String,
    pub code_size: i64,
    pub code_sha256: String,
    pub code_sealed: Vec<u8>,
    pub code_key_id: String,
    pub writer_id: String,
    pub stdin_size: Option<i64>,
    pub stdin_sha256: Option<String>,
    pub stdin_sealed: Option<Vec<u8>>,
    pub policy_name: Option<String>,
    pub policy_hash: Option<String>,
    pub enforcement: Option<String>,
    pub verdict: Option<String>,
    pub risk_score: Option<i64>,
    pub findings: Option<String>,
    pub rule_ids: Option<String>,
    pub reasons: Option<String>,
    pub spec: Option<String>,
    pub exit_code: Option<i64>,
    pub termination_reason: Option<String>,
    pub usage: Option<String>,
    pub durations: Option<String>,
    pub stdout_truncated: Option<bool>,
    pub stderr_truncated: Option<bool>,
    pub finished_at: Option<String>,
}

/// Filter over `executions`, already in stored (text) form.
#[derive(Debug, Clone, Default)]
pub(crate) struct RowFilter {
    pub since: Option<String>,
    pub until: Option<String>,
    pub verdict: Option<String>,
    pub language: Option<String>,
    pub tenant: Option<String>,
    /// A `LIKE` pattern over the `rule_ids` JSON text; exactness is re-checked in Rust.
    pub rule_like: Option<String>,
    pub reason: Option<String>,
}

/// A registered writer process.
#[derive(Debug, Clone)]
pub(crate) struct WriterRow {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub heartbeat_at: String,
}

/// Everything the audit log needs from a database.
pub(crate) trait Store: Send + Sync + 'static {
    /// Applies `ops` in order in one transaction holding the chain lock.
    fn commit_batch<'a>(&'a self, ops: &'a [Op]) -> BoxFuture<'a, Result<(), AuditError>>;
    /// Events with `seq >= from_seq` (and `at >= since` when given), ascending, at most `limit`.
    fn chain_page<'a>(
        &'a self,
        from_seq: i64,
        since: Option<&'a str>,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<ChainRow>, AuditError>>;
    fn events_of<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Vec<ChainRow>, AuditError>>;
    fn event_at<'a>(&'a self, seq: i64) -> BoxFuture<'a, Result<Option<ChainRow>, AuditError>>;
    /// Whether an event of `kind` at `at` for `execution_id` is in the chain
    /// (how a spooled batch whose commit had an unknown outcome is recognised).
    fn has_event<'a>(
        &'a self,
        execution_id: Option<&'a str>,
        kind: &'a str,
        at: &'a str,
    ) -> BoxFuture<'a, Result<bool, AuditError>>;
    /// `(seq, hash)` of the chain head row.
    fn head(&self) -> BoxFuture<'_, Result<(i64, String), AuditError>>;
    fn first_seq(&self) -> BoxFuture<'_, Result<Option<i64>, AuditError>>;
    fn execution<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<ExecRow>, AuditError>>;
    /// Rows matching `filter`, ordered by `(submitted_at, id)`, after the keyset `after`.
    fn executions_page<'a>(
        &'a self,
        filter: &'a RowFilter,
        after: Option<(&'a str, &'a str)>,
        descending: bool,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<ExecRow>, AuditError>>;
    /// Ids and writer ids of executions without `finished_at`.
    fn unfinished(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, AuditError>>;
    fn writers(&self) -> BoxFuture<'_, Result<Vec<WriterRow>, AuditError>>;
    fn upsert_writer<'a>(
        &'a self,
        w: &'a WriterRow,
        started_at: &'a str,
    ) -> BoxFuture<'a, Result<(), AuditError>>;
    fn delete_writer<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), AuditError>>;
    /// Deletes events with `seq < below_seq` and executions with no events left; returns the number of events removed.
    fn prune(&self, below_seq: i64) -> BoxFuture<'_, Result<u64, AuditError>>;
    /// Closes the pool.
    fn close(&self) -> BoxFuture<'_, ()>;
}

pub(crate) const EXEC_COLUMNS: &str = "id, tenant, submitted_at, language, code_size, code_sha256, code_sealed, code_key_id, writer_id, stdin_size, stdin_sha256, stdin_sealed, policy_name, policy_hash, enforcement, verdict, risk_score, findings, rule_ids, reasons, spec, exit_code, termination_reason, usage, durations, stdout_truncated, stderr_truncated, finished_at";

/// Column list of the one `INSERT INTO executions` (values follow).
pub(crate) const INSERT_EXECUTIONS: &str = "INSERT INTO executions (id, tenant, submitted_at, language, code_size, code_sha256, code_sealed, code_key_id, writer_id, stdin_size, stdin_sha256, stdin_sealed, policy_name, policy_hash, enforcement, verdict, risk_score, findings, rule_ids, reasons, exit_code, termination_reason, spec, usage, durations, stdout_truncated, stderr_truncated, finished_at) ";

/// Rows per multi-row insert, well under the bind limits (SQLite 32766,
/// Postgres 65535) at 28 and 7 binds per row.
pub(crate) const EXEC_ROWS_PER_INSERT: usize = 256;
pub(crate) const EVENT_ROWS_PER_INSERT: usize = 1024;

/// An `executions` row to insert, with the decision and finish of the same
/// batch folded in.
pub(crate) struct NewExecRow<'a> {
    pub row: &'a NewRow,
    pub decided: Option<&'a RowUpdate>,
    pub finished: Option<&'a RowUpdate>,
}

/// How a batch is written: which rows are inserted whole, and which updates
/// were folded into them (they still append their events, in op order).
pub(crate) struct BatchPlan<'a> {
    pub new_rows: Vec<NewExecRow<'a>>,
    /// Per op: an update folded into a new row (no UPDATE statement).
    pub folded: Vec<bool>,
}

impl<'a> BatchPlan<'a> {
    pub(crate) fn new(ops: &'a [Op]) -> Self {
        let mut new_rows: Vec<NewExecRow<'a>> = Vec::new();
        let mut index: std::collections::HashMap<&'a str, usize> = std::collections::HashMap::new();
        let mut folded = vec![false; ops.len()];
        // An execution marked interrupted in the same batch keeps plain
        // statements in op order: that update depends on the stored row.
        let interrupted: std::collections::HashSet<&str> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Update { id, update, .. }
                    if matches!(update.as_ref(), RowUpdate::Interrupted { .. }) =>
                {
                    Some(id.as_str())
                }
                _ => None,
            })
            .collect();
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Begin { row, .. } => {
                    // A second begin of one id is kept as its own row: the
                    // insert then fails on the primary key, as it must.
                    index.entry(row.id.as_str()).or_insert(new_rows.len());
                    new_rows.push(NewExecRow {
                        row,
                        decided: None,
                        finished: None,
                    });
                }
                Op::Update { id, update, .. } => {
                    let Some(&at) = index.get(id.as_str()) else {
                        continue;
                    };
                    if interrupted.contains(id.as_str()) {
                        continue;
                    }
                    let target = &mut new_rows[at];
                    let slot = match update.as_ref() {
                        RowUpdate::Decided { .. } => &mut target.decided,
                        RowUpdate::Finished { .. } => &mut target.finished,
                        // Conditional on the stored row: always a real UPDATE.
                        RowUpdate::Interrupted { .. } => continue,
                    };
                    // A repeated update of one kind applies last-wins, as UPDATEs would.
                    *slot = Some(update);
                    folded[i] = true;
                }
                Op::Event(_) => {}
            }
        }
        BatchPlan { new_rows, folded }
    }
}

/// Writes the shared implementation of [`Store`] for one backend.
macro_rules! sql_store {
    ($store:ident, $db:ty, begin = $begin:literal, head = $head:literal) => {
        impl $store {
            fn db_err(op: &'static str) -> impl FnOnce(sqlx::Error) -> $crate::audit::AuditError {
                move |source| $crate::audit::AuditError::Database { op, source }
            }

            fn chain_row(row: &<$db as sqlx::Database>::Row) -> Result<$crate::audit::chain::ChainRow, sqlx::Error> {
                use sqlx::Row as _;
                Ok($crate::audit::chain::ChainRow {
                    seq: row.try_get("seq")?,
                    execution_id: row.try_get("execution_id")?,
                    at: row.try_get("at")?,
                    kind: row.try_get("kind")?,
                    payload: row.try_get("payload")?,
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                })
            }

            fn exec_row(row: &<$db as sqlx::Database>::Row) -> Result<$crate::audit::store::ExecRow, sqlx::Error> {
                use sqlx::Row as _;
                Ok($crate::audit::store::ExecRow {
                    id: row.try_get("id")?,
                    tenant: row.try_get("tenant")?,
                    submitted_at: row.try_get("submitted_at")?,
                    language: row.try_get("language")?,
                    code_size: row.try_get("code_size")?,
                    code_sha256: row.try_get("code_sha256")?,
                    code_sealed: row.try_get("code_sealed")?,
                    code_key_id: row.try_get("code_key_id")?,
                    writer_id: row.try_get("writer_id")?,
                    stdin_size: row.try_get("stdin_size")?,
                    stdin_sha256: row.try_get("stdin_sha256")?,
                    stdin_sealed: row.try_get("stdin_sealed")?,
                    policy_name: row.try_get("policy_name")?,
                    policy_hash: row.try_get("policy_hash")?,
                    enforcement: row.try_get("enforcement")?,
                    verdict: row.try_get("verdict")?,
                    risk_score: row.try_get("risk_score")?,
                    findings: row.try_get("findings")?,
                    rule_ids: row.try_get("rule_ids")?,
                    reasons: row.try_get("reasons")?,
                    spec: row.try_get("spec")?,
                    exit_code: row.try_get("exit_code")?,
                    termination_reason: row.try_get("termination_reason")?,
                    usage: row.try_get("usage")?,
                    durations: row.try_get("durations")?,
                    stdout_truncated: row.try_get("stdout_truncated")?,
                    stderr_truncated: row.try_get("stderr_truncated")?,
                    finished_at: row.try_get("finished_at")?,
                })
            }

            async fn commit_batch_impl(&self, ops: &[$crate::audit::store::Op]) -> Result<(), $crate::audit::AuditError> {
                let mut conn = self.pool.acquire().await.map_err(Self::db_err("begin append"))?;
                let result = Self::commit_batch_on(&mut conn, ops).await;
                if result.is_err() {
                    // A failed append can leave the connection inside a transaction
                    // the database already rolled back (SQLite on a full disk), on
                    // which sqlx then refuses to begin again: never reuse it.
                    conn.close_on_drop();
                }
                result
            }

            async fn commit_batch_on(
                conn: &mut sqlx::pool::PoolConnection<$db>,
                ops: &[$crate::audit::store::Op],
            ) -> Result<(), $crate::audit::AuditError> {
                use $crate::audit::store::{Op, RowUpdate};
                use sqlx::Row as _;
                // Few statements per batch: each one is a round trip (to SQLite's
                // worker thread, or over the network to Postgres), and those, not
                // the writes, dominated the cost of a commit. Rows of executions
                // begun in this batch are inserted once, with their decision and
                // finish folded in; events go in as multi-row inserts.
                let plan = $crate::audit::store::BatchPlan::new(ops);
                let mut tx = sqlx::Connection::begin_with(&mut **conn, $begin).await.map_err(Self::db_err("begin append"))?;
                let head = sqlx::query($head).fetch_one(&mut *tx).await.map_err(Self::db_err("lock chain head"))?;
                let mut seq: i64 = head.try_get("seq").map_err(Self::db_err("read chain head"))?;
                let mut hash: String = head.try_get("hash").map_err(Self::db_err("read chain head"))?;
                let start_seq = seq;
                for chunk in plan.new_rows.chunks($crate::audit::store::EXEC_ROWS_PER_INSERT) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new($crate::audit::store::INSERT_EXECUTIONS);
                    qb.push_values(chunk, |mut b, r| {
                        let row = r.row;
                        b.push_bind(row.id.clone())
                            .push_bind(row.tenant.clone())
                            .push_bind(row.submitted_at.clone())
                            .push_bind(row.language.clone())
                            .push_bind(row.code_size)
                            .push_bind(row.code_sha256.clone())
                            .push_bind(row.code_sealed.clone())
                            .push_bind(row.code_key_id.clone())
                            .push_bind(row.writer_id.clone())
                            .push_bind(row.stdin.as_ref().map(|i| i.size))
                            .push_bind(row.stdin.as_ref().map(|i| i.sha256.clone()))
                            .push_bind(row.stdin.as_ref().map(|i| i.sealed.clone()));
                        let d = match r.decided {
                            Some(RowUpdate::Decided { policy_name, policy_hash, enforcement, verdict, risk_score, findings, rule_ids, reasons }) => {
                                Some((policy_name, policy_hash, enforcement, verdict, *risk_score, findings, rule_ids, reasons))
                            }
                            _ => None,
                        };
                        b.push_bind(d.map(|d| d.0.clone()))
                            .push_bind(d.map(|d| d.1.clone()))
                            .push_bind(d.map(|d| d.2.clone()))
                            .push_bind(d.map(|d| d.3.clone()))
                            .push_bind(d.map(|d| d.4))
                            .push_bind(d.map(|d| d.5.clone()))
                            .push_bind(d.map(|d| d.6.clone()))
                            .push_bind(d.map(|d| d.7.clone()));
                        let f = match r.finished {
                            Some(RowUpdate::Finished { exit_code, reason, spec, usage, durations, stdout_truncated, stderr_truncated, finished_at }) => {
                                Some((*exit_code, reason, spec, usage, durations, *stdout_truncated, *stderr_truncated, finished_at))
                            }
                            _ => None,
                        };
                        b.push_bind(f.and_then(|f| f.0))
                            .push_bind(f.map(|f| f.1.clone()))
                            .push_bind(f.map(|f| f.2.clone()))
                            .push_bind(f.map(|f| f.3.clone()))
                            .push_bind(f.map(|f| f.4.clone()))
                            .push_bind(f.map(|f| f.5))
                            .push_bind(f.map(|f| f.6))
                            .push_bind(f.map(|f| f.7.clone()));
                    });
                    qb.build().execute(&mut *tx).await.map_err(Self::db_err("insert execution"))?;
                }
                let mut rows: Vec<(i64, &$crate::audit::store::PendingEvent, String, String)> = Vec::with_capacity(ops.len());
                for (i, op) in ops.iter().enumerate() {
                    let event = match op {
                        Op::Begin { event, .. } => Some(event),
                        Op::Update { event, .. } if plan.folded[i] => Some(event),
                        Op::Update { id, update, event } => {
                            let (affected, conditional) = match update.as_ref() {
                                RowUpdate::Decided {
                                    policy_name,
                                    policy_hash,
                                    enforcement,
                                    verdict,
                                    risk_score,
                                    findings,
                                    rule_ids,
                                    reasons,
                                } => (
                                    sqlx::query(
                                        "UPDATE executions SET policy_name = $2, policy_hash = $3, enforcement = $4, verdict = $5, \
                                         risk_score = $6, findings = $7, rule_ids = $8, reasons = $9 WHERE id = $1",
                                    )
                                    .bind(id.clone())
                                    .bind(policy_name.clone())
                                    .bind(policy_hash.clone())
                                    .bind(enforcement.clone())
                                    .bind(verdict.clone())
                                    .bind(*risk_score)
                                    .bind(findings.clone())
                                    .bind(rule_ids.clone())
                                    .bind(reasons.clone())
                                    .execute(&mut *tx)
                                    .await
                                    .map_err(Self::db_err("record decision"))?
                                    .rows_affected(),
                                    false,
                                ),
                                RowUpdate::Finished {
                                    exit_code,
                                    reason,
                                    spec,
                                    usage,
                                    durations,
                                    stdout_truncated,
                                    stderr_truncated,
                                    finished_at,
                                } => (
                                    sqlx::query(
                                        "UPDATE executions SET exit_code = $2, termination_reason = $3, spec = $4, usage = $5, \
                                         durations = $6, stdout_truncated = $7, stderr_truncated = $8, finished_at = $9 WHERE id = $1",
                                    )
                                    .bind(id.clone())
                                    .bind(*exit_code)
                                    .bind(reason.clone())
                                    .bind(spec.clone())
                                    .bind(usage.clone())
                                    .bind(durations.clone())
                                    .bind(*stdout_truncated)
                                    .bind(*stderr_truncated)
                                    .bind(finished_at.clone())
                                    .execute(&mut *tx)
                                    .await
                                    .map_err(Self::db_err("record finish"))?
                                    .rows_affected(),
                                    false,
                                ),
                                RowUpdate::Interrupted { finished_at } => (
                                    sqlx::query(
                                        "UPDATE executions SET termination_reason = 'interrupted', finished_at = $2 \
                                         WHERE id = $1 AND finished_at IS NULL",
                                    )
                                    .bind(id.clone())
                                    .bind(finished_at.clone())
                                    .execute(&mut *tx)
                                    .await
                                    .map_err(Self::db_err("mark interrupted"))?
                                    .rows_affected(),
                                    true,
                                ),
                            };
                            match (affected, conditional) {
                                (0, true) => None,
                                (0, false) => return Err($crate::audit::AuditError::UnknownExecution(id.clone())),
                                _ => Some(event),
                            }
                        }
                        Op::Event(event) => Some(event),
                    };
                    if let Some(e) = event {
                        seq += 1;
                        let canonical = $crate::audit::chain::canonical_event(
                            seq,
                            e.execution_id.as_deref(),
                            &e.at,
                            e.kind,
                            &e.payload,
                        );
                        let new_hash = $crate::audit::chain::event_hash(&hash, &canonical);
                        rows.push((seq, e, std::mem::replace(&mut hash, new_hash.clone()), new_hash));
                    }
                }
                for chunk in rows.chunks($crate::audit::store::EVENT_ROWS_PER_INSERT) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO audit_events (seq, execution_id, at, kind, payload, prev_hash, hash) ",
                    );
                    qb.push_values(chunk, |mut b, (seq, e, prev, new)| {
                        b.push_bind(*seq)
                            .push_bind(e.execution_id.clone())
                            .push_bind(e.at.clone())
                            .push_bind(e.kind)
                            .push_bind(e.payload.clone())
                            .push_bind(prev.clone())
                            .push_bind(new.clone());
                    });
                    qb.build().execute(&mut *tx).await.map_err(Self::db_err("append event"))?;
                }
                if seq != start_seq {
                    sqlx::query("UPDATE chain_head SET seq = $1, hash = $2 WHERE id = 1")
                        .bind(seq)
                        .bind(hash)
                        .execute(&mut *tx)
                        .await
                        .map_err(Self::db_err("advance chain head"))?;
                }
                tx.commit().await.map_err(Self::db_err("commit append"))
            }
        }

        impl $crate::audit::store::Store for $store {
            fn commit_batch<'a>(
                &'a self,
                ops: &'a [$crate::audit::store::Op],
            ) -> futures_util::future::BoxFuture<'a, Result<(), $crate::audit::AuditError>> {
                Box::pin(self.commit_batch_impl(ops))
            }

            fn chain_page<'a>(
                &'a self,
                from_seq: i64,
                since: Option<&'a str>,
                limit: i64,
            ) -> futures_util::future::BoxFuture<'a, Result<Vec<$crate::audit::chain::ChainRow>, $crate::audit::AuditError>> {
                Box::pin(async move {
                    // Two statements rather than `$2 IS NULL OR ...`, so the verify path
                    // is a plain primary-key range scan on both databases.
                    let rows = match since {
                        // The verify path: each backend reads a seq range its fastest way.
                        None => return self.chain_range(from_seq, limit).await,
                        Some(since) => sqlx::query(
                            "SELECT seq, execution_id, at, kind, payload, prev_hash, hash FROM audit_events \
                             WHERE seq >= $1 AND at >= $2 ORDER BY seq LIMIT $3",
                        )
                        .bind(from_seq)
                        .bind(since.to_string())
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await,
                    }
                    .map_err(Self::db_err("read events"))?;
                    rows.iter().map(Self::chain_row).collect::<Result<Vec<_>, _>>().map_err(Self::db_err("decode event"))
                })
            }

            fn events_of<'a>(
                &'a self,
                id: &'a str,
            ) -> futures_util::future::BoxFuture<'a, Result<Vec<$crate::audit::chain::ChainRow>, $crate::audit::AuditError>> {
                Box::pin(async move {
                    let rows = sqlx::query(
                        "SELECT seq, execution_id, at, kind, payload, prev_hash, hash FROM audit_events \
                         WHERE execution_id = $1 ORDER BY seq",
                    )
                    .bind(id.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Self::db_err("read events of execution"))?;
                    rows.iter().map(Self::chain_row).collect::<Result<Vec<_>, _>>().map_err(Self::db_err("decode event"))
                })
            }

            fn event_at<'a>(
                &'a self,
                seq: i64,
            ) -> futures_util::future::BoxFuture<'a, Result<Option<$crate::audit::chain::ChainRow>, $crate::audit::AuditError>> {
                Box::pin(async move {
                    let row = sqlx::query(
                        "SELECT seq, execution_id, at, kind, payload, prev_hash, hash FROM audit_events WHERE seq = $1",
                    )
                    .bind(seq)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(Self::db_err("read event"))?;
                    row.as_ref().map(Self::chain_row).transpose().map_err(Self::db_err("decode event"))
                })
            }

            fn has_event<'a>(
                &'a self,
                execution_id: Option<&'a str>,
                kind: &'a str,
                at: &'a str,
            ) -> futures_util::future::BoxFuture<'a, Result<bool, $crate::audit::AuditError>> {
                Box::pin(async move {
                    let q = match execution_id {
                        Some(id) => sqlx::query_scalar::<$db, i64>(
                            "SELECT COUNT(*) FROM audit_events WHERE execution_id = $1 AND kind = $2 AND at = $3",
                        )
                        .bind(id.to_string()),
                        None => sqlx::query_scalar::<$db, i64>(
                            "SELECT COUNT(*) FROM audit_events WHERE execution_id IS NULL AND kind = $1 AND at = $2",
                        ),
                    };
                    let n = q
                        .bind(kind.to_string())
                        .bind(at.to_string())
                        .fetch_one(&self.pool)
                        .await
                        .map_err(Self::db_err("look for a spooled event"))?;
                    Ok(n > 0)
                })
            }

            fn head(&self) -> futures_util::future::BoxFuture<'_, Result<(i64, String), $crate::audit::AuditError>> {
                Box::pin(async move {
                    use sqlx::Row as _;
                    let row = sqlx::query("SELECT seq, hash FROM chain_head WHERE id = 1")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(Self::db_err("read chain head"))?;
                    let seq: i64 = row.try_get("seq").map_err(Self::db_err("read chain head"))?;
                    let hash: String = row.try_get("hash").map_err(Self::db_err("read chain head"))?;
                    Ok((seq, hash))
                })
            }

            fn first_seq(&self) -> futures_util::future::BoxFuture<'_, Result<Option<i64>, $crate::audit::AuditError>> {
                Box::pin(async move {
                    use sqlx::Row as _;
                    let row = sqlx::query("SELECT MIN(seq) AS first FROM audit_events")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(Self::db_err("read first seq"))?;
                    row.try_get::<Option<i64>, _>("first").map_err(Self::db_err("read first seq"))
                })
            }

            fn execution<'a>(
                &'a self,
                id: &'a str,
            ) -> futures_util::future::BoxFuture<'a, Result<Option<$crate::audit::store::ExecRow>, $crate::audit::AuditError>> {
                Box::pin(async move {
                    let sql = format!("SELECT {} FROM executions WHERE id = $1", $crate::audit::store::EXEC_COLUMNS);
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(Self::db_err("read execution"))?;
                    row.as_ref().map(Self::exec_row).transpose().map_err(Self::db_err("decode execution"))
                })
            }

            fn executions_page<'a>(
                &'a self,
                filter: &'a $crate::audit::store::RowFilter,
                after: Option<(&'a str, &'a str)>,
                descending: bool,
                limit: i64,
            ) -> futures_util::future::BoxFuture<'a, Result<Vec<$crate::audit::store::ExecRow>, $crate::audit::AuditError>> {
                Box::pin(async move {
                    // The only dynamic parts are the constant column list and the sort
                    // direction; every value is a bind parameter.
                    let (cmp, dir) = if descending { ("<", "DESC") } else { (">", "ASC") };
                    let sql = format!(
                        "SELECT {cols} FROM executions WHERE \
                         ($1 IS NULL OR submitted_at >= $1) AND ($2 IS NULL OR submitted_at < $2) \
                         AND ($3 IS NULL OR verdict = $3) AND ($4 IS NULL OR language = $4) \
                         AND ($5 IS NULL OR tenant = $5) AND ($6 IS NULL OR rule_ids LIKE $6) \
                         AND ($7 IS NULL OR termination_reason = $7) \
                         AND ($8 IS NULL OR submitted_at {cmp} $8 OR (submitted_at = $8 AND id {cmp} $9)) \
                         ORDER BY submitted_at {dir}, id {dir} LIMIT $10",
                        cols = $crate::audit::store::EXEC_COLUMNS,
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(filter.since.clone())
                        .bind(filter.until.clone())
                        .bind(filter.verdict.clone())
                        .bind(filter.language.clone())
                        .bind(filter.tenant.clone())
                        .bind(filter.rule_like.clone())
                        .bind(filter.reason.clone())
                        .bind(after.map(|a| a.0.to_string()))
                        .bind(after.map(|a| a.1.to_string()))
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(Self::db_err("query executions"))?;
                    rows.iter().map(Self::exec_row).collect::<Result<Vec<_>, _>>().map_err(Self::db_err("decode execution"))
                })
            }

            fn unfinished(&self) -> futures_util::future::BoxFuture<'_, Result<Vec<(String, String)>, $crate::audit::AuditError>> {
                Box::pin(async move {
                    use sqlx::Row as _;
                    let rows = sqlx::query("SELECT id, writer_id FROM executions WHERE finished_at IS NULL")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(Self::db_err("find unfinished executions"))?;
                    rows.iter()
                        .map(|r| Ok((r.try_get("id")?, r.try_get("writer_id")?)))
                        .collect::<Result<Vec<_>, sqlx::Error>>()
                        .map_err(Self::db_err("find unfinished executions"))
                })
            }

            fn writers(&self) -> futures_util::future::BoxFuture<'_, Result<Vec<$crate::audit::store::WriterRow>, $crate::audit::AuditError>> {
                Box::pin(async move {
                    use sqlx::Row as _;
                    let rows = sqlx::query("SELECT id, host, pid, heartbeat_at FROM audit_writers")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(Self::db_err("list writers"))?;
                    rows.iter()
                        .map(|r| {
                            Ok($crate::audit::store::WriterRow {
                                id: r.try_get("id")?,
                                host: r.try_get("host")?,
                                pid: r.try_get("pid")?,
                                heartbeat_at: r.try_get("heartbeat_at")?,
                            })
                        })
                        .collect::<Result<Vec<_>, sqlx::Error>>()
                        .map_err(Self::db_err("list writers"))
                })
            }

            fn upsert_writer<'a>(
                &'a self,
                w: &'a $crate::audit::store::WriterRow,
                started_at: &'a str,
            ) -> futures_util::future::BoxFuture<'a, Result<(), $crate::audit::AuditError>> {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO audit_writers (id, host, pid, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                    )
                    .bind(w.id.clone())
                    .bind(w.host.clone())
                    .bind(w.pid)
                    .bind(started_at.to_string())
                    .bind(w.heartbeat_at.clone())
                    .execute(&self.pool)
                    .await
                    .map_err(Self::db_err("register writer"))?;
                    Ok(())
                })
            }

            fn delete_writer<'a>(&'a self, id: &'a str) -> futures_util::future::BoxFuture<'a, Result<(), $crate::audit::AuditError>> {
                Box::pin(async move {
                    sqlx::query("DELETE FROM audit_writers WHERE id = $1")
                        .bind(id.to_string())
                        .execute(&self.pool)
                        .await
                        .map_err(Self::db_err("unregister writer"))?;
                    Ok(())
                })
            }

            fn prune(&self, below_seq: i64) -> futures_util::future::BoxFuture<'_, Result<u64, $crate::audit::AuditError>> {
                Box::pin(async move {
                    let mut tx = self.pool.begin_with($begin).await.map_err(Self::db_err("begin prune"))?;
                    sqlx::query("INSERT INTO prune_allowance (below_seq) VALUES ($1)")
                        .bind(below_seq)
                        .execute(&mut *tx)
                        .await
                        .map_err(Self::db_err("allow prune"))?;
                    let removed = sqlx::query("DELETE FROM audit_events WHERE seq < $1")
                        .bind(below_seq)
                        .execute(&mut *tx)
                        .await
                        .map_err(Self::db_err("prune events"))?
                        .rows_affected();
                    sqlx::query("DELETE FROM prune_allowance")
                        .execute(&mut *tx)
                        .await
                        .map_err(Self::db_err("close prune"))?;
                    sqlx::query(
                        "DELETE FROM executions WHERE finished_at IS NOT NULL \
                         AND NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.execution_id = executions.id)",
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(Self::db_err("prune executions"))?;
                    tx.commit().await.map_err(Self::db_err("commit prune"))?;
                    Ok(removed)
                })
            }

            fn close(&self) -> futures_util::future::BoxFuture<'_, ()> {
                Box::pin(self.pool.close())
            }
        }
    };
}

pub(crate) use sql_store;

/// A boxed store shared by the log handle and its writer task.
pub(crate) type DynStore = std::sync::Arc<dyn Store>;

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> PendingEvent {
        PendingEvent {
            execution_id: Some(id.into()),
            at: String::new(),
            kind: "x",
            payload: "{}".into(),
        }
    }

    fn begin(id: &str) -> Op {
        Op::Begin {
            row: Box::new(NewRow {
                id: id.into(),
                tenant: String::new(),
                submitted_at: String::new(),
                language: String::new(),
                code_size: 0,
                code_sha256: String::new(),
                code_sealed: Vec::new(),
                code_key_id: String::new(),
                writer_id: String::new(),
                stdin: None,
            }),
            event: event(id),
        }
    }

    fn update(id: &str, update: RowUpdate) -> Op {
        Op::Update {
            id: id.into(),
            update: Box::new(update),
            event: event(id),
        }
    }

    fn finished() -> RowUpdate {
        RowUpdate::Finished {
            exit_code: Some(0),
            reason: "exited".into(),
            spec: String::new(),
            usage: String::new(),
            durations: String::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            finished_at: String::new(),
        }
    }

    #[test]
    fn updates_of_rows_begun_in_the_batch_are_folded_into_their_insert() {
        let ops = vec![
            begin("a"),
            Op::Event(event("a")),
            update("a", finished()),
            // Begun in an earlier batch: a real UPDATE (which also detects an unknown id).
            update("b", finished()),
            begin("c"),
            // Conditional on the stored row: c keeps plain statements in op order.
            update(
                "c",
                RowUpdate::Interrupted {
                    finished_at: String::new(),
                },
            ),
            update("c", finished()),
        ];
        let plan = BatchPlan::new(&ops);
        assert_eq!(plan.new_rows.len(), 2);
        assert_eq!(
            plan.folded,
            [false, false, true, false, false, false, false]
        );
        assert!(plan.new_rows[0].finished.is_some() && plan.new_rows[0].decided.is_none());
        assert!(plan.new_rows[1].finished.is_none());
    }
}
