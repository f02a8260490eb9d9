//! The audit log's SQL: inserting events (inside the transaction of the change they record, or alone),
//! reading entries back, and the sweep past the retention.

use sqlx::Row;

use super::Store;
use crate::model::{Entry, Event};
use crate::util::{new_id, now_ms, rfc3339};

/// Inserts `event` with `executor` (a transaction's connection, or a pool).
pub(super) async fn insert<'e, E>(executor: E, event: &Event) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    insert_many(executor, std::slice::from_ref(event)).await
}

/// Inserts `events` with one statement, each standing for 1 event.
pub(super) async fn insert_many<'e, E>(executor: E, events: &[Event]) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let at = now_ms();
    let counted: Vec<(Event, i64, i64)> = events.iter().map(|e| (e.clone(), 1, at)).collect();
    insert_counted(executor, &counted).await
}

/// Inserts `(event, count, time in ms)` rows with one statement (the aggregated events of an interval).
pub(super) async fn insert_counted<'e, E>(
    executor: E,
    events: &[(Event, i64, i64)],
) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..events.len())
        .map(|i| {
            let n = i * 11;
            let params: Vec<String> = (1..=11).map(|k| format!("${}", n + k)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO audit (id, at, event, app, user_id, key_id, provider, ip, user_agent, outcome, \
         count) VALUES {}",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for (event, count, at) in events {
        query = query
            .bind(new_id())
            .bind(*at)
            .bind(event.event)
            .bind(event.app.clone())
            .bind(event.user_id.clone())
            .bind(event.key_id.clone())
            .bind(event.provider.clone())
            .bind(event.ip.clone())
            .bind(event.user_agent.clone())
            .bind(event.outcome)
            .bind(*count);
    }
    query.execute(executor).await?;
    Ok(())
}

/// An audit row as read by [`Store::audit_entries`].
fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<Entry, sqlx::Error> {
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
        count: row.try_get(9)?,
    })
}

impl Store {
    /// Records aggregated events (`(event, how many, when the last one happened in ms)`), in statements
    /// of at most 500 rows.
    pub async fn audit_counted(&self, events: &[(Event, i64, i64)]) -> Result<(), sqlx::Error> {
        for chunk in events.chunks(500) {
            insert_counted(&self.writer, chunk).await?;
        }
        Ok(())
    }

    /// Records an event that changes nothing else (`login.failed`, `rate_limited`).
    pub async fn audit(&self, event: &Event) -> Result<(), sqlx::Error> {
        insert(&self.writer, event).await
    }

    /// Audit entries, oldest first, optionally only of a user, of a key, or since a time (ms).
    pub async fn audit_entries(
        &self,
        user: Option<&str>,
        key: Option<&str>,
        since: Option<i64>,
    ) -> Result<Vec<Entry>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT at, event, app, user_id, key_id, provider, ip, user_agent, outcome, count FROM audit \
             WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR key_id = $2) AND at >= $3 \
             ORDER BY at, id",
        )
        .bind(user.map(str::to_owned))
        .bind(key.map(str::to_owned))
        .bind(since.unwrap_or(0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Deletes up to `batch` audit rows older than `cutoff` (ms).
    pub async fn sweep_audit(&self, cutoff: i64, batch: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < $1 LIMIT $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }
}

/// Milliseconds in a day.
pub const DAY_MS: i64 = 24 * 3600 * 1000;

impl Store {
    /// Successful logins with key `key_id` per UTC day (days since the epoch) since `since` (ms), and the
    /// client address of the latest one — from the aggregated audit rows (no write of its own).
    pub async fn key_usage(
        &self,
        key_id: &str,
        since: i64,
    ) -> Result<(Vec<(i64, i64)>, Option<String>), sqlx::Error> {
        let rows = sqlx::query(
            "SELECT at / 86400000, CAST(SUM(count) AS BIGINT) FROM audit \
             WHERE key_id = $1 AND at >= $2 AND event = 'login.succeeded' GROUP BY at / 86400000",
        )
        .bind(key_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        let days = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let last = sqlx::query(
            "SELECT ip FROM audit WHERE key_id = $1 AND event = 'login.succeeded' AND ip IS NOT NULL \
             ORDER BY at DESC LIMIT 1",
        )
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok((days, last.map(|r| r.try_get(0)).transpose()?))
    }
}
