//! Delivering the webhook outbox (issue 31): every instance polls for due events (a read while the outbox
//! is idle), claims a batch with a lease, posts them concurrently, and marks each delivered, due again
//! after a backoff, or failed once its retry period is over (audited). A receiver that is down or hangs
//! only holds this task: no database connection waits on it, and logins never do.

use std::sync::Arc;
use std::time::Duration;

use crate::db::webhooks::Delivery;
use crate::model::Event;
use crate::service::webhooks::{backoff, Webhooks};
use crate::state::AppState;
use crate::util::now_ms;

/// How often an idle instance looks for due events.
const POLL: Duration = Duration::from_millis(500);
/// Events claimed (and posted concurrently) at once.
const BATCH: i64 = 16;
/// How often the outbox gauges of `/metrics` are refreshed.
const GAUGES_EVERY: Duration = Duration::from_secs(15);

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Delivers due events until the task is dropped (nothing without `--webhook-url`).
pub fn spawn_webhooks(state: AppState) -> tokio::task::JoinHandle<()> {
    let Some(hooks) = state.inner.webhooks.clone() else {
        return tokio::spawn(async {});
    };
    tokio::spawn(async move {
        let mut gauges_at = tokio::time::Instant::now();
        loop {
            match deliver_due(&state, &hooks).await {
                // A full batch: more may be waiting.
                Ok(n) if n == BATCH as usize => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "webhook delivery: the database failed; retrying later")
                }
            }
            if gauges_at.elapsed() >= GAUGES_EVERY {
                gauges_at = tokio::time::Instant::now();
                if let Ok(counts) = state.inner.store.webhook_counts().await {
                    state.inner.metrics.webhook_outbox(&counts);
                }
            }
            tokio::time::sleep(POLL).await;
        }
    })
}

/// Claims and posts one batch of due events; returns how many were claimed.
pub async fn deliver_due(state: &AppState, hooks: &Arc<Webhooks>) -> Result<usize, sqlx::Error> {
    let store = &state.inner.store;
    if !store.webhooks_due().await? {
        return Ok(0);
    }
    let lease = hooks.timeout * 2 + Duration::from_secs(30);
    let batch = store.claim_webhooks(BATCH, ms(lease)).await?;
    let claimed = batch.len();
    let mut posts = tokio::task::JoinSet::new();
    for delivery in batch {
        let hooks = hooks.clone();
        posts.spawn(async move {
            let result = match hooks.events.contains(&delivery.event) {
                true => hooks.deliver(&delivery).await,
                false => Err("not delivered: its type is not in --webhook-events".to_owned()),
            };
            (delivery, result)
        });
    }
    // A delivery task that panicked keeps its lease until it passes; then the event is claimed again.
    while let Some(Ok((delivery, result))) = posts.join_next().await {
        settle(state, hooks, &delivery, result).await?;
    }
    Ok(claimed)
}

/// Records the outcome of one attempt.
async fn settle(
    state: &AppState,
    hooks: &Webhooks,
    delivery: &Delivery,
    result: Result<(), String>,
) -> Result<(), sqlx::Error> {
    let (store, metrics) = (&state.inner.store, &state.inner.metrics);
    let now = now_ms();
    let error = match result {
        Ok(()) => {
            store.webhook_delivered(&delivery.id).await?;
            let seconds = (now - delivery.retry_from).max(0) as f64 / 1000.0;
            metrics.webhook("delivered", Some(seconds));
            return Ok(());
        }
        Err(error) => error,
    };
    let next_at = now + ms(backoff(delivery.attempts));
    let unwanted = !hooks.events.contains(&delivery.event);
    if unwanted || next_at > delivery.retry_from + ms(hooks.retry_for) {
        tracing::warn!(id = %delivery.id, event = %delivery.event, error = %error, "webhook event failed for good");
        let audit = Event::new("webhook.failed", "failed").provider(&delivery.event);
        store.webhook_failed(&delivery.id, &error, &audit).await?;
        metrics.webhook("failed", None);
    } else {
        tracing::info!(id = %delivery.id, attempts = delivery.attempts, error = %error, "webhook delivery failed; retrying");
        store
            .webhook_retry_at(&delivery.id, next_at, &error)
            .await?;
        metrics.webhook("retried", None);
    }
    Ok(())
}
