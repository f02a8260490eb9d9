//! Account confirmation and password reset of the email/password provider
//! (`local-userpass/confirm`, `confirm/send`, `reset`, `reset/send`; `confirm/call` and `reset/call`
//! are refused). Tokens are 256 random bits, single use, expire after `--email-token-ttl`, and are
//! stored only as SHA-256 hex; their id is public (`tokenId` of the link).

use appkeys_protocol::{wire, ErrorCode};
use axum::{
    extract::{FromRequest, Path, Request, State},
    http::StatusCode,
};

use super::common::{audit_limit, notify_owner, token_row, userpass_event, when_and_where};
use crate::crypto::link_token;
use crate::error::AppError;
use crate::http::extract::{required_str, JsonObject};
use crate::model::{email, password, Client, Event, Purpose};
use crate::service::ratelimit::{client_key, Bucket};
use crate::state::AppState;

fn token_invalid() -> AppError {
    AppError::new(
        ErrorCode::UserpassTokenInvalid,
        "invalid token data: the link is wrong, was already used or has expired",
    )
}

fn not_configured() -> AppError {
    AppError::new(
        ErrorCode::EmailNotConfigured,
        "email is not configured on this server (--smtp-url or --mail-dir)",
    )
}

/// The `(tokenId, SHA-256 of token)` of a body; `Ok(None)` when they are malformed (refused without a
/// lookup).
fn token_fields(
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<(String, String)>, AppError> {
    let token = required_str(body, "token")?;
    let id = required_str(body, "tokenId")?;
    Ok(link_token::parse(token, id))
}

/// 429 when this client sent too many bad tokens; a malformed token counts as a bad one.
async fn check_token(
    state: &AppState,
    event: &Event,
    ip: &str,
    fields: Option<(String, String)>,
) -> Result<(String, String), AppError> {
    let limit = state.inner.limits.login_failures_per_ip;
    let limiter = &state.inner.limiter;
    audit_limit(
        state,
        event,
        limiter
            .check_if_seen(Bucket::TokenFailuresIp, &[ip], limit)
            .await,
    )
    .await?;
    match fields {
        Some(fields) => Ok(fields),
        None => Err(token_failed(state, event, ip).await),
    }
}

/// Records a wrong, used or expired token (audit `token.failed`, rate-limit count); returns the error
/// to answer with (`UserpassTokenInvalid`, or 429 once the client is past the limit).
async fn token_failed(state: &AppState, event: &Event, ip: &str) -> AppError {
    let failed = Event {
        event: "token.failed",
        outcome: "invalid_token",
        ..event.clone()
    };
    if let Err(e) = state.inner.store.audit(&failed).await {
        tracing::warn!(error = %e, "audit of a bad token failed");
    }
    let limit = state.inner.limits.login_failures_per_ip;
    let recorded = state
        .inner
        .limiter
        .record(Bucket::TokenFailuresIp, &[ip], limit)
        .await;
    match audit_limit(state, event, recorded).await {
        Ok(()) => token_invalid(),
        Err(e) => e,
    }
}

#[utoipa::path(post, path = "/api/client/v2.0/app/{app_id}/auth/providers/local-userpass/confirm", tag = "auth",
    params(("app_id" = String, Path, description = "App id")),
    request_body = wire::ConfirmRequest,
    responses((status = 204, description = "The account is confirmed: it can log in")))]
pub(crate) async fn confirm(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    client: Client,
    req: Request,
) -> Result<StatusCode, AppError> {
    state.check_app(&app_id)?;
    let JsonObject(body) = JsonObject::from_request(req, &state).await?;
    let ip = client_key(client.ip);
    let event = userpass_event("user.confirmed", &app_id, &client);
    let fields = token_fields(&body)?;
    let (id, hash) = check_token(&state, &event, &ip, fields).await?;
    let confirmed = state
        .inner
        .store
        .confirm_user(&id, &hash, &event)
        .await
        .map_err(AppError::db)?;
    if confirmed.is_none() {
        return Err(token_failed(&state, &event, &ip).await);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/client/v2.0/app/{app_id}/auth/providers/local-userpass/reset", tag = "auth",
    params(("app_id" = String, Path, description = "App id")),
    request_body = wire::ResetPasswordRequest,
    responses((status = 204, description = "The new password is set; every session of the user ended")))]
pub(crate) async fn reset(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    client: Client,
    req: Request,
) -> Result<StatusCode, AppError> {
    state.check_app(&app_id)?;
    let JsonObject(body) = JsonObject::from_request(req, &state).await?;
    let password = required_str(&body, "password")?.to_owned();
    let ip = client_key(client.ip);
    let event = userpass_event("password.reset", &app_id, &client);
    let fields = token_fields(&body)?;
    password::check(&password, state.inner.min_password_length)?;
    let (id, hash) = check_token(&state, &event, &ip, fields).await?;
    let store = &state.inner.store;
    // Checked before hashing (a bad token costs no Argon2id), used up in the write below.
    if store
        .token_user(&id, Purpose::Reset, &hash)
        .await
        .map_err(AppError::db)?
        .is_none()
    {
        return Err(token_failed(&state, &event, &ip).await);
    }
    let phc = state.inner.hasher.hash(&ip, password).await?;
    let reset = store
        .reset_password(&id, &hash, &phc, &event)
        .await
        .map_err(AppError::db)?;
    let Some((user_id, removed)) = reset else {
        return Err(token_failed(&state, &event, &ip).await);
    };
    owner_let_in(&state, &app_id, &user_id, &ip).await;
    let mut what = format!(
        "The password of your account was reset {}. Every session of the account was ended, and \
         every API key of the account was disabled: the keys are still listed, so re-enable the ones \
         that are yours.",
        when_and_where(&client)
    );
    if !removed.is_empty() {
        let list: Vec<String> = removed
            .iter()
            .map(|i| format!("{} ({})", i.provider_type, i.id))
            .collect();
        what.push_str(&format!(
            " These sign-in methods were removed from the account, so that nobody else keeps a way \
             in: {}. Link again the ones that are yours.",
            list.join(", ")
        ));
    }
    notify_owner(&state, &user_id, &app_id, "Your password was reset", &what).await;
    Ok(StatusCode::NO_CONTENT)
}

/// After a completed reset: the client that completed it is the owner. Its failures on the account are
/// forgotten, and for the hour it logs in whatever others' failures did to the account (its next login
/// gives the device a secret that proves it from then on). Failures are logged: the reset is done.
async fn owner_let_in(state: &AppState, app_id: &str, user_id: &str, ip: &str) {
    let email = match state.inner.store.user(user_id).await {
        Ok(Some(user)) => user.email,
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "reset: user lookup failed");
            None
        }
    };
    let Some(email) = email else { return };
    let parts = [app_id, email.as_str(), ip];
    let cleared = state
        .inner
        .limiter
        .clear(Bucket::LoginFailuresAccountIp, &parts)
        .await;
    let trusted = state
        .inner
        .hourly_limiter
        .record(Bucket::ResetClientHour, &parts, 0)
        .await;
    if let Err(e) = cleared.and(trusted) {
        tracing::warn!(error = %e.message, "reset: letting the owner's client in failed");
    }
}

#[utoipa::path(post, path = "/api/client/v2.0/app/{app_id}/auth/providers/local-userpass/confirm/send", tag = "auth",
    params(("app_id" = String, Path, description = "App id")),
    request_body = wire::EmailRequest,
    responses((status = 202, description = "If the address has an unconfirmed account, a new confirmation email is on its way (the same answer for every address)")))]
pub(crate) async fn resend_confirmation(
    state: State<AppState>,
    app_id: Path<String>,
    client: Client,
    req: Request,
) -> Result<StatusCode, AppError> {
    send(state, app_id, client, req, Purpose::Confirm).await
}

#[utoipa::path(post, path = "/api/client/v2.0/app/{app_id}/auth/providers/local-userpass/reset/send", tag = "auth",
    params(("app_id" = String, Path, description = "App id")),
    request_body = wire::EmailRequest,
    responses((status = 202, description = "If the address has an account, a reset email is on its way (the same answer for every address)")))]
pub(crate) async fn send_reset(
    state: State<AppState>,
    app_id: Path<String>,
    client: Client,
    req: Request,
) -> Result<StatusCode, AppError> {
    send(state, app_id, client, req, Purpose::Reset).await
}

/// `confirm/send` and `reset/send`: the same 202 whether or not the address has an account (no
/// enumeration); rate limited per address and per client.
async fn send(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    client: Client,
    req: Request,
    purpose: Purpose,
) -> Result<StatusCode, AppError> {
    state.check_app(&app_id)?;
    let JsonObject(body) = JsonObject::from_request(req, &state).await?;
    let email = required_str(&body, "email")?.trim().to_lowercase();
    email::check(&email)?;
    state
        .inner
        .mailer
        .as_ref()
        .filter(|m| purpose == Purpose::Reset || m.confirms())
        .ok_or_else(not_configured)?;
    let requested = match purpose {
        Purpose::Confirm => "confirmation.requested",
        Purpose::Reset => "password.reset_requested",
    };
    let event = userpass_event(requested, &app_id, &client);
    let (limiter, limits) = (&state.inner.limiter, &state.inner.limits);
    let ip = client_key(client.ip);
    let per_ip = limiter
        .attempt(Bucket::EmailsIp, &[&ip], limits.emails_per_ip)
        .await;
    audit_limit(&state, &event, per_ip).await?;
    // Per address *and* client: a stranger asking for links to an address cannot use up its owner's
    // requests (the inbox is protected by the sending limit of `issue_and_send`).
    let per_address = limiter
        .attempt(
            Bucket::EmailsAddress,
            &[&app_id, &email, &ip],
            limits.emails_per_address,
        )
        .await;
    audit_limit(&state, &event, per_address).await?;
    // The lookup, the token and the email happen after the answer, so that known and unknown addresses
    // also take the same time to answer (ASVS 6.3.8). At most EMAIL_JOBS run at once; past that the
    // work is done before answering (only an overloaded server times differently).
    let job = issue_and_send(state.clone(), app_id, email, purpose, event);
    match state.inner.email_jobs.clone().try_acquire_owned() {
        Ok(slot) => {
            tokio::spawn(async move {
                job.await;
                drop(slot);
            });
        }
        Err(_) => job.await,
    }
    Ok(StatusCode::ACCEPTED)
}

/// If `email` has an account that wants a `purpose` email: a new token (earlier links keep working), an
/// audit row and the queued email — unless the address was sent its share of emails in this window
/// (twice `--emails-per-address`, whoever asked: the inbox cannot be flooded from many addresses), which
/// is counted for known and unknown addresses alike. Failures are logged (the request was already
/// answered).
async fn issue_and_send(
    state: AppState,
    app_id: String,
    email: String,
    purpose: Purpose,
    event: Event,
) {
    let store = &state.inner.store;
    let Some(mailer) = &state.inner.mailer else {
        return;
    };
    let sends = state.inner.limits.emails_per_address.saturating_mul(2);
    let sent = state
        .inner
        .limiter
        .attempt(Bucket::EmailsSentAddress, &[&app_id, &email], sends)
        .await;
    if sent.is_err() {
        tracing::info!(
            kind = purpose.as_str(),
            "email request: the address had its share of emails in this window"
        );
        return;
    }
    let user = match store.user_by_email(&app_id, &email).await {
        Ok(user) => user,
        Err(e) => {
            tracing::warn!(error = %e, kind = purpose.as_str(), "email request: user lookup failed");
            return;
        }
    };
    let wanted = user.filter(|u| match purpose {
        // Also a confirmed account whose address no link proved yet (registered while confirmation
        // was off): it needs a proven address to join another user by linking.
        Purpose::Confirm => !u.confirmed || !u.email_verified,
        Purpose::Reset => !u.disabled,
    });
    let Some(user) = wanted else {
        return;
    };
    let (id, secret, hash) = link_token::new_token();
    if let Err(e) = store
        .issue_token(&user.id, token_row(&state, &id, &hash, purpose))
        .await
    {
        tracing::warn!(error = %e, kind = purpose.as_str(), "email request: storing the token failed");
        return;
    }
    if let Err(e) = store.audit(&event.user(&user.id)).await {
        tracing::warn!(error = %e, "audit of an email request failed");
    }
    mailer.send(purpose, &app_id, &email, &id, &secret);
}

#[utoipa::path(post, path = "/api/client/v2.0/app/{app_id}/auth/providers/local-userpass/confirm/call", tag = "auth",
    params(("app_id" = String, Path, description = "App id")),
    responses((status = 400, description = "Not supported: custom confirmation functions (`CustomFunctionNotSupported`)")))]
pub(crate) async fn confirm_call(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
) -> Result<StatusCode, AppError> {
    custom_function(&state, &app_id, "confirmation")
}

#[utoipa::path(post, path = "/api/client/v2.0/app/{app_id}/auth/providers/local-userpass/reset/call", tag = "auth",
    params(("app_id" = String, Path, description = "App id")),
    responses((status = 400, description = "Not supported: custom password-reset functions (`CustomFunctionNotSupported`)")))]
pub(crate) async fn reset_call(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
) -> Result<StatusCode, AppError> {
    custom_function(&state, &app_id, "password-reset")
}

fn custom_function(state: &AppState, app_id: &str, what: &str) -> Result<StatusCode, AppError> {
    state.check_app(app_id)?;
    Err(AppError::new(
        ErrorCode::CustomFunctionNotSupported,
        format!(
            "custom {what} functions are not supported by appkeys-server; use the email flow \
             (--smtp-url, --confirm-url, --reset-url)"
        ),
    ))
}
