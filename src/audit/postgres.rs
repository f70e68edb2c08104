//! Postgres backend, for several cordon processes sharing one database. An
//! appending transaction locks the one-row `chain_head` with `SELECT ... FOR
//! UPDATE`; every process does the same, so appends from all replicas are
//! serialised by the database and the chain stays linear.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::store::sql_store;
use super::AuditError;

pub(crate) struct PgStore {
    pub(crate) pool: PgPool,
}

sql_store!(
    PgStore,
    sqlx::Postgres,
    begin = "BEGIN",
    head = "SELECT seq, hash FROM chain_head WHERE id = 1 FOR UPDATE"
);

impl PgStore {
    /// A seq range for verify: Postgres streams rows cheaply, so row by row.
    async fn chain_range(
        &self,
        from_seq: i64,
        limit: i64,
    ) -> Result<Vec<super::chain::ChainRow>, AuditError> {
        let rows = sqlx::query(
            "SELECT seq, execution_id, at, kind, payload, prev_hash, hash FROM audit_events \
             WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(from_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(Self::db_err("read events"))?;
        rows.iter()
            .map(Self::chain_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(Self::db_err("decode event"))
    }
}

/// Connects and migrates.
pub(crate) async fn connect(url: &str) -> Result<PgStore, AuditError> {
    let opts = PgConnectOptions::from_str(url).map_err(|e| AuditError::InvalidUrl {
        url: super::redact_url(url),
        reason: e.to_string(),
    })?;
    let pool = PgPoolOptions::new()
        .max_connections(5)
        // While the server is down a connect is retried until this passes;
        // the writer then spools instead of holding every caller that long.
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(opts)
        .await
        .map_err(AuditError::Connect)?;
    super::migrate::run(&super::migrate::postgres_migrator(), &pool).await?;
    Ok(PgStore { pool })
}
