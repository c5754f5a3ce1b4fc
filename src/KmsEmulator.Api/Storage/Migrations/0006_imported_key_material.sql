-- Imported key material (Origin EXTERNAL). Per key: the check value that identifies the imported material (computed
-- with it inside the HSM; the material itself is never stored here), whether the HSM holds it now, the expiration
-- model and date of the current import, its KeyMaterialDescription, and the state a re-import returns the key to.
ALTER TABLE keys ADD COLUMN import_check_value TEXT NULL;
ALTER TABLE keys ADD COLUMN import_present INTEGER NOT NULL DEFAULT 0;
ALTER TABLE keys ADD COLUMN import_expiration_model TEXT NULL;
ALTER TABLE keys ADD COLUMN import_valid_to INTEGER NULL;
ALTER TABLE keys ADD COLUMN import_description TEXT NULL;
ALTER TABLE keys ADD COLUMN import_state_after TEXT NULL;

-- The wrapping key pairs GetParametersForImport made (in the HSM, named by hsm_label) and the ids their import tokens
-- carry, until they expire (the lifecycle sweep removes the row and destroys the key pair) or the key is deleted.
CREATE TABLE import_parameters (
    account_id         TEXT    NOT NULL,
    region             TEXT    NOT NULL,
    key_id             TEXT    NOT NULL,
    token_id           TEXT    NOT NULL,
    hsm_label          TEXT    NOT NULL UNIQUE,
    wrapping_key_spec  TEXT    NOT NULL,
    wrapping_algorithm TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    valid_to           INTEGER NOT NULL,
    PRIMARY KEY (account_id, region, key_id, token_id),
    FOREIGN KEY (account_id, region, key_id) REFERENCES keys (account_id, region, key_id) ON DELETE CASCADE
);
