-- Grants on keys. One row per grant; a grant goes with its key (ON DELETE CASCADE). Grant tokens are not stored:
-- every CreateGrant issues a fresh, self-describing token (Keys/GrantToken.cs). operations is the comma-separated
-- list of GrantOperation wire names in request order; constraints is the GrantConstraints wire shape as JSON, or NULL.
CREATE TABLE grants (
    account_id                 TEXT    NOT NULL,
    region                     TEXT    NOT NULL,
    key_id                     TEXT    NOT NULL,
    grant_id                   TEXT    NOT NULL,
    name                       TEXT    NULL,
    grantee_principal          TEXT    NULL,
    grantee_service_principal  TEXT    NULL,
    retiring_principal         TEXT    NULL,
    retiring_service_principal TEXT    NULL,
    operations                 TEXT    NOT NULL,
    constraints                TEXT    NULL,
    issuing_account            TEXT    NOT NULL,
    creation_date              INTEGER NOT NULL,
    PRIMARY KEY (account_id, region, key_id, grant_id),
    FOREIGN KEY (account_id, region, key_id) REFERENCES keys (account_id, region, key_id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX grants_by_id ON grants (grant_id);
