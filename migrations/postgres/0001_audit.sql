-- cordon audit log, schema version 1 (Postgres).
-- Kept column-for-column identical to migrations/sqlite/0001_audit.sql so one code
-- path serves both. Times are TEXT in one fixed UTC format (YYYY-MM-DDTHH:MM:SS.ffffffZ)
-- so that the hashed form of `at` is exactly what is stored; JSON is TEXT, not jsonb,
-- because jsonb would re-format the canonical text that the hash covers.

CREATE TABLE executions (
    id                 TEXT PRIMARY KEY NOT NULL,
    tenant             TEXT NOT NULL,
    submitted_at       TEXT NOT NULL,
    language           TEXT NOT NULL,
    code_size          BIGINT NOT NULL,
    code_sha256        TEXT NOT NULL,
    code_sealed        BYTEA NOT NULL,
    code_key_id        TEXT NOT NULL,
    writer_id          TEXT NOT NULL,
    policy_name        TEXT,
    policy_hash        TEXT,
    enforcement        TEXT,
    verdict            TEXT,
    risk_score         BIGINT,
    findings           TEXT,
    rule_ids           TEXT,
    reasons            TEXT,
    spec               TEXT,
    exit_code          BIGINT,
    termination_reason TEXT,
    usage              TEXT,
    durations          TEXT,
    stdout_truncated   BOOLEAN,
    stderr_truncated   BOOLEAN,
    finished_at        TEXT
);
CREATE INDEX executions_submitted_at ON executions (submitted_at);
CREATE INDEX executions_unfinished ON executions (finished_at) WHERE finished_at IS NULL;

CREATE TABLE audit_events (
    seq          BIGINT PRIMARY KEY NOT NULL,
    execution_id TEXT,
    at           TEXT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_events_execution ON audit_events (execution_id, seq);
CREATE INDEX audit_events_at ON audit_events (at);

-- Appenders in every process take this row with SELECT ... FOR UPDATE in the same
-- transaction as the append, so replicas sharing the database keep one linear chain.
CREATE TABLE chain_head (
    id   INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO chain_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_writers (
    id           TEXT PRIMARY KEY NOT NULL,
    host         TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);

CREATE TABLE prune_allowance (
    below_seq BIGINT NOT NULL
);

CREATE FUNCTION cordon_audit_events_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM prune_allowance WHERE OLD.seq < prune_allowance.below_seq) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION cordon_audit_events_append_only();

CREATE FUNCTION cordon_audit_events_no_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION cordon_audit_events_no_truncate();

CREATE FUNCTION cordon_chain_head_forward_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.seq > OLD.seq THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'chain_head only moves forward';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER chain_head_forward_only BEFORE UPDATE OR DELETE ON chain_head
FOR EACH ROW EXECUTE FUNCTION cordon_chain_head_forward_only();
