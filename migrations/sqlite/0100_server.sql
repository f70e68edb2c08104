-- cordon serve: API keys and the review queue (SQLite). Applied by the server
-- (src/server/store.rs) at start, idempotently: every statement is IF NOT
-- EXISTS, so it does not take part in the audit log's version numbering.
-- Times are TEXT in the audit log's fixed UTC format.

CREATE TABLE IF NOT EXISTS server_api_keys (
    id          TEXT PRIMARY KEY NOT NULL,
    -- SHA-256 (hex) of the whole key; the key itself is never stored
    key_hash    TEXT NOT NULL UNIQUE,
    tenant      TEXT NOT NULL,
    role        TEXT NOT NULL,
    label       TEXT,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE IF NOT EXISTS server_reviews (
    id               TEXT PRIMARY KEY NOT NULL,
    execution_id     TEXT NOT NULL UNIQUE,
    tenant           TEXT NOT NULL,
    language         TEXT NOT NULL,
    policy_name      TEXT NOT NULL,
    policy_hash      TEXT NOT NULL,
    limits           TEXT NOT NULL,
    risk_score       INTEGER NOT NULL,
    findings         TEXT NOT NULL,
    submitted_by     TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    -- pending | approved | rejected | expired
    status           TEXT NOT NULL,
    reviewer         TEXT,
    comment          TEXT,
    decided_at       TEXT,
    run_execution_id TEXT
);

CREATE INDEX IF NOT EXISTS server_reviews_tenant_status ON server_reviews (tenant, status, created_at);
