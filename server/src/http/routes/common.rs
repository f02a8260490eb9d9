//! What several route modules share: the audit records of refused and failed requests, the events of
//! the email/password provider, and the emailed token rows.

use appkeys_protocol::{ErrorCode, Provider};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::{engine::general_purpose::STANDARD, Engine};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::db::{NewToken, User};
use crate::error::AppError;
use crate::model::{Client, Event, Purpose};
use crate::service::ratelimit::{client_key, Bucket};
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

/// The operator endpoints, each with its own callers, failure bucket and audit event.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Operator {
    /// `POST /oauth/introspect`.
    Introspection,
    /// `/api/admin/v1/…`.
    Admin,
}

/// Checks the HTTP Basic caller of an operator endpoint against `credentials`: `None` for a known one
/// (never limited, so others' bad attempts from its address cannot lock it out); for an unknown one a
/// 401 answer with `WWW-Authenticate`, audited in aggregate and limited per client (429 past the limit).
pub(crate) async fn operator_caller(
    state: &AppState,
    client: &Client,
    headers: &HeaderMap,
    credentials: &[(String, String)],
    operator: Operator,
) -> Result<Option<Response>, AppError> {
    if caller_known(headers, credentials) {
        return Ok(None);
    }
    let (bucket, event, realm, what) = match operator {
        Operator::Introspection => (
            Bucket::IntrospectionFailuresIp,
            "introspection.failed",
            "Basic realm=\"appkeys introspection\"",
            "introspection",
        ),
        Operator::Admin => (
            Bucket::AdminFailuresIp,
            "admin.refused",
            "Basic realm=\"appkeys admin\"",
            "the admin API",
        ),
    };
    let ip = client_key(client.ip);
    let event = Event::new(event, "invalid_client").client(client);
    let limiter = &state.inner.limiter;
    let limit = state.inner.limits.login_failures_per_ip;
    let checked = limiter.check(bucket, &[&ip], limit).await;
    audit_limit(state, &event, checked).await?;
    state.count_event(event.clone());
    let recorded = limiter.record(bucket, &[&ip], limit).await;
    audit_limit(state, &event, recorded).await?;
    let message = format!("{what} needs the caller's credentials (HTTP Basic)");
    let mut response = AppError::new(ErrorCode::AuthError, message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(realm));
    Ok(Some(response))
}

/// Whether `Authorization: Basic` names one of `credentials` (compared in constant time).
fn caller_known(headers: &HeaderMap, credentials: &[(String, String)]) -> bool {
    let Some((id, secret)) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, b64)| STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(i, s)| (i.to_owned(), s.to_owned()))
        })
    else {
        return false;
    };
    let digest = |s: &str| Sha256::digest(s.as_bytes());
    let (id, secret) = (digest(&id), digest(&secret));
    // Every entry is compared, whatever matches, so the time does not tell which one did.
    credentials
        .iter()
        .fold(false, |found, (known_id, known_secret)| {
            let same = id.ct_eq(&digest(known_id)) & secret.ct_eq(&digest(known_secret));
            found | bool::from(same)
        })
}
