-- Issue 29. `email_verified_at`: when a link emailed to the account's address was opened (confirmation or
-- reset) — only then may a registered email/password account join another user by linking. Accounts that
-- already opened such a link are found by their audit rows (operators' `users confirm` proves no address).
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
UPDATE users SET email_verified_at = (
    SELECT MIN(a.at) FROM audit a
    WHERE a.user_id = users.id AND a.event IN ('user.confirmed', 'password.reset') AND a.outcome = 'success'
      AND (a.user_agent IS NULL OR a.user_agent <> 'appkeys-server admin command')
) WHERE email IS NOT NULL;

-- Known devices are proven by a secret the device got at login (its SHA-256 in `device_hash`), no longer by
-- the device id that every access token shows: the old rows prove nothing.
DELETE FROM user_devices;
CREATE INDEX user_devices_seen ON user_devices (last_seen);
