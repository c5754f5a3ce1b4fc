-- Key metadata, material versions, tags and aliases. Key bytes are never stored here: material lives in the HSM
-- and is named by hsm_label. Times are Unix milliseconds (UTC); enums are stored as their wire strings.
CREATE TABLE store_meta (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE keys (
    account_id              TEXT    NOT NULL,
    region                  TEXT    NOT NULL,
    key_id                  TEXT    NOT NULL,
    description             TEXT    NOT NULL,
    key_spec                TEXT    NOT NULL,
    key_usage               TEXT    NOT NULL,
    origin                  TEXT    NOT NULL,
    key_manager             TEXT    NOT NULL,
    key_state               TEXT    NOT NULL,
    creation_date           INTEGER NOT NULL,
    deletion_date           INTEGER NULL,
    pending_window_days     INTEGER NULL,
    multi_region            INTEGER NOT NULL,
    policy                  TEXT    NOT NULL,
    current_material_version INTEGER NOT NULL,
    PRIMARY KEY (account_id, region, key_id)
);

CREATE TABLE key_materials (
    account_id  TEXT    NOT NULL,
    region      TEXT    NOT NULL,
    key_id      TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    material_id TEXT    NOT NULL,
    hsm_label   TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (account_id, region, key_id, version),
    FOREIGN KEY (account_id, region, key_id) REFERENCES keys (account_id, region, key_id) ON DELETE CASCADE
);

CREATE TABLE key_tags (
    account_id TEXT    NOT NULL,
    region     TEXT    NOT NULL,
    key_id     TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    tag_key    TEXT    NOT NULL,
    tag_value  TEXT    NOT NULL,
    PRIMARY KEY (account_id, region, key_id, tag_key),
    FOREIGN KEY (account_id, region, key_id) REFERENCES keys (account_id, region, key_id) ON DELETE CASCADE
);

CREATE TABLE aliases (
    account_id        TEXT    NOT NULL,
    region            TEXT    NOT NULL,
    alias_name        TEXT    NOT NULL,
    target_key_id     TEXT    NOT NULL,
    creation_date     INTEGER NOT NULL,
    last_updated_date INTEGER NOT NULL,
    PRIMARY KEY (account_id, region, alias_name),
    FOREIGN KEY (account_id, region, target_key_id) REFERENCES keys (account_id, region, key_id) ON DELETE CASCADE
);

CREATE INDEX aliases_by_target ON aliases (account_id, region, target_key_id);
