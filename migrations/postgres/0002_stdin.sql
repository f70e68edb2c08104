-- cordon audit log, schema version 2 (Postgres): the program's standard input.
-- Kept column-for-column identical to migrations/sqlite/0002_stdin.sql. All three
-- are NULL when the execution was given no stdin; the sealed form is like
-- code_sealed under the same key, with "<id>/stdin" as associated data.
ALTER TABLE executions ADD COLUMN stdin_size BIGINT;
ALTER TABLE executions ADD COLUMN stdin_sha256 TEXT;
ALTER TABLE executions ADD COLUMN stdin_sealed BYTEA;
