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
        .connect_with(opts)
        .await
        .map_err(AuditError::Connect)?;
    super::migrate::run(&super::migrate::sqlite_migrator(), &pool).await?;
    Ok(SqliteStore { pool })
}
