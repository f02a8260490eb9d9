-- Issue 30: the web redirect flow (realm-web's `Credentials.google({ redirectUrl })`). One row per flow started, for
-- at most ten minutes, used up by its callback: the id is the SHA-256 of the `state` sent to the provider, and
-- `challenge` the PKCE S256 challenge of the verifier that only the browser that started the flow holds (a
-- cookie), so nothing here can finish a flow.
CREATE TABLE oauth_flows (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    redirect TEXT NOT NULL,
    client_state TEXT NOT NULL,
    device_id TEXT NOT NULL,
    challenge TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX oauth_flows_created ON oauth_flows (created_at);
