-- Key rotation: whether automatic rotation is on, its period and the next date; and, per material version, how it
-- came (NULL for a key's first material, AUTOMATIC or ON_DEMAND for rotations).
ALTER TABLE keys ADD COLUMN rotation_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE keys ADD COLUMN rotation_period_days INTEGER NULL;
ALTER TABLE keys ADD COLUMN next_rotation_date INTEGER NULL;
ALTER TABLE key_materials ADD COLUMN rotation_type TEXT NULL;
