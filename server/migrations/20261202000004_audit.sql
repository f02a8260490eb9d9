-- Issue 12: the audit log, one row per event, written in the same transaction as the change it records.
-- Never a secret: ids, names of events and providers, the client's IP and user agent.
CREATE TABLE audit (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    app TEXT,
    user_id TEXT,
    key_id TEXT,
    provider TEXT,
    ip TEXT,
    user_agent TEXT,
    outcome TEXT NOT NULL
);

CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_user ON audit (user_id, at);
CREATE INDEX audit_key ON audit (key_id, at);
