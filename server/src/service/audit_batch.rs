//! Events recorded in aggregate: a refused request, a failed API-key login and a successful one are
//! counted in memory per event (client, key, outcome, …) and written by the flush job as one row per
//! event and interval with its count — not one row per request, so a flood of them costs no write per
//! request and a service logging in all day adds a row per interval, not per login. Bounded: past
//! [`MAX_EVENTS`] distinct events in one interval, further new ones are only counted in the metrics.
//! At most one interval of counts is lost if the process dies (`kill -9`); a clean shutdown flushes.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::db::Store;
use crate::model::Event;

/// Most distinct events kept between two flushes.
pub const MAX_EVENTS: usize = 50_000;

/// The counts waiting for the next flush.
#[derive(Debug, Default)]
pub struct AuditBatch {
    /// Per event: how many, and when the last one happened (ms): the row's time, so that the latest
    /// of several events of one interval can be told.
    counts: Mutex<HashMap<Event, (i64, i64)>>,
}

impl AuditBatch {
    /// Counts one `event`. Returns `false` when it could not be kept (the map is full).
    pub fn record(&self, event: Event) -> bool {
        let now = crate::util::now_ms();
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((n, at)) = counts.get_mut(&event) {
            *n += 1;
            *at = now;
            return true;
        }
        if counts.len() >= MAX_EVENTS {
            return false;
        }
        counts.insert(event, (1, now));
        true
    }

    /// Writes what was counted since the last flush; on failure the counts are kept for the next one.
    pub async fn flush(&self, store: &Store) -> Result<usize, sqlx::Error> {
        let pending: Vec<(Event, i64, i64)> = {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            counts.drain().map(|(e, (n, at))| (e, n, at)).collect()
        };
        if let Err(e) = store.audit_counted(&pending).await {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            for (event, n, at) in pending {
                let entry = counts.entry(event).or_insert((0, at));
                entry.0 += n;
                entry.1 = entry.1.max(at);
            }
            return Err(e);
        }
        Ok(pending.len())
    }
}
