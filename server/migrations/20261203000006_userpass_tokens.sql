-- Issue 14: account confirmation and password reset. Existing accounts count as confirmed; new ones are
-- unconfirmed only while `--email-confirmation` is on. Tokens are single use and stored only as SHA-256 hex.
ALTER TABLE users ADD COLUMN confirmed BOOLEAN NOT NULL DEFAULT TRUE;

CREATE TABLE userpass_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX userpass_tokens_user ON userpass_tokens (user_id, purpose);
CREATE INDEX userpass_tokens_expires ON userpass_tokens (expires_at);
