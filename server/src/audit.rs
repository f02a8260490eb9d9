//! The audit log: one row per event (`audit` table), written in the same transaction as the change it
//! records; never a secret. Events: `user.registered`, `user.confirmed`, `confirmation.requested`,
//! `password.reset_requested`, `password.reset`, `login.succeeded`, `login.failed`, `token.failed`,
//! `key.created`, `key.enabled`, `key.disabled`, `key.deleted`, `session.revoked`, `user.deleted`,
//! `rate_limited`. Kept `--audit-retention-days` (90 by default), then swept.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Serialize;
use sqlx::Row;

use crate::state::AppState;
use crate::store::{new_id, now_ms, rfc3339};

/// One event to record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// Inserts `event` with `executor` (a transaction's connection, or a pool).
pub(crate) async fn insert<'e, E>(executor: E, event: &Event) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    insert_many(executor, std::slice::from_ref(event)).await
}

/// Inserts `events` with one statement (the audit rows of a batch of key logins).
pub(crate) async fn insert_many<'e, E>(executor: E, events: &[Event]) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..events.len())
        .map(|i| {
            let n = i * 10;
            let params: Vec<String> = (1..=10).map(|k| format!("${}", n + k)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO audit (id, at, event, app, user_id, key_id, provider, ip, user_agent, outcome) \
         VALUES {}",
        rows.join(", ")
    );
    let at = now_ms();
    let mut query = sqlx::query(&sql);
    for event in events {
        query = query
            .bind(new_id())
            .bind(at)
            .bind(event.event)
            .bind(event.app.clone())
            .bind(event.user_id.clone())
            .bind(event.key_id.clone())
            .bind(event.provider.clone())
            .bind(event.ip.clone())
            .bind(event.user_agent.clone())
            .bind(event.outcome);
    }
    query.execute(executor).await?;
    Ok(())
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
}

impl Entry {
    pub(crate) fn from_row(row: &sqlx::any::AnyRow) -> Result<Entry, sqlx::Error> {
        Ok(Entry {
            time: rfc3339(row.try_get(0)?),
            event: row.try_get(1)?,
            app: row.try_get(2)?,
            user_id: row.try_get(3)?,
            key_id: row.try_get(4)?,
            provider: row.try_get(5)?,
            ip: row.try_get(6)?,
            user_agent: row.try_get(7)?,
            outcome: row.try_get(8)?,
        })
    }
}

/// The client of a request: its IP (see `ClientIp`) and `User-Agent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Client IP.
    pub ip: std::net::IpAddr,
    /// `User-Agent`, at most 256 characters.
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let crate::ratelimit::ClientIp(ip) =
            crate::ratelimit::ClientIp::from_request_parts(parts, state).await?;
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect());
        Ok(Client { ip, user_agent })
    }
}
