//! The webhook outbox (migration 14): an event row is written in the transaction of the change it
//! announces, so nothing acknowledged is lost; the delivery job claims due rows (PostgreSQL: `FOR UPDATE
//! SKIP LOCKED`, so instances sharing a database never claim the same row at once; a claim is a lease, so
//! a row whose deliverer died is claimed again), and marks each delivered, due again later, or failed.

use std::sync::Arc;

use serde_json::json;
use sqlx::Row;

use super::{Backend, Store};
use crate::model::Event;
use crate::util::{new_id, now_ms, rfc3339};

/// Which event types a store writes to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvents {
    /// Every type but `user.logged_in` (the admin CLI: the serving instances decide what they deliver).
    AllChanges,
    /// Only these (a serving instance's `--webhook-events`; empty: webhooks are off).
    Only(Arc<Vec<String>>),
}

impl Default for WebhookEvents {
    fn default() -> Self {
        WebhookEvents::Only(Arc::new(Vec::new()))
    }
}

impl WebhookEvents {
    /// Whether events of type `kind` are written.
    pub fn wants(&self, kind: &str) -> bool {
        match self {
            WebhookEvents::AllChanges => kind != LOGGED_IN,
            WebhookEvents::Only(list) => list.iter().any(|k| k == kind),
        }
    }
}

/// The type of the optional login event.
pub const LOGGED_IN: &str = "user.logged_in";

/// Every event type, in the order the docs list them.
pub const EVENT_TYPES: [&str; 12] = [
    "user.created",
    LOGGED_IN,
    "user.deleted",
    "user.disabled",
    "user.enabled",
    "user.password_reset",
    "user.identity_linked",
    "api_key.created",
    "api_key.disabled",
    "api_key.enabled",
    "api_key.deleted",
    "api_key.rolled",
];

/// The webhook type of an audited change (successful ones only).
pub(super) fn type_of(event: &Event) -> Option<&'static str> {
    if event.outcome != "success" {
        return None;
    }
    Some(match event.event {
        "user.deleted" => "user.deleted",
        "user.disabled" => "user.disabled",
        "user.enabled" => "user.enabled",
        "password.reset" => "user.password_reset",
        "user.linked" => "user.identity_linked",
        "key.created" => "api_key.created",
        "key.disabled" => "api_key.disabled",
        "key.enabled" => "api_key.enabled",
        "key.deleted" => "api_key.deleted",
        "key.rolled" => "api_key.rolled",
        _ => return None,
    })
}

/// The body delivered for an event of type `kind`: `{type, timestamp, data}` (Standard Webhooks' shape).
pub fn payload(kind: &str, event: &Event) -> String {
    let mut data = serde_json::Map::new();
    for (name, value) in [
        ("app_id", &event.app),
        ("user_id", &event.user_id),
        ("key_id", &event.key_id),
        ("provider", &event.provider),
    ] {
        if let Some(v) = value {
            data.insert(name.to_owned(), json!(v));
        }
    }
    json!({ "type": kind, "timestamp": rfc3339(now_ms()), "data": data }).to_string()
}

/// An event claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The `webhook-id` (the same on every attempt).
    pub id: String,
    /// The type.
    pub event: String,
    /// The body.
    pub payload: String,
    /// When its retry period started (ms): when it was written, or retried by an operator.
    pub retry_from: i64,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// An outbox row as `webhooks list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The `webhook-id`.
    pub id: String,
    /// The type.
    pub event: String,
    /// Written at (ms).
    pub created_at: i64,
    /// Attempts so far.
    pub attempts: i64,
    /// `pending`, `delivered` or `failed`.
    pub status: &'static str,
    /// The last failure.
    pub last_error: Option<String>,
}

/// The outbox by state: `(pending, delivered, failed)`, and the age (ms) of the oldest pending event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Not delivered yet, still retried.
    pub pending: i64,
    /// Delivered (until purged).
    pub delivered: i64,
    /// Retries ran out.
    pub failed: i64,
    /// Age of the oldest pending event (ms; 0 without any).
    pub oldest_pending_ms: i64,
}

const STATUS: &str = "CASE WHEN delivered_at IS NOT NULL THEN 'delivered' \
                      WHEN failed_at IS NOT NULL THEN 'failed' ELSE 'pending' END";

impl Store {
    /// Inserts the audit row of a change in its transaction, with the webhook event it announces.
    pub(super) async fn audited(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        event: &Event,
    ) -> Result<(), sqlx::Error> {
        super::audit::insert(&mut **tx, event).await?;
        self.webhook_of(tx, event).await
    }

    /// Writes a webhook event of type `kind` about `event` with `executor` (the change's transaction, or the
    /// pool for an event of its own), if this store writes that type.
    pub(super) async fn write_webhook<'e, E>(
        &self,
        executor: E,
        kind: &str,
        event: &Event,
    ) -> Result<(), sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        if !self.webhooks.wants(kind) {
            return Ok(());
        }
        let now = now_ms();
        sqlx::query(
            "INSERT INTO webhook_outbox (id, event, payload, created_at, retry_from, next_at) \
             VALUES ($1, $2, $3, $4, $4, $4)",
        )
        .bind(format!("msg_{}", new_id()))
        .bind(kind)
        .bind(payload(kind, event))
        .bind(now)
        .execute(executor)
        .await?;
        Ok(())
    }

    /// Writes the webhook event of the audited change `event`, if it has one this store writes.
    pub(super) async fn webhook_of(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        event: &Event,
    ) -> Result<(), sqlx::Error> {
        match type_of(event) {
            Some(kind) => self.write_webhook(&mut **tx, kind, event).await,
            None => Ok(()),
        }
    }

    /// Writes a webhook event of type `kind` about `event` on its own (the optional login event), if
    /// this store writes that type.
    pub async fn webhook_event(&self, kind: &str, event: &Event) -> Result<(), sqlx::Error> {
        self.write_webhook(&self.writer, kind, event).await
    }

    /// Whether this store writes events of type `kind`.
    pub fn wants_webhook(&self, kind: &str) -> bool {
        self.webhooks.wants(kind)
    }

    /// Whether an event is due (a read, so an idle outbox costs no write).
    pub async fn webhooks_due(&self) -> Result<bool, sqlx::Error> {
        let now = now_ms();
        let row = sqlx::query(
            "SELECT id FROM webhook_outbox WHERE delivered_at IS NULL AND failed_at IS NULL \
             AND next_at <= $1 AND locked_until <= $1 LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Claims up to `limit` due events for `lease_ms`, counting the attempt.
    pub async fn claim_webhooks(
        &self,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, sqlx::Error> {
        let now = now_ms();
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE webhook_outbox SET locked_until = $1, attempts = attempts + 1 WHERE id IN \
             (SELECT id FROM webhook_outbox WHERE delivered_at IS NULL AND failed_at IS NULL \
             AND next_at <= $2 AND locked_until <= $2 ORDER BY next_at LIMIT $3{lock}) \
             RETURNING id, event, payload, retry_from, attempts"
        );
        let rows = sqlx::query(&sql)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.writer)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Delivery {
                    id: r.try_get(0)?,
                    event: r.try_get(1)?,
                    payload: r.try_get(2)?,
                    retry_from: r.try_get(3)?,
                    attempts: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Marks `id` delivered.
    pub async fn webhook_delivered(&self, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE webhook_outbox SET delivered_at = $1, locked_until = 0, last_error = NULL WHERE id = $2",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Marks `id` due again at `next_at` after the failure `error`.
    pub async fn webhook_retry_at(
        &self,
        id: &str,
        next_at: i64,
        error: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE webhook_outbox SET next_at = $1, locked_until = 0, last_error = $2 WHERE id = $3",
        )
        .bind(next_at)
        .bind(error)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Marks `id` failed (retries ran out, or its type is not delivered), with the audit row `audit`.
    pub async fn webhook_failed(
        &self,
        id: &str,
        error: &str,
        audit: &Event,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE webhook_outbox SET failed_at = $1, locked_until = 0, last_error = $2 WHERE id = $3",
        )
        .bind(now_ms())
        .bind(error)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        super::audit::insert(&mut *tx, audit).await?;
        tx.commit().await
    }

    /// The newest `limit` events (`status`: `pending`, `delivered`, `failed`, or all).
    pub async fn webhook_entries(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>, sqlx::Error> {
        let sql = format!(
            "SELECT id, event, created_at, attempts, {STATUS}, last_error FROM webhook_outbox \
             WHERE $1 IS NULL OR {STATUS} = $1 ORDER BY created_at DESC, id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(status)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let status: String = r.try_get(4)?;
                Ok(OutboxEntry {
                    id: r.try_get(0)?,
                    event: r.try_get(1)?,
                    created_at: r.try_get(2)?,
                    attempts: r.try_get(3)?,
                    status: match status.as_str() {
                        "delivered" => "delivered",
                        "failed" => "failed",
                        _ => "pending",
                    },
                    last_error: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Makes failed events (one `id`, or all) due again now, with a fresh retry period. Returns how
    /// many.
    pub async fn retry_webhooks(&self, id: Option<&str>) -> Result<u64, sqlx::Error> {
        let now = now_ms();
        Ok(sqlx::query(
            "UPDATE webhook_outbox SET failed_at = NULL, next_at = $1, retry_from = $1, attempts = 0 \
             WHERE failed_at IS NOT NULL AND ($2 IS NULL OR id = $2)",
        )
        .bind(now)
        .bind(id)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }

    /// Deletes delivered events written before `before` (ms) and, with `failed`, failed ones too.
    /// Returns how many.
    pub async fn purge_webhooks(&self, before: i64, failed: bool) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM webhook_outbox WHERE created_at < $1 AND \
             (delivered_at IS NOT NULL OR ($2 AND failed_at IS NOT NULL))",
        )
        .bind(before)
        .bind(failed)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }

    /// The outbox by state (for `/metrics`).
    pub async fn webhook_counts(&self) -> Result<OutboxCounts, sqlx::Error> {
        let row = sqlx::query(
            "SELECT \
             COALESCE(SUM(CASE WHEN delivered_at IS NULL AND failed_at IS NULL THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN delivered_at IS NOT NULL THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN failed_at IS NOT NULL THEN 1 ELSE 0 END), 0), \
             COALESCE(MIN(CASE WHEN delivered_at IS NULL AND failed_at IS NULL THEN created_at END), 0) \
             FROM webhook_outbox",
        )
        .fetch_one(&self.pool)
        .await?;
        let oldest: i64 = row.try_get(3)?;
        Ok(OutboxCounts {
            pending: row.try_get(0)?,
            delivered: row.try_get(1)?,
            failed: row.try_get(2)?,
            oldest_pending_ms: if oldest == 0 { 0 } else { now_ms() - oldest },
        })
    }
}
