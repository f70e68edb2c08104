//! SQLite backend: one file, WAL journal, busy timeout, `synchronous = FULL`
//! so that a commit is on disk when it returns. Appending transactions start
//! with `BEGIN IMMEDIATE`, which takes the database write lock up front, so
//! concurrent processes on the same file serialise instead of forking the chain.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::store::sql_store;
use super::AuditError;

pub(crate) struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    begin = "BEGIN IMMEDIATE",
    head = "SELECT seq, hash FROM chain_head WHERE id = 1"
);

/// One event as `chain_range` reads it from SQLite's JSON aggregate.
type JsonEvent = (i64, Option<String>, String, String, String, String, String);

impl SqliteStore {
    /// A seq range for verify, as one JSON array built inside SQLite. sqlx
    /// hands SQLite rows from its worker thread to the caller one by one, and
    /// at a million events that hand-off, not SHA-256, dominated `verify`;
    /// one aggregate row per page removes it. Text round-trips exactly
    /// through JSON string escaping, so the hashes see the stored bytes.
    async fn chain_range(
        &self,
        from_seq: i64,
        limit: i64,
    ) -> Result<Vec<super::chain::ChainRow>, AuditError> {
        let json: Option<String> = sqlx::query_scalar(
            // CAST: a raw edit can store a BLOB in a text column, which JSON
            // cannot hold; as text it hashes wrong and breaks the chain at its seq.
            "SELECT json_group_array(json_array(seq, CAST(execution_id AS TEXT), CAST(at AS TEXT), \
             CAST(kind AS TEXT), CAST(payload AS TEXT), CAST(prev_hash AS TEXT), CAST(hash AS TEXT))) \
             FROM (SELECT seq, execution_id, at, kind, payload, prev_hash, hash FROM audit_events \
                   WHERE seq >= ?1 ORDER BY seq LIMIT ?2)",
        )
        .bind(from_seq)
        .bind(limit)
        .fetch_one(&self.pool)
        .await
        .map_err(Self::db_err("read events"))?;
        let events: Vec<JsonEvent> = serde_json::from_str(json.as_deref().unwrap_or("[]"))
            .map_err(|e| {
                AuditError::Invalid(format!("events from seq {from_seq} do not decode: {e}"))
            })?;
        let mut rows: Vec<super::chain::ChainRow> = events
            .into_iter()
            .map(
                |(seq, execution_id, at, kind, payload, prev_hash, hash)| super::chain::ChainRow {
                    seq,
                    execution_id,
                    at,
                    kind,
                    payload,
                    prev_hash,
                    hash,
                },
            )
            .collect();
        // An aggregate's input order is SQLite's choice; seq order is the chain's.
        rows.sort_by_key(|r| r.seq);
        Ok(rows)
    }
}

/// Opens (creating the file and its directory if needed) and migrates.
pub(crate) async fn connect(url: &str) -> Result<SqliteStore, AuditError> {
    let opts = SqliteConnectOptions::from_str(url).map_err(|e| AuditError::InvalidUrl {
        url: super::redact_url(url),
        reason: e.to_string(),
    })?;
    if let Some(dir) = opts.get_filename().parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|e| AuditError::InvalidUrl {
                url: super::redact_url(url),
                reason: format!("cannot create directory {}: {e}", dir.display()),
            })?;
        }
    }
    let opts = opts
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        // A connection to a local file cannot go stale; the default ping on
        // every acquire is one more round trip to the worker thread per commit.
        .test_before_acquire(false)
        .connect_with(opts)
        .await
        .map_err(AuditError::Connect)?;
    super::migrate::run(&super::migrate::sqlite_migrator(), &pool).await?;
    Ok(SqliteStore { pool })
}
