-- appkeys schema. Portable SQL: the same file runs on SQLite and PostgreSQL.
-- Times are BIGINT milliseconds since the Unix epoch; ids are 24 lower-case hex characters;
-- secrets are stored only as SHA-256 hex (API keys) or Argon2id PHC strings (passwords).

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    email TEXT,
    password_hash TEXT,
    key_count BIGINT NOT NULL DEFAULT 0,
    key_seq BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX users_app_email ON users (app_id, email);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    start TEXT NOT NULL,
    disabled BOOLEAN NOT NULL,
    seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);

CREATE UNIQUE INDEX api_keys_user_name ON api_keys (user_id, name);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (key_hash);
CREATE INDEX api_keys_user_seq ON api_keys (user_id, seq);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    api_key_id TEXT REFERENCES api_keys (id) ON DELETE CASCADE,
    device_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_api_key ON sessions (api_key_id);
