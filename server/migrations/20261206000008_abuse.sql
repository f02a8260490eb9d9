-- Issue 22. Devices that logged in to an account successfully (SHA-256 of the device id): while the
-- account is throttled after failures from anywhere, they still get in. Audit rows of events recorded
-- in aggregate (refused requests, failed and successful key logins) carry how many they stand for.
CREATE TABLE user_devices (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_hash TEXT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_hash)
);
ALTER TABLE audit ADD COLUMN count BIGINT NOT NULL DEFAULT 1;
-- The oldest sessions past --max-sessions-per-key / --max-sessions-per-user are ended, newest first.
CREATE INDEX sessions_key_created ON sessions (api_key_id, created_at);
CREATE INDEX sessions_user_created ON sessions (user_id, created_at);
