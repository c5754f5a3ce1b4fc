-- Optimistic concurrency: every key row has a version, which every write to the key (state, description, policy,
-- tags, material, aliases, grants) increments in the same transaction, and which a write checks first, so that a
-- writer working from a stale copy of the key fails instead of overwriting (Keys/IKmsStore.cs). A new key is at
-- version 1; keys stored before this migration start there too.
ALTER TABLE keys ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
