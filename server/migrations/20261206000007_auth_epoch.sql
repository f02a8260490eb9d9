-- Issue 21: a session is valid only while its user's credentials are the ones it was opened with. A
-- password reset, a disable and `sessions revoke` move users.auth_epoch on; every session keeps the epoch
-- of its opening, and the session lookup requires them to match. A login that checked the old password
-- before a reset, or a login racing a disable, can never leave a working session behind.
ALTER TABLE users ADD COLUMN auth_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN auth_epoch BIGINT NOT NULL DEFAULT 0;
