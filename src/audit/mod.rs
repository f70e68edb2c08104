//! The audit log: the system of record for every step of every execution.
//!
//! Owns the `executions` table (one mutable row per execution, updated as the
//! run progresses) and the append-only, hash-chained `audit_events` table
//! (see [`chain`] for the canonical form an outside tool can re-verify), on
//! SQLite (default, embedded) or Postgres (shared by several replicas), with
//! the submitted code sealed at rest ([`seal`]).
//!
//! Tamper evidence: every value written to an `executions` column is also in
//! the payload of the event that wrote it (`received`, `decided`, `finished`,
//! `interrupted`), and events are chained, so `verify` proves the events and
//! [`AuditLog::show`] / `verify --rows` prove the row against them.
//!
//! Write path: [`AuditLog::begin`], [`AuditLog::event`] and
//! [`AuditLog::decided`] queue their op and return without waiting for the
//! commit (the pipeline is not slowed by fsyncs); [`AuditLog::finish`] and
//! [`AuditLog::flush`] return only when everything queued before them is
//! committed and report any earlier failure. All writes go through one writer
//! task per process ([`writer`]); across processes the database's chain lock
//! serialises them.
//!
//! This module must not run, analyse or decide anything; it only records.

pub mod chain;
pub mod migrate;
mod postgres;
mod read;
pub mod recorder;
pub mod seal;
mod spool;
mod sqlite;
mod store;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

pub use chain::{Break, ChainRow, GENESIS_HASH};
pub use read::{
    ExecutionRecord, ExportFormat, PruneReport, QueryFilter, RevealedInput, ShowRecord, Stats,
    VerifyOptions, VerifyReport,
};
pub use seal::SealKey;

use store::{DynStore, NewRow, Op, PendingEvent, RowUpdate};
use writer::{Failures, Msg, WriterInfo};

/// Termination reasons the rest of cordon uses (others are accepted and stored as given).
pub const TERMINATION_REASONS: &[&str] = &[
    "exited",
    "timeout",
    "cpu_time",
    "oom",
    "pids",
    "output_limit",
    "denied",
    "engine_error",
    "interrupted",
    "host_overloaded",
];

/// Errors of the audit log. None of them ever contains key material or code.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("invalid audit store URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot open the audit store: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("audit schema migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error(
        "the audit database has schema version {found}, newer than this cordon knows ({known}); refusing to start (upgrade cordon)"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("audit database error while trying to {op}: {source}")]
    Database {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("audit key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("no audit key is available (set CORDON_AUDIT_KEY_FILE to the key the records were sealed with)")]
    NoKey,
    #[error("sealing the code failed: {0}")]
    Seal(String),
    #[error("cannot reveal the code: {0}")]
    Unseal(String),
    #[error("cannot reveal the code: it was sealed with key {record_key_id}, but the loaded key is {loaded_key_id}")]
    WrongKey {
        record_key_id: String,
        loaded_key_id: String,
    },
    #[error("execution {0} is not in the audit log")]
    UnknownExecution(String),
    #[error("audit append failed: {0}")]
    Append(String),
    #[error("the audit writer has stopped")]
    WriterClosed,
    /// The store is unavailable: the record waits in the local spool and is
    /// appended, in order, when the store returns.
    #[error("audit record pending, kept in the local spool until the audit store returns: {0}")]
    Pending(String),
    /// The store is unavailable and the local spool is full: not recorded.
    #[error("the audit store is unavailable and the local spool is full; not recorded")]
    SpoolFull,
    #[error("this audit log handle was opened read-only")]
    ReadOnly,
    #[error("invalid audit request: {0}")]
    Invalid(String),
    #[error("writing the export failed: {0}")]
    Output(#[source] std::io::Error),
}

impl AuditError {
    /// A copy for a second receiver (database errors are not `Clone`).
    pub(crate) fn to_cloneable(&self) -> AuditError {
        match self {
            AuditError::UnknownExecution(id) => AuditError::UnknownExecution(id.clone()),
            AuditError::Pending(why) => AuditError::Pending(why.clone()),
            AuditError::SpoolFull => AuditError::SpoolFull,
            other => AuditError::Append(other.to_string()),
        }
    }
}

/// Kinds of audit events (stored as their snake_case names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Received,
    Analyzed,
    Decided,
    Started,
    LimitHit,
    Killed,
    Finished,
    Error,
    Interrupted,
    Checkpoint,
    /// A reviewer approved, rejected or let expire a held execution (server).
    Reviewed,
    /// A caller asked to cancel a running execution (server).
    Cancelled,
}

impl EventKind {
    pub const ALL: [EventKind; 12] = [
        EventKind::Received,
        EventKind::Analyzed,
        EventKind::Decided,
        EventKind::Started,
        EventKind::LimitHit,
        EventKind::Killed,
        EventKind::Finished,
        EventKind::Error,
        EventKind::Interrupted,
        EventKind::Checkpoint,
        EventKind::Reviewed,
        EventKind::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Received => "received",
            EventKind::Analyzed => "analyzed",
            EventKind::Decided => "decided",
            EventKind::Started => "started",
            EventKind::LimitHit => "limit_hit",
            EventKind::Killed => "killed",
            EventKind::Finished => "finished",
            EventKind::Error => "error",
            EventKind::Interrupted => "interrupted",
            EventKind::Checkpoint => "checkpoint",
            EventKind::Reviewed => "reviewed",
            EventKind::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the log lives and which key seals the code.
#[derive(Debug, Clone, Default)]
pub struct AuditConfig {
    /// `sqlite://PATH` or `postgres://...`; default: env `CORDON_AUDIT_URL`,
    /// else `sqlite://$XDG_DATA_HOME/cordon/audit.db`.
    pub url: Option<String>,
    /// Default: env `CORDON_AUDIT_KEY_FILE`, else `$XDG_DATA_HOME/cordon/audit.key`.
    pub key_file: Option<PathBuf>,
    /// How often the writer proves it is alive (default 5 s).
    pub heartbeat: Option<Duration>,
    /// After how long without a heartbeat a writer counts as dead and its
    /// unfinished executions become `interrupted` (default 30 s).
    pub lease: Option<Duration>,
}

impl AuditConfig {
    pub fn with_url(url: impl Into<String>) -> Self {
        AuditConfig {
            url: Some(url.into()),
            ..Default::default()
        }
    }

    /// The URL that will be used (config, env, default data dir).
    pub fn resolved_url(&self) -> Result<String, AuditError> {
        if let Some(u) = self.url.as_ref().filter(|u| !u.is_empty()) {
            return Ok(u.clone());
        }
        if let Ok(u) = std::env::var("CORDON_AUDIT_URL") {
            if !u.is_empty() {
                return Ok(u);
            }
        }
        Ok(format!(
            "sqlite://{}",
            data_dir()?.join("audit.db").display()
        ))
    }

    /// The key file that will be used (config, env, default data dir).
    pub fn resolved_key_file(&self) -> Result<PathBuf, AuditError> {
        if let Some(p) = &self.key_file {
            return Ok(p.clone());
        }
        if let Some(p) = std::env::var_os("CORDON_AUDIT_KEY_FILE").filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(p));
        }
        Ok(data_dir()?.join("audit.key"))
    }
}

/// `$XDG_DATA_HOME/cordon`, else `$HOME/.local/share/cordon`.
pub fn data_dir() -> Result<PathBuf, AuditError> {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("cordon"));
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h).join(".local/share/cordon"));
    }
    Err(AuditError::Invalid(
        "neither XDG_DATA_HOME nor HOME is set; pass --audit-url".into(),
    ))
}

/// A submitted execution, recorded by [`AuditLog::begin`].
#[derive(Debug, Clone)]
pub struct NewExecution {
    pub id: Uuid,
    pub tenant: String,
    pub language: String,
    pub code: Vec<u8>,
    /// The program's standard input; empty when it was given none (then
    /// nothing about stdin is recorded).
    pub stdin: Vec<u8>,
    pub submitted_at: DateTime<Utc>,
}

/// Associated data under which an execution's stdin is sealed: distinct from
/// the code's (the bare id), so the two ciphertexts cannot be swapped.
pub(crate) fn stdin_aad(execution_id: &str) -> String {
    format!("{execution_id}/stdin")
}

/// The decision, recorded by [`AuditLog::decided`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// allow | review | deny
    pub verdict: String,
    pub risk_score: i64,
    /// Findings as JSON (an array of objects).
    pub findings: Value,
    /// Distinct rule ids that matched (used by `query --rule` and `stats`).
    pub rule_ids: Vec<String>,
    /// Human-readable reasons for the verdict.
    pub reasons: Vec<String>,
    pub policy_name: String,
    pub policy_hash: String,
    /// enforce | audit
    pub enforcement: String,
}

/// How the execution ended, recorded by [`AuditLog::finish`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FinishRecord {
    pub exit_code: Option<i64>,
    /// One of [`TERMINATION_REASONS`].
    pub reason: String,
    /// The applied sandbox spec (`null` when nothing ran).
    pub spec: Value,
    /// Usage and peaks (memory, CPU, PIDs) when the monitor provides them.
    pub usage: Value,
    /// Durations per stage, e.g. `{"analyze_ms": 1.2, "run_ms": 230}`.
    pub durations: Value,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Inner {
    store: DynStore,
    key: Option<SealKey>,
    tx: Option<mpsc::Sender<Msg>>,
    failures: Arc<Failures>,
    spool: Arc<spool::SpoolStatus>,
    writer_id: String,
    backend: Backend,
    /// Executions of dead cordon processes this open marked `interrupted`.
    interrupted_on_open: Vec<String>,
}

/// Handle to the audit log; cheap to clone, shared by the pipeline and the server.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("backend", &self.inner.backend)
            .field("writer_id", &self.inner.writer_id)
            .field(
                "key_id",
                &self.inner.key.as_ref().map(|k| k.id().to_string()),
            )
            .finish()
    }
}

/// Formats a time the one way it is stored and hashed.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The URL without its password, for error messages.
pub fn redact_url(url: &str) -> String {
    // scheme://user:password@host -> scheme://user:***@host
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((creds, host)) = rest.split_once('@') {
            if let Some((user, _)) = creds.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_string()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

async fn connect(url: &str) -> Result<(DynStore, Backend), AuditError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok((Arc::new(postgres::connect(url).await?), Backend::Postgres))
    } else if url.starts_with("sqlite:") {
        Ok((Arc::new(sqlite::connect(url).await?), Backend::Sqlite))
    } else {
        Err(AuditError::InvalidUrl {
            url: redact_url(url),
            reason: "expected sqlite://PATH or postgres://...".into(),
        })
    }
}

impl AuditLog {
    /// Opens the log for writing: migrates (refusing a newer schema), loads or
    /// creates the key (printing the path once when created), registers this
    /// process as a writer, marks executions of dead writers `interrupted`, and
    /// starts the writer task. Must be called inside a Tokio runtime.
    pub async fn open(cfg: &AuditConfig) -> Result<AuditLog, AuditError> {
        let url = cfg.resolved_url()?;
        let key_path = cfg.resolved_key_file()?;
        let loaded = seal::load_or_create(&key_path, true)?.ok_or(AuditError::NoKey)?;
        if loaded.created {
            eprintln!(
                "cordon: created audit key {} (mode 0600); keep it safe: sealed code cannot be revealed without it",
                key_path.display()
            );
        }
        let (store, backend) = connect(&url).await?;
        let now = Utc::now();
        let writer_id = Uuid::new_v4().to_string();
        writer::register_live(&writer_id);
        let me = WriterInfo {
            id: writer_id,
            host: hostname(),
            pid: i64::from(std::process::id()),
            started_at: format_time(now),
            heartbeat: cfg.heartbeat.unwrap_or(Duration::from_secs(5)),
            lease: cfg.lease.unwrap_or(Duration::from_secs(30)),
        };
        store
            .upsert_writer(
                &store::WriterRow {
                    id: me.id.clone(),
                    host: me.host.clone(),
                    pid: me.pid,
                    heartbeat_at: me.started_at.clone(),
                },
                &me.started_at,
            )
            .await?;
        let interrupted = writer::sweep_interrupted(&store, &me).await?;
        if !interrupted.is_empty() {
            tracing::warn!(
                count = interrupted.len(),
                "marked executions of a stopped cordon process as interrupted"
            );
        }
        let (tx, rx) = mpsc::channel(4096);
        let failures = Arc::new(Failures::default());
        let spool = Arc::new(spool::SpoolStatus::default());
        tokio::spawn(writer::run(
            store.clone(),
            rx,
            failures.clone(),
            spool.clone(),
            me.clone(),
        ));
        Ok(AuditLog {
            inner: Arc::new(Inner {
                store,
                key: Some(loaded.key),
                tx: Some(tx),
                failures,
                spool,
                writer_id: me.id,
                backend,
                interrupted_on_open: interrupted,
            }),
        })
    }

    /// Opens the log for reading (query, show, verify, export, stats). Runs
    /// migrations so a fresh database reads as empty; loads the key only if the
    /// key file exists; never creates a key and never marks anything.
    pub async fn open_reader(cfg: &AuditConfig) -> Result<AuditLog, AuditError> {
        let url = cfg.resolved_url()?;
        let key = match cfg.resolved_key_file() {
            Ok(p) => seal::load_or_create(&p, false)?.map(|l| l.key),
            Err(_) => None,
        };
        let (store, backend) = connect(&url).await?;
        Ok(AuditLog {
            inner: Arc::new(Inner {
                store,
                key,
                tx: None,
                failures: Arc::new(Failures::default()),
                spool: Arc::new(spool::SpoolStatus::default()),
                writer_id: String::new(),
                backend,
                interrupted_on_open: Vec::new(),
            }),
        })
    }

    /// Ids of the executions of dead cordon processes that opening this log
    /// marked `interrupted`: their containers may still exist, and whoever
    /// can reach the engine should remove them.
    pub fn interrupted_on_open(&self) -> &[String] {
        &self.inner.interrupted_on_open
    }

    /// `Some(why)` while this process holds audit records the store has not
    /// taken yet (it is unavailable): new executions must not start, and
    /// [`AuditLog::flush`] fails until the spool is appended.
    pub fn degraded(&self) -> Option<String> {
        self.inner.spool.degraded()
    }

    /// Id of the loaded key, if any.
    pub fn key_id(&self) -> Option<&str> {
        self.inner.key.as_ref().map(|k| k.id())
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.inner.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    async fn send(&self, op: Op, wait: bool) -> Result<(), AuditError> {
        let tx = self.inner.tx.as_ref().ok_or(AuditError::ReadOnly)?;
        if wait {
            let (rtx, rrx) = oneshot::channel();
            tx.send(Msg::Op {
                op,
                reply: Some(rtx),
            })
            .await
            .map_err(|_| AuditError::WriterClosed)?;
            rrx.await.map_err(|_| AuditError::WriterClosed)?
        } else {
            tx.send(Msg::Op { op, reply: None })
                .await
                .map_err(|_| AuditError::WriterClosed)
        }
    }

    fn pending(id: Option<String>, kind: EventKind, payload: &Value) -> PendingEvent {
        PendingEvent {
            execution_id: id,
            at: format_time(Utc::now()),
            kind: kind.as_str(),
            payload: chain::canonical_json(payload),
        }
    }

    /// Creates the `executions` row (code sealed) and appends `received`.
    pub async fn begin(&self, e: NewExecution) -> Result<(), AuditError> {
        let key = self.inner.key.as_ref().ok_or(AuditError::NoKey)?;
        let id = e.id.hyphenated().to_string();
        let code_sha256 = hex::encode(Sha256::digest(&e.code));
        let sealed = key.seal(&id, &e.code)?;
        let submitted_at = format_time(e.submitted_at);
        let code_size = i64::try_from(e.code.len())
            .map_err(|_| AuditError::Invalid("code too large".into()))?;
        let mut payload = json!({
            "tenant": e.tenant,
            "language": e.language,
            "size": code_size,
            "code_sha256": code_sha256,
            "key_id": key.id(),
            "submitted_at": submitted_at,
        });
        let stdin = if e.stdin.is_empty() {
            None
        } else {
            let input = store::SealedInput {
                size: i64::try_from(e.stdin.len())
                    .map_err(|_| AuditError::Invalid("stdin too large".into()))?,
                sha256: hex::encode(Sha256::digest(&e.stdin)),
                sealed: key.seal(&stdin_aad(&id), &e.stdin)?,
            };
            payload["stdin_size"] = json!(input.size);
            payload["stdin_sha256"] = json!(input.sha256);
            Some(input)
        };
        let row = NewRow {
            id: id.clone(),
            tenant: e.tenant,
            submitted_at,
            language: e.language,
            code_size,
            code_sha256,
            code_sealed: sealed,
            code_key_id: key.id().to_string(),
            writer_id: self.inner.writer_id.clone(),
            stdin,
        };
        let event = Self::pending(Some(id), EventKind::Received, &payload);
        self.send(
            Op::Begin {
                row: Box::new(row),
                event,
            },
            false,
        )
        .await
    }

    /// Appends an event of `kind` for execution `id`. `received`, `decided`,
    /// `finished`, `interrupted` and `checkpoint` have their own methods
    /// (they also write the executions row) and are refused here.
    pub async fn event(&self, id: Uuid, kind: EventKind, payload: Value) -> Result<(), AuditError> {
        if matches!(
            kind,
            EventKind::Received
                | EventKind::Decided
                | EventKind::Finished
                | EventKind::Interrupted
                | EventKind::Checkpoint
        ) {
            return Err(AuditError::Invalid(format!(
                "`{kind}` events are written by their own method, not event()"
            )));
        }
        let event = Self::pending(Some(id.hyphenated().to_string()), kind, &payload);
        self.send(Op::Event(event), false).await
    }

    /// Records the decision in the row and as a `decided` event.
    pub async fn decided(&self, id: Uuid, d: DecisionRecord) -> Result<(), AuditError> {
        let findings = chain::canonical_json(&d.findings);
        let rule_ids = chain::canonical_json(&json!(d.rule_ids));
        let reasons = chain::canonical_json(&json!(d.reasons));
        let payload = json!({
            "verdict": d.verdict,
            "risk_score": d.risk_score,
            "findings": d.findings,
            "rule_ids": d.rule_ids,
            "reasons": d.reasons,
            "policy_name": d.policy_name,
            "policy_hash": d.policy_hash,
            "enforcement": d.enforcement,
        });
        let sid = id.hyphenated().to_string();
        let event = Self::pending(Some(sid.clone()), EventKind::Decided, &payload);
        let update = RowUpdate::Decided {
            policy_name: d.policy_name,
            policy_hash: d.policy_hash,
            enforcement: d.enforcement,
            verdict: d.verdict,
            risk_score: d.risk_score,
            findings,
            rule_ids,
            reasons,
        };
        self.send(
            Op::Update {
                id: sid,
                update: Box::new(update),
                event,
            },
            false,
        )
        .await
    }

    /// Records the end in the row and as a `finished` event, and returns once
    /// everything queued for this process so far is durably committed. Reports
    /// any earlier unwaited failure of this execution's events.
    pub async fn finish(&self, id: Uuid, f: FinishRecord) -> Result<(), AuditError> {
        if f.reason.is_empty()
            || !f
                .reason
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            return Err(AuditError::Invalid(format!(
                "termination reason {:?} is not a snake_case word",
                f.reason
            )));
        }
        let sid = id.hyphenated().to_string();
        let payload = json!({
            "exit_code": f.exit_code,
            "termination_reason": f.reason,
            "spec": f.spec,
            "usage": f.usage,
            "durations": f.durations,
            "stdout_truncated": f.stdout_truncated,
            "stderr_truncated": f.stderr_truncated,
        });
        let event = Self::pending(Some(sid.clone()), EventKind::Finished, &payload);
        let update = RowUpdate::Finished {
            exit_code: f.exit_code,
            reason: f.reason,
            spec: chain::canonical_json(&f.spec),
            usage: chain::canonical_json(&f.usage),
            durations: chain::canonical_json(&f.durations),
            stdout_truncated: f.stdout_truncated,
            stderr_truncated: f.stderr_truncated,
            finished_at: event.at.clone(),
        };
        let result = self
            .send(
                Op::Update {
                    id: sid.clone(),
                    update: Box::new(update),
                    event,
                },
                true,
            )
            .await;
        let earlier = self.inner.failures.take(Some(&sid));
        result?;
        if earlier.is_empty() {
            Ok(())
        } else {
            Err(AuditError::Append(earlier.join("; ")))
        }
    }

    /// Waits until everything queued so far is committed; reports (and clears)
    /// failures of queued ops nobody waited for.
    pub async fn flush(&self) -> Result<(), AuditError> {
        let tx = self.inner.tx.as_ref().ok_or(AuditError::ReadOnly)?;
        let (rtx, rrx) = oneshot::channel();
        tx.send(Msg::Flush(rtx))
            .await
            .map_err(|_| AuditError::WriterClosed)?;
        rrx.await.map_err(|_| AuditError::WriterClosed)?
    }

    /// Appends an event that belongs to no execution (checkpoints) and waits for it.
    async fn append_global(&self, kind: EventKind, payload: &Value) -> Result<(), AuditError> {
        let event = Self::pending(None, kind, payload);
        self.send(Op::Event(event), true).await
    }

    /// Flushes and closes the database pool. Other clones become unusable.
    pub async fn close(&self) -> Result<(), AuditError> {
        let result = if self.inner.tx.is_some() {
            self.flush().await
        } else {
            Ok(())
        };
        if self.inner.tx.is_some() {
            let _ = self.inner.store.delete_writer(&self.inner.writer_id).await;
        }
        self.inner.store.close().await;
        result
    }
}
