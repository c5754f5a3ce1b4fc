-- The change feed (Keys/IKmsStore.cs, ReadChangesAsync): every write appends, in its own transaction, one row per key
-- it changed (account_id, region, key_id) and one per alias it wrote or deleted (account_id, region, alias_name); the
-- reset appends one row that names nothing, meaning "everything". seq orders the rows as their writes committed (SQLite
-- has one writer at a time). Emulators that share a store read the rows after the last one they saw to know which keys
-- and aliases to read again. Only ids are kept here, never metadata; the oldest rows are pruned by count.
CREATE TABLE key_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NULL,
    region     TEXT NULL,
    key_id     TEXT NULL,
    alias_name TEXT NULL
);
