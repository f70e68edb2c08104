//! Test support for the real Postgres server: the URL comes from
//! `CORDON_TEST_POSTGRES_URL` (set by `.ci/run` after `scripts/postgres.sh`);
//! each test gets its own schema so tests can run in parallel processes.

#![allow(dead_code)]

use sqlx::Connection;

/// The server URL, if configured. Panics when `CORDON_REQUIRE_POSTGRES` is set
/// but the URL is not, so CI can never silently skip the Postgres half.
pub fn base_url(test: &str) -> Option<String> {
    match std::env::var("CORDON_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            let required =
                std::env::var("CORDON_REQUIRE_POSTGRES").is_ok_and(|v| !v.is_empty() && v != "0");
            assert!(
                !required,
                "CORDON_REQUIRE_POSTGRES is set but CORDON_TEST_POSTGRES_URL is not: cannot run {test} against Postgres"
            );
            eprintln!("skipped: set CORDON_TEST_POSTGRES_URL to run {test} against Postgres (scripts/postgres.sh prints one)");
            None
        }
    }
}

/// Creates a fresh schema and returns a URL whose connections use it.
pub async fn fresh_schema_url(base: &str, hint: &str) -> String {
    let schema: String = format!(
        "t_{}_{}",
        hint.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(24)
            .collect::<String>()
            .to_lowercase(),
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .expect("connect to CORDON_TEST_POSTGRES_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .expect("create test schema");
    let _ = conn.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options[search_path]={schema}")
}
