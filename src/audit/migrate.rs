//! Schema migrations, embedded at compile time from `migrations/sqlite/` and
//! `migrations/postgres/` and applied at every start (already-applied ones are
//! skipped, so this is idempotent). A database that has a migration this build
//! does not know was written by a newer cordon: we refuse to start rather than
//! write rows an older schema understanding could corrupt.
//!
//! Built with `Migrator::with_migrations` instead of `sqlx::migrate!` so the
//! crate does not need sqlx's `macros` feature.

use std::borrow::Cow;

use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::SqlSafeStr;

use super::AuditError;

/// The highest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 2;

fn migration(version: i64, name: &'static str, sql: &'static str) -> Migration {
    Migration::new(
        version,
        Cow::Borrowed(name),
        MigrationType::Simple,
        sql.into_sql_str(),
        false,
    )
}

pub(crate) fn sqlite_migrator() -> Migrator {
    Migrator::with_migrations(vec![
        migration(
            1,
            "audit",
            include_str!("../../migrations/sqlite/0001_audit.sql"),
        ),
        migration(
            2,
            "stdin",
            include_str!("../../migrations/sqlite/0002_stdin.sql"),
        ),
    ])
}

pub(crate) fn postgres_migrator() -> Migrator {
    Migrator::with_migrations(vec![
        migration(
            1,
            "audit",
            include_str!("../../migrations/postgres/0001_audit.sql"),
        ),
        migration(
            2,
            "stdin",
            include_str!("../../migrations/postgres/0002_stdin.sql"),
        ),
    ])
}

fn map_err(e: MigrateError) -> AuditError {
    match e {
        MigrateError::VersionMissing(found) => AuditError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        },
        other => AuditError::Migrate(other),
    }
}

pub(crate) async fn run<DB>(migrator: &Migrator, pool: &sqlx::Pool<DB>) -> Result<(), AuditError>
where
    DB: sqlx::Database,
    DB::Connection: sqlx::migrate::Migrate,
{
    // Two processes may create the same fresh SQLite file at once; the loser
    // sees "table already exists" once and then finds the migration applied.
    let mut attempt = 0;
    loop {
        let mut conn = pool.acquire().await.map_err(AuditError::Connect)?;
        match migrator.run_direct(None, &mut *conn, false).await {
            Ok(()) => return Ok(()),
            Err(e @ MigrateError::VersionMissing(_)) => return Err(map_err(e)),
            Err(e) if attempt < 3 => {
                tracing::debug!(error = %e, "audit migration failed, retrying");
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return Err(map_err(e)),
        }
    }
}
