-- Multi-Region keys. The keys of one multi-Region key share account and key id (mrk-...) and each has its own row in
-- its region; primary_region names the region of the set's primary key on every row of the set (NULL for single-Region
-- keys), so the primary is the row whose region equals it and the others are its replicas. settled_state is the state
-- a key in a transient state (Creating after ReplicateKey, Updating after UpdatePrimaryRegion) takes at the next
-- lifecycle sweep; NULL otherwise. Multi-Region keys stored before this migration are primaries without replicas.
ALTER TABLE keys ADD COLUMN primary_region TEXT NULL;
ALTER TABLE keys ADD COLUMN settled_state TEXT NULL;
UPDATE keys SET primary_region = region WHERE multi_region = 1;

CREATE INDEX keys_by_key_id ON keys (account_id, key_id);
