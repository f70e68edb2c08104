-- cordon audit log, schema version 2 (SQLite): the program's standard input.
-- All three are NULL when the execution was given no stdin. The sealed form is
-- like code_sealed (12-byte nonce, AES-256-GCM ciphertext and tag) under the
-- same key (code_key_id), with "<id>/stdin" as associated data so that sealed
-- code and sealed stdin cannot be swapped unnoticed.
ALTER TABLE executions ADD COLUMN stdin_size INTEGER;
ALTER TABLE executions ADD COLUMN stdin_sha256 TEXT;
ALTER TABLE executions ADD COLUMN stdin_sealed BLOB;
