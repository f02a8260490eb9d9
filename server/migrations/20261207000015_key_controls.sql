-- Issue 32: API keys for production services.
-- Roll: the secret before the last roll keeps logging in until `prev_expires_at` (its hash unique like the current one).
ALTER TABLE api_keys ADD COLUMN prev_key_hash TEXT;
ALTER TABLE api_keys ADD COLUMN prev_expires_at BIGINT;
CREATE UNIQUE INDEX api_keys_prev_hash ON api_keys (prev_key_hash);
-- Scopes: space-separated, from the operator's list; NULL: the key acts as its owner. Copied to each session it opens
-- (the access tokens' `scope`, and introspection's).
ALTER TABLE api_keys ADD COLUMN scopes TEXT;
ALTER TABLE sessions ADD COLUMN scope TEXT;
-- Client-address allow-lists: a key with `ip_restricted` logs in only from an address inside one of its networks,
-- each stored as the first and last address of its range (32 hex digits, IPv4 mapped into IPv6) so the login
-- statement compares text.
ALTER TABLE api_keys ADD COLUMN ip_restricted BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE api_key_networks (
    key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    network TEXT NOT NULL,
    first_ip TEXT NOT NULL,
    last_ip TEXT NOT NULL
);
CREATE INDEX api_key_networks_key ON api_key_networks (key_id);
