-- The index keeps events in chunks: up to a few hundred events of one account and region, delivered together, in one
-- row. A row costs the writer one insert and a handful of term rows instead of one row and nine index entries per
-- event, which is what made auditing expensive under load. Lookups find the chunks that can hold a match (by time, or
-- through chunk_terms for an attribute) and filter the chunk's directory of events in memory.
--
-- entries: the chunk's directory (SqliteAuditIndex.Chunk): a string table, then per event its time, id, name, source,
--          user name, access key, read-only flag, resources and where its record lies in records.
-- records: the records' JSON, exactly as written to the log files, one after another.
CREATE TABLE chunks (
    chunk_id    INTEGER PRIMARY KEY,
    account_id  TEXT    NOT NULL,
    region      TEXT    NOT NULL,
    first_time  INTEGER NOT NULL,   -- Unix seconds of the oldest event in the chunk
    last_time   INTEGER NOT NULL,   -- and of the newest
    event_count INTEGER NOT NULL,
    entries     BLOB    NOT NULL,
    records     BLOB    NOT NULL
);

-- Ends, implicitly, in chunk_id: newest first is (last_time, chunk_id) descending, read straight off the index.
CREATE INDEX ix_chunks_time ON chunks (account_id, region, last_time);

-- One row per distinct attribute value in a chunk (kind: SqliteAuditIndex.TermKind). An EventId lookup uses the second
-- inside the id (event ids are UUIDv7 made from the event's time), kind 8, whose value is that second.
CREATE TABLE chunk_terms (
    account_id TEXT    NOT NULL,
    region     TEXT    NOT NULL,
    kind       INTEGER NOT NULL,
    value      TEXT    NOT NULL,
    last_time  INTEGER NOT NULL,
    chunk_id   INTEGER NOT NULL,
    PRIMARY KEY (account_id, region, kind, value, last_time, chunk_id)
) WITHOUT ROWID;

-- The per-event tables of 0001 are converted into chunks the first time the index opens after this migration (in one
-- transaction, then dropped); until then they wait under these names.
DROP INDEX ix_events_time;
DROP INDEX ix_events_event_id;
DROP INDEX ix_events_event_name;
DROP INDEX ix_events_read_only;
DROP INDEX ix_events_username;
DROP INDEX ix_events_access_key;
DROP INDEX ix_resources_name;
DROP INDEX ix_resources_type;
ALTER TABLE events RENAME TO legacy_events;
ALTER TABLE event_resources RENAME TO legacy_event_resources;
