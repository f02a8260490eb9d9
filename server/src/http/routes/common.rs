//! What several route modules share: the audit records of refused and failed requests, the events of
//! the email/password provider, and the emailed token rows.

use appkeys_protocol::{ErrorCode, Provider};

use crate::db::{NewToken, User};
use crate::error::AppError;
use crate::model::{Client, Event, Purpose};
use crate::state::AppState;
use crate::util::{now_ms, rfc3339};

/// Records `rate_limited` (in aggregate) when `result` is a 429; returns `result`.
pub(crate) async fn audit_limit<T>(
    state: &AppState,
    event: &Event,
    result: Result<T, AppError>,
) -> Result<T, AppError> {
    if let Err(e) = &result {
        if e.code == ErrorCode::TooManyRequests {
            let limited = Event {
                event: "rate_limited",
                outcome: "limited",
                ..event.clone()
            };
            // In aggregate: once per client and interval, with a count (a flood costs no write each).
            state.count_event(limited);
        }
    }
    result
}

/// Records a failed login (it changes nothing else).
pub(crate) async fn audit_failure(state: &AppState, event: &Event, outcome: &'static str) {
    let failed = Event {
        event: "login.failed",
        outcome,
        ..event.clone()
    };
    state.record(&failed);
    if let Err(e) = state.inner.store.audit(&failed).await {
        tracing::warn!(error = %e, "audit of a failed login failed");
    }
}

/// A successful `event` of the email/password provider in `app_id` by `client`.
pub(crate) fn userpass_event(event: &'static str, app_id: &str, client: &Client) -> Event {
    Event::new(event, "success")
        .app(app_id)
        .provider(Provider::LocalUserpass.as_str())
        .client(client)
}

/// The token row for `purpose` that expires after the configured lifetime.
pub(crate) fn token_row<'a>(
    state: &AppState,
    id: &'a str,
    hash: &'a str,
    purpose: Purpose,
) -> NewToken<'a> {
    let ttl = i64::try_from(state.inner.token_ttl.as_millis()).unwrap_or(i64::MAX / 4);
    NewToken {
        id,
        purpose,
        hash,
        expires_at: now_ms().saturating_add(ttl),
    }
}

/// Tells the owner of `user_id`, by email when email is configured and the user has an address, about
/// something that happened to the account (`what`, one paragraph; never a secret). Failures are logged:
/// the change itself is done.
pub(crate) async fn notify_owner(
    state: &AppState,
    user_id: &str,
    app_id: &str,
    subject: &str,
    what: &str,
) {
    let Some(mailer) = &state.inner.mailer else {
        return;
    };
    match state.inner.store.user(user_id).await {
        Ok(Some(User {
            email: Some(email), ..
        })) => mailer.notify(app_id, &email, subject, what),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "notice: user lookup failed"),
    }
}

/// Now and the client, as a notice says them: `at 2026-12-06T00:20:43.123Z from 203.0.113.7`.
pub(crate) fn when_and_where(client: &Client) -> String {
    format!("at {} from {}", rfc3339(now_ms()), client.ip)
}
