//! The counters of the rate limits (one row per bucket, sliding windows): read, count one event with
//! one atomic upsert (so the limits hold across instances), and the sweep of past windows.

use sqlx::Row;

use super::Store;

/// A bucket's counts as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Start of the current window (ms, a multiple of the window).
    pub window_start: i64,
    /// Count in the window before.
    pub previous: i64,
    /// Count in the current window.
    pub current: i64,
}

impl Store {
    /// The counts of a rate-limit bucket, if it has a row.
    pub async fn rate_counts(&self, bucket: &str) -> Result<Option<Counts>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT window_start, previous, current FROM rate_limits WHERE bucket = $1",
        )
        .bind(bucket)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Counts {
                window_start: r.try_get(0)?,
                previous: r.try_get(1)?,
                current: r.try_get(2)?,
            })
        })
        .transpose()
    }

    /// Counts one event in `bucket` for the window starting at `start` (windows of `window` ms),
    /// atomically (one upsert, also across instances); returns the counts after it.
    pub async fn rate_increment(
        &self,
        bucket: &str,
        start: i64,
        window: i64,
    ) -> Result<Counts, sqlx::Error> {
        let row = sqlx::query(
            "INSERT INTO rate_limits (bucket, window_start, previous, current) VALUES ($1, $2, 0, 1) \
             ON CONFLICT (bucket) DO UPDATE SET \
               previous = CASE WHEN rate_limits.window_start = $2 THEN rate_limits.previous \
                               WHEN rate_limits.window_start = $2 - $3 THEN rate_limits.current \
                               ELSE 0 END, \
               current = CASE WHEN rate_limits.window_start = $2 THEN rate_limits.current + 1 \
                              ELSE 1 END, \
               window_start = $2 \
             RETURNING window_start, previous, current",
        )
        .bind(bucket)
        .bind(start)
        .bind(window)
        .fetch_one(&self.writer)
        .await?;
        Ok(Counts {
            window_start: row.try_get(0)?,
            previous: row.try_get(1)?,
            current: row.try_get(2)?,
        })
    }

    /// Forgets the counts of `bucket` (a completed password reset clears its client's failures).
    pub async fn rate_clear(&self, bucket: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM rate_limits WHERE bucket = $1")
            .bind(bucket)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Deletes up to `batch` rate-limit rows whose windows ended before `cutoff` (ms).
    pub async fn sweep_rate_limits(&self, cutoff: i64, batch: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM rate_limits WHERE bucket IN \
             (SELECT bucket FROM rate_limits WHERE window_start < $1 LIMIT $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }
}
