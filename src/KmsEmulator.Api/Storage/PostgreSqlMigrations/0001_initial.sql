-- The key store on PostgreSQL: the same tables, columns and constraints as kms.db after SQLite migrations 0001-0007
-- (Storage/Migrations), in PostgreSQL's types, so that both stores share one row mapping (Storage/StoreRows.cs). Key
-- bytes are never stored here: material lives in the HSM and is named by hsm_label. Times are Unix milliseconds (UTC)
-- in bigint; flags are bigint 0 or 1, as in SQLite; enums are stored as their wire strings. Grant constraints are the
-- JSON text the store writes (StoredGrantConstraints in Storage/StorageJson.cs), kept as text so that it reads back
-- exactly as written.
CREATE TABLE store_meta (
    name  text NOT NULL PRIMARY KEY,
    value text NOT NULL
);

-- version: optimistic concurrency (Keys/IKmsStore.cs). Every write to a key steps it in the same transaction, and only
-- while it is still at the version the write was computed from.
CREATE TABLE keys (
    account_id               text   NOT NULL,
    region                   text   NOT NULL,
    key_id                   text   NOT NULL,
    description              text   NOT NULL,
    key_spec                 text   NOT NULL,
    key_usage                text   NOT NULL,
    origin                   text   NOT NULL,
    key_manager              text   NOT NULL,
    key_state                text   NOT NULL,
    creation_date            bigint NOT NULL,
    deletion_date            bigint NULL,
    pending_window_days      bigint NULL,
    multi_region             bigint NOT NULL CHECK (multi_region IN (0, 1)),
    policy                   text   NOT NULL,
    current_material_version bigint NOT NULL,
    version                  bigint NOT NULL DEFAULT 1,
    rotation_enabled         bigint NOT NULL DEFAULT 0 CHECK (rotation_enabled IN (0, 1)),
    rotation_period_days     bigint NULL,
    next_rotation_date       bigint NULL,
    import_check_value       text   NULL,
    import_present           bigint NOT NULL DEFAULT 0 CHECK (import_present IN (0, 1)),
    import_expiration_model  text   NULL,
    import_valid_to          bigint NULL,
    import_description       text   NULL,
    import_state_after       text   NULL,
    primary_region           text   NULL,
    settled_state            text   NULL,
    PRIMARY KEY (account_id, region, key_id)
);

CREATE INDEX keys_by_key_id ON keys (account_id, key_id);

CREATE TABLE key_materials (
    account_id    text   NOT NULL,
    region        text   NOT NULL,
    key_id        text   NOT NULL,
    version       bigint NOT NULL,
    material_id   text   NOT NULL,
    hsm_label     text   NOT NULL UNIQUE,
    created_at    bigint NOT NULL,
    rotation_type text   NULL,
    PRIMARY KEY (account_id, region, key_id, version),
    FOREIGN KEY (account_id, region, key_id) REFERENCES keys (account_id, region, key_id) ON DELETE CASCADE
);

CREATE TABLE key_tags (
    account_id text   NOT NULL,
    region     text   NOT NULL,
    key_id     text   NOT NULL,
    position   bigint NOT NULL,
    tag_key    text   NOT NULL,
    tag_value  text   NOT NULL,
    PRIMARY KEY (account_id, region, key_id, tag_key),
    FOREIGN KEY (account_id, region, key_id) REFERENCES keys (account_id, region, key_id) ON DELETE CASCADE
);

CREATE TABLE aliases (
    account_id        text   NOT NULL,
    region            text   NOT NULL,
    alias_name        text   NOT NULL,
    target_key_id     text   NOT NULL,
    creation_date     bigint NOT NULL,
    last_updated_date bigint NOT NULL,
    PRIMARY KEY (account_id, region, alias_name),
    FOREIGN KEY (account_id, region, target_key_id) REFERENCES keys (account_id, region, key_id) ON DELETE CASCADE
);

CREATE INDEX aliases_by_target ON aliases (account_id, region, target_key_id);

-- operations: the comma-separated GrantOperation wire names in request order; constraints: the store's JSON shape or NULL.
CREATE TABLE grants (
    account_id                 text   NOT NULL,
    region                     text   NOT NULL,
    key_id                     text   NOT NULL,
    grant_id                   text   NOT NULL,
    name                       text   NULL,
    grantee_principal          text   NULL,
    grantee_service_principal  text   NULL,
    retiring_principal         text   NULL,
    retiring_service_principal text   NULL,
    operations                 text   NOT NULL,
    constraints                text   NULL,
    issuing_account            text   NOT NULL,
    creation_date              bigint NOT NULL,
    PRIMARY KEY (account_id, region, key_id, grant_id),
    FOREIGN KEY (account_id, region, key_id) REFERENCES keys (account_id, region, key_id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX grants_by_id ON grants (grant_id);

-- The wrapping key pairs GetParametersForImport made (in the HSM, named by hsm_label), until they expire or the key goes.
CREATE TABLE import_parameters (
    account_id         text   NOT NULL,
    region             text   NOT NULL,
    key_id             text   NOT NULL,
    token_id           text   NOT NULL,
    hsm_label          text   NOT NULL UNIQUE,
    wrapping_key_spec  text   NOT NULL,
    wrapping_algorithm text   NOT NULL,
    created_at         bigint NOT NULL,
    valid_to           bigint NOT NULL,
    PRIMARY KEY (account_id, region, key_id, token_id),
    FOREIGN KEY (account_id, region, key_id) REFERENCES keys (account_id, region, key_id) ON DELETE CASCADE
);
