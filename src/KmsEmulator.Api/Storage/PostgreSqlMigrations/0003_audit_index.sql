-- The audit trail's index (LookupEvents, GetKeyLastUsage), shared by every node on this database: the tables of
-- SQLite's audit.db after its migrations (Storage/AuditMigrations), in PostgreSQL types, under the same names, so that
-- both index classes share their SQL and the chunk format (Storage/AuditChunks.cs). They are part of the store's
-- migration series: one database, one schema version, migrated under the store's advisory lock before any node serves.
-- Times: first_time, last_time and chunk_terms.last_time are Unix seconds (UTC); used_at is .NET UTC ticks (exact).
CREATE TABLE audit_meta (
    name  text NOT NULL PRIMARY KEY,
    value text NOT NULL   -- tracking_start: GetKeyLastUsage's TrackingStartDate, set by the first node, reset by a clear
);

-- Up to 512 events of one account and region that one node delivered together. chunk_id is the order in which chunks
-- were inserted (by any node); an event's place among events of the same second is its chunk's id and its position.
-- entries: the chunk's directory (AuditChunks.Chunk); records: the records' JSON as written to the log file, zlib
-- groups one after another.
CREATE TABLE chunks (
    chunk_id    bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  text    NOT NULL,
    region      text    NOT NULL,
    first_time  bigint  NOT NULL,
    last_time   bigint  NOT NULL,
    event_count integer NOT NULL,
    entries     bytea   NOT NULL,
    records     bytea   NOT NULL
);

-- records is compressed already: stored out of line without PostgreSQL trying to compress it again.
ALTER TABLE chunks ALTER COLUMN records SET STORAGE EXTERNAL;

-- Newest first is (last_time, chunk_id) descending, read backwards off this index.
CREATE INDEX ix_chunks_time ON chunks (account_id, region, last_time, chunk_id);

-- One row per distinct attribute value in a chunk (kind: AuditChunks.TermKind); the key ends in (last_time, chunk_id),
-- so the chunks holding a value, newest first, are one backward range of it.
CREATE TABLE chunk_terms (
    account_id text    NOT NULL,
    region     text    NOT NULL,
    kind       integer NOT NULL,
    value      text    NOT NULL,
    last_time  bigint  NOT NULL,
    chunk_id   bigint  NOT NULL,
    PRIMARY KEY (account_id, region, kind, value, last_time, chunk_id)
);

-- The event sources of each account and region.
CREATE TABLE event_scopes (
    account_id   text NOT NULL,
    region       text NOT NULL,
    event_source text NOT NULL,
    PRIMARY KEY (account_id, region, event_source)
);

-- The newest successful cryptographic use of each key, whichever node served it: a write replaces the row only with a
-- use that is not older (AuditChunks.KeyUseUpsert), so it never moves back in time. Kept apart from the chunks, so
-- retention never forgets it.
CREATE TABLE key_last_use (
    key_arn    text   NOT NULL PRIMARY KEY,
    operation  text   NOT NULL,
    used_at    bigint NOT NULL,
    event_id   text   NOT NULL,
    request_id text   NOT NULL
);
