//! What the audit log records: one [`Event`] per thing that happened — written by `db::audit` in the
//! same transaction as the change it records, never with a secret — and the [`Entry`] rows read back.
//! Events: `user.registered`, `user.confirmed`, `user.disabled`, `user.enabled`, `user.deleted`,
//! `confirmation.requested`, `password.reset_requested`, `password.reset`, `login.succeeded`,
//! `login.failed`, `token.failed`, `key.created`, `key.enabled`, `key.disabled`, `key.deleted`,
//! `session.revoked`, `rate_limited`. Rows written by the admin commands carry the agent
//! [`ADMIN_AGENT`]. Kept `--audit-retention-days` (90 by default), then swept.

use serde::Serialize;

/// The `user_agent` of the audit rows written by the admin commands (an operator, not a client).
pub const ADMIN_AGENT: &str = "appkeys-server admin command";

/// One event to record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Event {
    /// `user.registered`, `login.succeeded`, …
    pub event: &'static str,
    /// App id.
    pub app: Option<String>,
    /// User id, when known.
    pub user_id: Option<String>,
    /// Key id (key events and key logins).
    pub key_id: Option<String>,
    /// Login provider.
    pub provider: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Client `User-Agent` (at most 256 characters).
    pub user_agent: Option<String>,
    /// `success`, or why not (`invalid_password`, `invalid_key`, `user_disabled`, `limited`, …).
    pub outcome: &'static str,
}

impl Event {
    /// An event of `kind` with `outcome`.
    pub fn new(event: &'static str, outcome: &'static str) -> Self {
        Event {
            event,
            outcome,
            ..Event::default()
        }
    }
    /// With the app.
    pub fn app(mut self, app: &str) -> Self {
        self.app = Some(app.to_owned());
        self
    }
    /// With the user.
    pub fn user(mut self, user: &str) -> Self {
        self.user_id = Some(user.to_owned());
        self
    }
    /// With the key.
    pub fn key(mut self, key: &str) -> Self {
        self.key_id = Some(key.to_owned());
        self
    }
    /// With the provider.
    pub fn provider(mut self, provider: &str) -> Self {
        self.provider = Some(provider.to_owned());
        self
    }
    /// With the client.
    pub fn client(mut self, client: &Client) -> Self {
        self.ip = Some(client.ip.to_string());
        self.user_agent = client.user_agent.clone();
        self
    }
}

/// One row of the audit log, as `audit --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// RFC 3339 UTC.
    pub time: String,
    /// The event.
    pub event: String,
    /// App id.
    pub app: Option<String>,
    /// User id.
    pub user_id: Option<String>,
    /// Key id.
    pub key_id: Option<String>,
    /// Provider.
    pub provider: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// Outcome.
    pub outcome: String,
    /// How many events the row stands for (more than 1 for events recorded in aggregate: refused
    /// requests, failed and successful API-key logins).
    pub count: i64,
}

/// The client of a request: its IP (see `http::extract::ClientIp`) and `User-Agent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Client IP.
    pub ip: std::net::IpAddr,
    /// `User-Agent`, at most 256 characters.
    pub user_agent: Option<String>,
}
