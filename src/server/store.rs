//! The server's own tables, next to the audit log in the same database: API
//! keys (stored only as SHA-256 hashes) and the review queue. SQLite or
//! Postgres, chosen by the same URL as the audit log; every statement uses
//! `$N` placeholders, which both accept, and is written once in a macro that
//! expands per backend.
//!
//! This module must not touch the audit tables: the audit log is written
//! only through [`crate::audit::AuditLog`].

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;

use crate::audit::format_time;

/// Errors of the server store. Never contains a key or a database password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid store URL {0}: expected sqlite://PATH or postgres://...")]
    InvalidUrl(String),
    #[error("cannot open the server store: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("server store error while trying to {op}: {source}")]
    Database {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("invalid value: {0}")]
    Invalid(String),
}

/// What a key may do. Roles are ordered by nothing: each endpoint lists the roles it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Submits code (`/v1/analyze`, `/v1/executions`) and reads its own executions.
    Submitter,
    /// Works the review queue (approve, reject) and reads executions.
    Reviewer,
    /// Reads the audit log and executions; cannot submit code.
    Auditor,
    /// Everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Submitter => "submitter",
            Role::Reviewer => "reviewer",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "submitter" => Ok(Role::Submitter),
            "reviewer" => Ok(Role::Reviewer),
            "auditor" => Ok(Role::Auditor),
            "admin" => Ok(Role::Admin),
            other => Err(StoreError::Invalid(format!(
                "unknown role {other:?}: expected submitter, reviewer, auditor or admin"
            ))),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The tenant name that lets an auditor or admin key read every tenant.
pub const ALL_TENANTS: &str = "*";

/// Whether `t` is an acceptable tenant name (letters, digits, `-`, `_`, `.`; or `*`).
pub fn valid_tenant(t: &str) -> bool {
    t == ALL_TENANTS
        || (!t.is_empty()
            && t.len() <= 64
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
}

/// A stored key (never the secret).
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub tenant: String,
    pub role: Role,
    pub label: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A key just created: the secret is shown once and then only its hash exists.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: String,
}

/// SHA-256 of a presented key. Keys carry 192 random bits, so a plain hash
/// is enough: there is nothing to brute-force as with passwords.
pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// One held execution in the review queue.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Review {
    pub id: String,
    pub execution_id: String,
    pub tenant: String,
    pub language: String,
    pub policy_name: String,
    pub policy_hash: String,
    /// The limits the submitter asked for (JSON); applied again at approval.
    #[schema(value_type = Object)]
    pub limits: serde_json::Value,
    pub risk_score: i64,
    #[schema(value_type = Vec<Object>)]
    pub findings: serde_json::Value,
    /// Key id that submitted the code.
    pub submitted_by: String,
    pub created_at: String,
    pub expires_at: String,
    /// pending | approved | rejected | expired
    pub status: String,
    /// Key id (and tenant) of the reviewer who decided.
    pub reviewer: Option<String>,
    pub comment: Option<String>,
    pub decided_at: Option<String>,
    /// The execution that ran the approved code.
    pub run_execution_id: Option<String>,
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// Handle to the server tables; cheap to clone.
#[derive(Clone)]
pub struct ServerStore {
    pool: Pool,
}

impl std::fmt::Debug for ServerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.pool {
            Pool::Sqlite(_) => "ServerStore(sqlite)",
            Pool::Pg(_) => "ServerStore(postgres)",
        })
    }
}

/// Runs `$body` with `$p` bound to whichever pool this store has.
macro_rules! on_pool {
    ($self:expr, $p:ident => $body:expr) => {
        match &$self.pool {
            Pool::Sqlite($p) => $body,
            Pool::Pg($p) => $body,
        }
    };
}

fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { op, source }
}

fn review_from<R: Row>(r: &R) -> Result<Review, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    i64: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let json = |s: String| serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s));
    Ok(Review {
        id: r.try_get("id")?,
        execution_id: r.try_get("execution_id")?,
        tenant: r.try_get("tenant")?,
        language: r.try_get("language")?,
        policy_name: r.try_get("policy_name")?,
        policy_hash: r.try_get("policy_hash")?,
        limits: json(r.try_get("limits")?),
        risk_score: r.try_get("risk_score")?,
        findings: json(r.try_get("findings")?),
        submitted_by: r.try_get("submitted_by")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        status: r.try_get("status")?,
        reviewer: r.try_get("reviewer")?,
        comment: r.try_get("comment")?,
        decided_at: r.try_get("decided_at")?,
        run_execution_id: r.try_get("run_execution_id")?,
    })
}

fn key_from<R: Row>(r: &R) -> Result<ApiKey, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let role: String = r.try_get("role").map_err(db("read key"))?;
    Ok(ApiKey {
        id: r.try_get("id").map_err(db("read key"))?,
        tenant: r.try_get("tenant").map_err(db("read key"))?,
        role: role.parse()?,
        label: r.try_get("label").map_err(db("read key"))?,
        created_at: r.try_get("created_at").map_err(db("read key"))?,
        revoked_at: r.try_get("revoked_at").map_err(db("read key"))?,
    })
}

const REVIEW_COLUMNS: &str = "id, execution_id, tenant, language, policy_name, policy_hash, limits, risk_score, findings, submitted_by, created_at, expires_at, status, reviewer, comment, decided_at, run_execution_id";

impl ServerStore {
    /// Connects to the audit database URL and creates the server tables if missing.
    pub async fn open(url: &str) -> Result<ServerStore, StoreError> {
        let redacted = crate::audit::redact_url(url);
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts =
                PgConnectOptions::from_str(url).map_err(|_| StoreError::InvalidUrl(redacted))?;
            let pool = PgPoolOptions::new()
                .max_connections(5)
                // Short, so a stopped server answers 503 quickly (see auth).
                .acquire_timeout(Duration::from_secs(3))
                .connect_with(opts)
                .await
                .map_err(StoreError::Connect)?;
            sqlx::raw_sql(include_str!("../../migrations/postgres/0100_server.sql"))
                .execute(&pool)
                .await
                .map_err(db("create the server tables"))?;
            Pool::Pg(pool)
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|_| StoreError::InvalidUrl(redacted))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts)
                .await
                .map_err(StoreError::Connect)?;
            sqlx::raw_sql(include_str!("../../migrations/sqlite/0100_server.sql"))
                .execute(&pool)
                .await
                .map_err(db("create the server tables"))?;
            Pool::Sqlite(pool)
        } else {
            return Err(StoreError::InvalidUrl(redacted));
        };
        Ok(ServerStore { pool })
    }

    /// Creates a key for `tenant` with `role`; the secret is returned once.
    pub async fn create_key(
        &self,
        tenant: &str,
        role: Role,
        label: Option<&str>,
    ) -> Result<CreatedKey, StoreError> {
        if !valid_tenant(tenant) {
            return Err(StoreError::Invalid(format!(
                "invalid tenant {tenant:?}: use letters, digits, '-', '_', '.' (or '*' for an auditor/admin of all tenants)"
            )));
        }
        if tenant == ALL_TENANTS && !matches!(role, Role::Auditor | Role::Admin) {
            return Err(StoreError::Invalid(
                "only auditor and admin keys may span all tenants ('*')".into(),
            ));
        }
        let mut raw = [0u8; 24];
        rand::rng().fill_bytes(&mut raw);
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let secret = format!("cdn_{id}_{}", hex::encode(raw));
        let key = ApiKey {
            id: id.clone(),
            tenant: tenant.to_string(),
            role,
            label: label.map(str::to_string),
            created_at: format_time(Utc::now()),
            revoked_at: None,
        };
        let hash = hash_key(&secret);
        on_pool!(self, p => sqlx::query(
            "INSERT INTO server_api_keys (id, key_hash, tenant, role, label, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.id)
        .bind(&hash)
        .bind(&key.tenant)
        .bind(role.as_str())
        .bind(&key.label)
        .bind(&key.created_at)
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db("create a key"))?);
        Ok(CreatedKey { key, secret })
    }

    /// The unrevoked key whose hash matches `secret`.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<ApiKey>, StoreError> {
        let hash = hash_key(secret);
        on_pool!(self, p => {
            let row = sqlx::query(
                "SELECT id, tenant, role, label, created_at, revoked_at FROM server_api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
            )
            .bind(&hash)
            .fetch_optional(p)
            .await
            .map_err(db("look up a key"))?;
            row.as_ref().map(key_from).transpose()
        })
    }

    pub async fn list_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT id, tenant, role, label, created_at, revoked_at FROM server_api_keys ORDER BY created_at, id",
            )
            .fetch_all(p)
            .await
            .map_err(db("list keys"))?;
            rows.iter().map(key_from).collect()
        })
    }

    /// Revokes a key by id; returns whether an active key was revoked.
    pub async fn revoke_key(&self, id: &str) -> Result<bool, StoreError> {
        let now = format_time(Utc::now());
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE server_api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(&now)
        .bind(id)
        .execute(p)
        .await
        .map_err(db("revoke a key"))?
        .rows_affected());
        Ok(n > 0)
    }

    pub async fn insert_review(&self, r: &Review) -> Result<(), StoreError> {
        let limits = r.limits.to_string();
        let findings = r.findings.to_string();
        on_pool!(self, p => sqlx::query(
            "INSERT INTO server_reviews (id, execution_id, tenant, language, policy_name, policy_hash, limits, risk_score, findings, submitted_by, created_at, expires_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&r.id)
        .bind(&r.execution_id)
        .bind(&r.tenant)
        .bind(&r.language)
        .bind(&r.policy_name)
        .bind(&r.policy_hash)
        .bind(&limits)
        .bind(r.risk_score)
        .bind(&findings)
        .bind(&r.submitted_by)
        .bind(&r.created_at)
        .bind(&r.expires_at)
        .bind(&r.status)
        .execute(p)
        .await
        .map(|_| ())
        .map_err(db("queue a review"))?);
        Ok(())
    }

    pub async fn review(&self, id: &str) -> Result<Option<Review>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {REVIEW_COLUMNS} FROM server_reviews WHERE id = $1"
        ));
        on_pool!(self, p => {
            let row = sqlx::query(sql).bind(id).fetch_optional(p).await.map_err(db("read a review"))?;
            row.as_ref().map(review_from).transpose().map_err(db("decode a review"))
        })
    }

    pub async fn review_of_execution(
        &self,
        execution_id: &str,
    ) -> Result<Option<Review>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {REVIEW_COLUMNS} FROM server_reviews WHERE execution_id = $1"
        ));
        on_pool!(self, p => {
            let row = sqlx::query(sql).bind(execution_id).fetch_optional(p).await.map_err(db("read a review"))?;
            row.as_ref().map(review_from).transpose().map_err(db("decode a review"))
        })
    }

    /// Reviews of `tenant` (all tenants with `None`), optionally of one status, oldest first.
    pub async fn reviews(
        &self,
        tenant: Option<&str>,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Review>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {REVIEW_COLUMNS} FROM server_reviews WHERE ($1 IS NULL OR tenant = $1) AND ($2 IS NULL OR status = $2) ORDER BY created_at, id LIMIT $3"
        ));
        on_pool!(self, p => {
            let rows = sqlx::query(sql)
                .bind(tenant)
                .bind(status)
                .bind(limit)
                .fetch_all(p)
                .await
                .map_err(db("list reviews"))?;
            rows.iter().map(review_from).collect::<Result<Vec<_>, _>>().map_err(db("decode a review"))
        })
    }

    /// Moves a pending review to `status` (approved, rejected, expired);
    /// returns false when it was no longer pending (someone else decided).
    pub async fn decide_review(
        &self,
        id: &str,
        status: &str,
        reviewer: Option<&str>,
        comment: Option<&str>,
        run_execution_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = format_time(Utc::now());
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE server_reviews SET status = $1, reviewer = $2, comment = $3, decided_at = $4, run_execution_id = $5 WHERE id = $6 AND status = 'pending'",
        )
        .bind(status)
        .bind(reviewer)
        .bind(comment)
        .bind(&now)
        .bind(run_execution_id)
        .bind(id)
        .execute(p)
        .await
        .map_err(db("decide a review"))?
        .rows_affected());
        Ok(n > 0)
    }

    /// Pending reviews whose expiry has passed.
    pub async fn expired_pending(&self, now: DateTime<Utc>) -> Result<Vec<Review>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {REVIEW_COLUMNS} FROM server_reviews WHERE status = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT 1000"
        ));
        let now = format_time(now);
        on_pool!(self, p => {
            let rows = sqlx::query(sql).bind(&now).fetch_all(p).await.map_err(db("find expired reviews"))?;
            rows.iter().map(review_from).collect::<Result<Vec<_>, _>>().map_err(db("decode a review"))
        })
    }

    /// How many reviews are pending (all tenants), for metrics.
    pub async fn pending_count(&self) -> Result<i64, StoreError> {
        on_pool!(self, p => sqlx::query("SELECT COUNT(*) AS n FROM server_reviews WHERE status = 'pending'")
            .fetch_one(p)
            .await
            .and_then(|r| r.try_get::<i64, _>("n"))
            .map_err(db("count reviews")))
    }

    /// A write that proves the store accepts writes (for `/readyz`).
    pub async fn writable(&self) -> Result<(), StoreError> {
        on_pool!(self, p => sqlx::query("UPDATE server_api_keys SET id = id WHERE 1 = 0")
            .execute(p)
            .await
            .map(|_| ())
            .map_err(db("check the store is writable")))
    }

    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}
