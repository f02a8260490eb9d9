-- Issue 13: optional key expiry (ms since the epoch; NULL = never).
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
