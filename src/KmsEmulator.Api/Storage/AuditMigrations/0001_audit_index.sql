-- audit.db: the audit trail's index (LookupEvents, GetKeyLastUsage). Its own file and its own migration series,
-- apart from kms.db. The log files are the record; this index is what a lookup reads, so a lookup never reads a file.
-- Times: event_time is Unix seconds (UTC), as CloudTrail's eventTime shows it; used_at is .NET UTC ticks (exact).
CREATE TABLE audit_meta (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per record (the key owner's copy, and the caller's copy of a cross-account call, each under its account).
-- seq is the order of indexing; lookups order by (event_time, seq), newest first.
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY,
    event_id      TEXT    NOT NULL,
    account_id    TEXT    NOT NULL,
    region        TEXT    NOT NULL,
    event_time    INTEGER NOT NULL,
    event_name    TEXT    NOT NULL,
    event_source  TEXT    NOT NULL,
    read_only     TEXT    NOT NULL,   -- 'true' or 'false', as LookupEvents matches and answers it
    access_key_id TEXT    NULL,
    username      TEXT    NOT NULL,
    request_id    TEXT    NOT NULL,
    record        BLOB    NOT NULL    -- the record's JSON, exactly as written to the log file
);

-- One index per lookup attribute, each led by the caller's account and region and ending in the time (the rowid, seq,
-- is implicitly last), so that a lookup with any one attribute and a time range is one backwards index range scan.
-- Every index costs each append, so two attributes with a handful of values use event_scopes instead (below).
CREATE INDEX ix_events_time         ON events (account_id, region, event_time);
CREATE INDEX ix_events_event_id     ON events (account_id, region, event_id, event_time);
CREATE INDEX ix_events_event_name   ON events (account_id, region, event_name, event_time);
CREATE INDEX ix_events_read_only    ON events (account_id, region, read_only, event_time);
CREATE INDEX ix_events_username     ON events (account_id, region, username, event_time);
CREATE INDEX ix_events_access_key   ON events (account_id, region, access_key_id, event_time);

-- The event sources of each account and region (one row each, written once). Pruning walks the scopes and deletes
-- through ix_events_time; an EventSource lookup is answered from here: a source never seen has no events, and when a
-- scope has one source (kms.amazonaws.com) its events are exactly those of ix_events_time.
CREATE TABLE event_scopes (
    account_id   TEXT NOT NULL,
    region       TEXT NOT NULL,
    event_source TEXT NOT NULL,
    PRIMARY KEY (account_id, region, event_source)
) WITHOUT ROWID;

-- The resources of each record (distinct ARNs, in the record's order). first_of_type marks one row per type and record,
-- so that a ResourceType lookup finds each record once.
CREATE TABLE event_resources (
    seq           INTEGER NOT NULL,
    position      INTEGER NOT NULL,
    account_id    TEXT    NOT NULL,
    region        TEXT    NOT NULL,
    event_time    INTEGER NOT NULL,
    resource_type TEXT    NOT NULL,
    resource_name TEXT    NOT NULL,
    first_of_type INTEGER NOT NULL,
    PRIMARY KEY (seq, position)
) WITHOUT ROWID;

CREATE INDEX ix_resources_name ON event_resources (account_id, region, resource_name, event_time, seq);
CREATE INDEX ix_resources_type ON event_resources (account_id, region, resource_type, event_time, seq) WHERE first_of_type = 1;

-- The newest successful cryptographic use of each key (GetKeyLastUsage after a restart). Kept apart from events so
-- that retention never forgets a key's last use.
CREATE TABLE key_last_use (
    key_arn    TEXT    NOT NULL PRIMARY KEY,
    operation  TEXT    NOT NULL,
    used_at    INTEGER NOT NULL,
    event_id   TEXT    NOT NULL,
    request_id TEXT    NOT NULL
) WITHOUT ROWID;
