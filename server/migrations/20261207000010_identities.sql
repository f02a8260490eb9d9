-- Issue 24: every identity of every user in one table — the ids appkeys made (anonymous, email/password, a server
-- key's api-key identity), the subjects of custom JWTs and the identities imported from App Services — unique per
-- app, so that one identity is always one user and account linking can move identities between users. `data` holds
-- the metadata fields a custom JWT carried (JSON). `users.first_login_at` tells an email/password account that was
-- registered but never used (it can join the user that links it, as in App Services) from a user of its own.
CREATE TABLE identities (
    app_id TEXT NOT NULL,
    provider_type TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    data TEXT,
    PRIMARY KEY (app_id, provider_type, identity_id)
);
CREATE INDEX identities_user ON identities (user_id);

INSERT INTO identities (app_id, provider_type, identity_id, user_id, created_at)
SELECT app_id, CASE WHEN provider = 'server' THEN 'api-key' ELSE provider END, identity_id, id, created_at
FROM users WHERE provider IN ('anon-user', 'local-userpass', 'server')
ON CONFLICT DO NOTHING;

INSERT INTO identities (app_id, provider_type, identity_id, user_id, created_at)
SELECT u.app_id, i.provider_type, i.identity_id, i.user_id, u.created_at
FROM user_identities i JOIN users u ON u.id = i.user_id WHERE TRUE
ON CONFLICT DO NOTHING;

DROP TABLE user_identities;
ALTER TABLE users DROP COLUMN identity_id;
ALTER TABLE users ADD COLUMN first_login_at BIGINT;

-- Every user but a registered email/password account that shows no sign of a login has logged in. Imported users
-- (no password yet) were users of App Services, which created users at their first login.
UPDATE users SET first_login_at = created_at
WHERE provider <> 'local-userpass' OR password_hash IS NULL
   OR EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = users.id)
   OR EXISTS (SELECT 1 FROM api_keys k WHERE k.user_id = users.id)
   OR EXISTS (SELECT 1 FROM audit a WHERE a.user_id = users.id AND a.event = 'login.succeeded');
