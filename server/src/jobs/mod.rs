//! Background jobs: the `lastUsedAt` flush of key logins, webhook delivery ([`webhooks`]), and the periodic expiry sweep — sessions past
//! the refresh-token lifetime, anonymous users without a live session, rate-limit rows of past windows,
//! expired confirmation and reset tokens, known devices unused for 90 days, old audit rows — in bounded batches, so a large backlog never
//! holds a long transaction. Every instance sweeps; the deletes are idempotent, so several instances on
//! one PostgreSQL database only share the work.

use std::time::Duration;

mod webhooks;

pub use webhooks::{deliver_due, spawn_webhooks};

use crate::crypto::link_token;
use crate::db::NewToken;
use crate::model::{Event, Purpose};
use crate::service::ratelimit::HOURLY_WINDOW;
use crate::state::AppState;
use crate::util::now_ms;

/// How long delivered webhook events are kept.
const WEBHOOKS_KEPT_MS: i64 = 7 * 24 * 3600 * 1000;
/// Rows deleted per statement.
pub const BATCH: i64 = 1000;
/// Most batches per kind and run (the rest waits for the next run).
const MAX_BATCHES: usize = 100;
/// Anonymous users younger than this are never swept (their session is written with them, but
/// the grace keeps a concurrent login from racing the sweep).
const ANONYMOUS_GRACE_MS: i64 = 60_000;

/// Known devices (`user_devices`) unused this long are forgotten: 90 days.
pub const DEVICE_UNUSED_MS: i64 = 90 * 24 * 3600 * 1000;

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Expired sessions.
    pub sessions: u64,
    /// Anonymous users without a session.
    pub anonymous_users: u64,
    /// Rate-limit rows of past windows.
    pub rate_limits: u64,
    /// Known devices unused for [`DEVICE_UNUSED_MS`].
    pub devices: u64,
    /// Audit rows past the retention.
    pub audit: u64,
    /// Keys disabled for being unused (`--disable-unused-keys-after-days`).
    pub unused_keys: u64,
    /// Expired confirmation and reset tokens.
    pub tokens: u64,
}

async fn in_batches<F, Fut>(mut delete: F) -> Result<u64, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, sqlx::Error>>,
{
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        let n = delete().await?;
        total += n;
        if n < BATCH as u64 {
            break;
        }
    }
    Ok(total)
}

/// One sweep now.
pub async fn sweep_once(state: &AppState) -> Result<Swept, sqlx::Error> {
    let store = &state.inner.store;
    let now = now_ms();
    let session_cutoff = now.saturating_sub(state.inner.refresh_ttl.saturating_mul(1000));
    let sessions = in_batches(|| store.sweep_sessions(session_cutoff, BATCH)).await?;
    let anonymous_cutoff = now - ANONYMOUS_GRACE_MS.min(state.inner.refresh_ttl * 1000);
    let anonymous_users =
        in_batches(|| store.sweep_anonymous_users(anonymous_cutoff, BATCH)).await?;
    // Rows of the hourly buckets (failures per account and hour, resets per client) live as long as
    // their windows matter too: the longest window decides.
    let window = state
        .inner
        .limits
        .window
        .max(HOURLY_WINDOW)
        .as_millis()
        .min(i64::MAX as u128 / 4) as i64;
    let rate_limits = in_batches(|| store.sweep_rate_limits(now - 2 * window, BATCH)).await?;
    let devices =
        in_batches(|| store.sweep_devices(now.saturating_sub(DEVICE_UNUSED_MS), BATCH)).await?;
    let retention = state
        .inner
        .audit_retention
        .as_millis()
        .min(i64::MAX as u128) as i64;
    let audit = in_batches(|| store.sweep_audit(now.saturating_sub(retention), BATCH)).await?;
    let tokens = in_batches(|| store.sweep_tokens(now, BATCH)).await?;
    let flow_cutoff = now - crate::db::oauth_flows::FLOW_TTL_MS;
    in_batches(|| store.sweep_flows(flow_cutoff, BATCH)).await?;
    // Delivered webhook events stay a week for `webhooks list`; failed ones until an operator acts.
    store
        .purge_webhooks(now.saturating_sub(WEBHOOKS_KEPT_MS), false)
        .await?;
    let mut unused_keys = 0;
    if let Some(after) = state.inner.disable_unused_keys_after {
        let cutoff = now.saturating_sub(after.as_millis().min(i64::MAX as u128) as i64);
        for (key, user) in store.unused_keys(cutoff, BATCH).await? {
            let event = Event {
                user_agent: Some("appkeys-server sweep".to_owned()),
                ..Event::new("key.disabled", "unused")
            };
            if store.set_key_disabled(&user, &key, true, &event).await? {
                state.record(&event);
                unused_keys += 1;
            }
        }
    }
    Ok(Swept {
        sessions,
        anonymous_users,
        rate_limits,
        devices,
        audit,
        unused_keys,
        tokens,
    })
}

/// Writes the pending `last_used_at` values every `interval` until the task is dropped (a final
/// flush belongs to shutdown: [`AppState::flush_key_uses`]).
pub fn spawn_key_use_flush(state: AppState, interval: Duration) -> tokio::task::JoinHandle<()> {
    every(interval, "writing API key last use", move || {
        let state = state.clone();
        async move { state.flush_key_uses().await.map(drop) }
    })
}

/// Writes the aggregated audit events every `interval` until the task is dropped (a final flush belongs
/// to shutdown: [`AppState::flush_audit`]).
pub fn spawn_audit_flush(state: AppState, interval: Duration) -> tokio::task::JoinHandle<()> {
    every(interval, "writing aggregated audit events", move || {
        let state = state.clone();
        async move { state.flush_audit().await.map(drop) }
    })
}

/// Sends the reset emails an import queued, `per_minute` of them (claimed one by one, so several instances
/// share the work and none is sent twice), until the task is dropped. Nothing without email configured.
pub fn spawn_import_resets(state: AppState, per_minute: u32) -> tokio::task::JoinHandle<()> {
    if per_minute == 0 || state.inner.mailer.is_none() {
        return tokio::spawn(async {});
    }
    // A batch a second, or one message every 60/per_minute seconds below one a second.
    let (batch, interval) = if per_minute >= 60 {
        (i64::from(per_minute / 60), Duration::from_secs(1))
    } else {
        (1, Duration::from_secs_f64(60.0 / f64::from(per_minute)))
    };
    every(
        interval,
        "sending the reset emails of an import",
        move || {
            let state = state.clone();
            async move { send_import_resets(&state, batch).await }
        },
    )
}

/// Runs `job` every `interval` (at least 100 ms; a late tick waits instead of bursting) until the task is
/// dropped; a failure is logged as `what … failed` and retried at the next tick.
fn every<F, Fut>(interval: Duration, what: &'static str, job: F) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), sqlx::Error>> + Send,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(100)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(e) = job().await {
                tracing::warn!(error = %e, "{what} failed; retrying later");
            }
        }
    })
}

async fn send_import_resets(state: &AppState, batch: i64) -> Result<(), sqlx::Error> {
    let Some(mailer) = &state.inner.mailer else {
        return Ok(());
    };
    let store = &state.inner.store;
    let ttl = i64::try_from(state.inner.token_ttl.as_millis()).unwrap_or(i64::MAX / 4);
    for (user, app, email) in store.claim_resets(batch).await? {
        let (id, secret, hash) = link_token::new_token();
        let token = NewToken {
            id: &id,
            purpose: Purpose::Reset,
            hash: &hash,
            expires_at: now_ms().saturating_add(ttl),
        };
        store.issue_token(&user, token).await?;
        mailer.send_import_reset(&app, &email, &id, &secret);
    }
    Ok(())
}

/// Sweeps every `interval` until the task is dropped; failures (database away) are logged and
/// retried at the next run.
pub fn spawn_sweep(state: AppState, interval: Duration) -> tokio::task::JoinHandle<()> {
    every(interval, "expiry sweep", move || {
        let state = state.clone();
        async move {
            let s = sweep_once(&state).await?;
            if s != Swept::default() {
                tracing::info!(
                    sessions = s.sessions,
                    anonymous_users = s.anonymous_users,
                    rate_limits = s.rate_limits,
                    devices = s.devices,
                    audit = s.audit,
                    unused_keys = s.unused_keys,
                    tokens = s.tokens,
                    "expiry sweep"
                );
            }
            Ok(())
        }
    })
}
