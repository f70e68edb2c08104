-- cordon audit log, schema version 1 (SQLite).
-- Times are TEXT in one fixed UTC format (YYYY-MM-DDTHH:MM:SS.ffffffZ) so that
-- text order is time order and the hashed form of `at` is exactly what is stored.
-- JSON columns are TEXT holding cordon's canonical JSON (see src/audit/chain.rs).

CREATE TABLE executions (
    id                 TEXT PRIMARY KEY NOT NULL,
    tenant             TEXT NOT NULL,
    submitted_at       TEXT NOT NULL,
    language           TEXT NOT NULL,
    code_size          INTEGER NOT NULL,
    code_sha256        TEXT NOT NULL,
    -- 12-byte nonce followed by the AES-256-GCM ciphertext and tag
    code_sealed        BLOB NOT NULL,
    code_key_id        TEXT NOT NULL,
    writer_id          TEXT NOT NULL,
    policy_name        TEXT,
    policy_hash        TEXT,
    enforcement        TEXT,
    verdict            TEXT,
    risk_score         INTEGER,
    findings           TEXT,
    rule_ids           TEXT,
    reasons            TEXT,
    spec               TEXT,
    exit_code          INTEGER,
    termination_reason TEXT,
    usage              TEXT,
    durations          TEXT,
    stdout_truncated   INTEGER,
    stderr_truncated   INTEGER,
    finished_at        TEXT
);
CREATE INDEX executions_submitted_at ON executions (submitted_at);
CREATE INDEX executions_unfinished ON executions (finished_at) WHERE finished_at IS NULL;

CREATE TABLE audit_events (
    seq          INTEGER PRIMARY KEY NOT NULL,
    execution_id TEXT,
    at           TEXT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_events_execution ON audit_events (execution_id, seq);
CREATE INDEX audit_events_at ON audit_events (at);

-- The chain head: the last appended seq and hash. Appenders lock it (BEGIN IMMEDIATE
-- here, SELECT ... FOR UPDATE on Postgres), and verify compares it with the last row,
-- which makes truncating the tail of the chain detectable.
CREATE TABLE chain_head (
    id   INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO chain_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Live writer processes with a heartbeat: executions left unfinished by a writer
-- that is gone are marked `interrupted` by the next writer that starts.
CREATE TABLE audit_writers (
    id           TEXT PRIMARY KEY NOT NULL,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);

-- The one sanctioned way to delete events: `cordon audit prune` inserts a row here,
-- deletes the prefix below it and removes the row again, in one transaction.
CREATE TABLE prune_allowance (
    below_seq INTEGER NOT NULL
);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN NOT EXISTS (SELECT 1 FROM prune_allowance WHERE OLD.seq < prune_allowance.below_seq)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER chain_head_forward_only BEFORE UPDATE ON chain_head
WHEN NEW.seq <= OLD.seq
BEGIN
    SELECT RAISE(ABORT, 'chain_head only moves forward');
END;

CREATE TRIGGER chain_head_no_delete BEFORE DELETE ON chain_head
BEGIN
    SELECT RAISE(ABORT, 'chain_head cannot be deleted');
END;
