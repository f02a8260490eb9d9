-- Issue 23: users brought over from App Services. Identities of providers appkeys does not serve (yet) are kept on
-- their user, so that a later provider (custom JWT) finds it; and the reset emails an import asked for, sent by the
-- servers at an operator-set rate, each once (sent_at), resumable after a restart.
CREATE TABLE user_identities (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_type TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    PRIMARY KEY (user_id, provider_type, identity_id)
);
CREATE INDEX user_identities_identity ON user_identities (provider_type, identity_id);
CREATE TABLE pending_resets (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    queued_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX pending_resets_unsent ON pending_resets (sent_at, queued_at);
