-- Issue 12: operators can disable a user (no login by any provider; its sessions end).
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
