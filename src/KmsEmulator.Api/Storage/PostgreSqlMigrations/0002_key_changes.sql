-- The change feed, as SQLite migration 0008 (Keys/IKmsStore.cs, ReadChangesAsync): every write appends, in its own
-- transaction, one row per key it changed and one per alias it wrote or deleted; the reset appends one row that names
-- nothing ("everything"). Writers take a transaction-scoped advisory lock just before appending and hold it until they
-- commit (PostgreSqlKmsStore), so seq is also the order in which the writes became visible: a reader that has seen
-- seq N has seen every write numbered below N. Only ids are kept, never metadata; the oldest rows are pruned by count.
CREATE TABLE key_changes (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id text NULL,
    region     text NULL,
    key_id     text NULL,
    alias_name text NULL
);
