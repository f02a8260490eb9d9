-- Issue 10: the signing secret is never stored in the database (PostgreSQL instances need a configured
-- one); rate-limit counters shared by all instances; a heartbeat row for /readyz; indexes for the sweep.

DELETE FROM settings WHERE name = 'jwt_secret';

CREATE TABLE rate_limits (
    bucket TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    previous BIGINT NOT NULL,
    current BIGINT NOT NULL
);

CREATE INDEX rate_limits_window ON rate_limits (window_start);

CREATE TABLE heartbeat (
    id BIGINT PRIMARY KEY,
    at BIGINT NOT NULL
);

CREATE INDEX sessions_created ON sessions (created_at);
CREATE INDEX users_provider_created ON users (provider, created_at);
