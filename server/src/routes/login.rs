//! Logging in (`auth/providers/{provider}/login`) and registering (`local-userpass/register`),
//! with the rate limits of these unauthenticated routes.

use appkeys_protocol::{is_object_id, wire, ErrorCode, Provider, ZERO_DEVICE_ID};
use axum::{
    extract::{FromRequest, Path, Request, State},
    http::StatusCode,
    Json,
};
use serde_json::{Map, Value};

use crate::apikey;
use crate::audit::{Client, Event};
use crate::body::{missing, required_str, JsonObject};
use crate::error::AppError;
use crate::ratelimit::Bucket;
use crate::routes::userpass;
use crate::state::AppState;
use crate::store;
use crate::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};

/// `options.device.deviceId` (string or `{"$oid": …}`) if it is 24 hex and not all zeros, else a
/// new id.
fn device_id(body: &Map<String, Value>) -> String {
    let given = body
        .get("options")
        .and_then(|o| o.get("device"))
        .and_then(|d| d.get("deviceId"))
        .and_then(|v| match v {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => o.get("$oid").and_then(Value::as_str),
            _ => None,
        });
    match given {
        Some(id) if is_object_id(id) && id != ZERO_DEVICE_ID => id.to_ascii_lowercase(),
        _ => store::new_id(),
    }
}

/// Records `rate_limited` when `result` is a 429; returns `result`.
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
            state.record(&limited);
            if let Err(e) = state.inner.store.audit(&limited).await {
                tracing::warn!(error = %e, "audit of a rate-limited request failed");
            }
        }
    }
    result
}

/// Records a failed login (it changes nothing else).
async fn audit_failure(state: &AppState, event: &Event, outcome: &'static str) {
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

/// The login body of each provider (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub(crate) enum LoginBody {
    /// `local-userpass`
    EmailPassword(wire::UserpassLogin),
    /// `api-key`
    ApiKey(wire::ApiKeyLogin),
    /// `anon-user`: any object
    Anonymous(AnonymousLogin),
}

/// The anonymous login body: any object (`{}`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AnonymousLogin {}

fn invalid_password() -> AppError {
    AppError::new(ErrorCode::InvalidPassword, "invalid username/password")
}

#[utoipa::path(post, path = "/api/client/v2.0/app/{app_id}/auth/providers/{provider}/login", tag = "auth",
    params(("app_id" = String, Path, description = "App id"),
           ("provider" = String, Path, description = "`local-userpass`, `anon-user` or `api-key`")),
    request_body(content = LoginBody, description = "`{username, password}`, `{key}`, or `{}` (anonymous)"),
    responses((status = 200, description = "Logged in: a new session", body = wire::LoginResponse)))]
pub(crate) async fn login(
    State(state): State<AppState>,
    Path((app_id, provider)): Path<(String, String)>,
    client: Client,
    req: Request,
) -> Result<Json<wire::LoginResponse>, AppError> {
    state.check_app(&app_id)?;
    let provider = Provider::parse(&provider).ok_or_else(|| {
        AppError::new(
            ErrorCode::AuthProviderNotFound,
            "authentication provider not found",
        )
    })?;
    let JsonObject(body) = JsonObject::from_request(req, &state).await?;
    let device = device_id(&body);
    let ip = client.ip.to_string();
    let base = Event::new("login.succeeded", "success")
        .app(&app_id)
        .provider(provider.as_str())
        .client(&client);
    let (store, limiter, limits) = (
        &state.inner.store,
        &state.inner.limiter,
        &state.inner.limits,
    );
    let (user_id, session) = match provider {
        Provider::LocalUserpass => {
            let email = required_str(&body, "username")?.trim().to_lowercase();
            let password = required_str(&body, "password")?.to_owned();
            // Refused before any hashing: this client failed too often overall, or this account
            // failed too often and this client is one of those that failed on it. Other clients
            // can still log in to the account (its owner is not locked out), and this client can
            // still log in to other accounts.
            let per_ip = limiter
                .check(
                    Bucket::LoginFailuresIp,
                    &[&ip],
                    limits.login_failures_per_ip,
                )
                .await;
            audit_limit(&state, &base, per_ip).await?;
            let account = [app_id.as_str(), email.as_str()];
            let account_ip = [app_id.as_str(), email.as_str(), ip.as_str()];
            let per_account = limits.login_failures_per_account;
            if let Some(limited) = limiter
                .over(Bucket::LoginFailuresAccount, &account, per_account)
                .await
            {
                let failed_here = limiter
                    .over(Bucket::LoginFailuresAccountIp, &account_ip, 1)
                    .await
                    .is_some();
                if failed_here {
                    return audit_limit(&state, &base, Err(limited)).await;
                }
            }
            let user = if crate::email::plausible(&email) {
                store
                    .user_by_email(&app_id, &email)
                    .await
                    .map_err(AppError::db)?
            } else {
                None
            };
            let phc = user.as_ref().and_then(|u| u.password_hash.clone());
            let ok = state.inner.hasher.verify(password, phc).await?;
            let Some(user) = user.filter(|_| ok) else {
                audit_failure(&state, &base, "invalid_password").await;
                if per_account > 0 {
                    limiter
                        .record(Bucket::LoginFailuresAccount, &account, 0)
                        .await?;
                    limiter
                        .record(Bucket::LoginFailuresAccountIp, &account_ip, 0)
                        .await?;
                }
                if limits.login_failures_per_ip > 0 {
                    limiter.record(Bucket::LoginFailuresIp, &[&ip], 0).await?;
                }
                return Err(invalid_password());
            };
            if user.disabled {
                audit_failure(&state, &base.clone().user(&user.id), "user_disabled").await;
                return Err(AppError::new(
                    ErrorCode::UserDisabled,
                    "the user is disabled",
                ));
            }
            if !user.confirmed {
                audit_failure(&state, &base.clone().user(&user.id), "unconfirmed").await;
                return Err(AppError::new(
                    ErrorCode::UserNotConfirmed,
                    "confirmation required: open the link of the confirmation email (or ask for a new one)",
                ));
            }
            let new = store::NewSession {
                user_id: &user.id,
                app_id: &app_id,
                provider: provider.as_str(),
                device_id: &device,
            };
            let session = store
                .create_session(new, &base)
                .await
                .map_err(AppError::db)?;
            (user.id, session)
        }
        Provider::AnonUser => {
            let attempt = limiter
                .attempt(Bucket::AnonymousIp, &[&ip], limits.anonymous_logins_per_ip)
                .await;
            audit_limit(&state, &base, attempt).await?;
            store
                .anonymous_login(&app_id, &device, &base)
                .await
                .map_err(AppError::db)?
        }
        Provider::ApiKey => {
            let key = required_str(&body, "key")?;
            let per_ip = limits.key_login_failures_per_ip;
            let checked = limiter
                .check_if_seen(Bucket::KeyLoginFailuresIp, &[&ip], per_ip)
                .await;
            audit_limit(&state, &base, checked).await?;
            // Malformed keys never reach the database.
            let hash = apikey::is_well_formed(key).then(|| apikey::hash(key));
            let found = match &hash {
                Some(hash) => store
                    .key_login(&app_id, hash, &device, &client)
                    .await
                    .map_err(AppError::db)?,
                None => None,
            };
            match found {
                Some((user_id, session, key_id)) => {
                    state.key_used(key_id, store::now_ms());
                    (user_id, session)
                }
                None => {
                    let expired = match &hash {
                        Some(hash) => store
                            .key_expired(&app_id, hash)
                            .await
                            .map_err(AppError::db)?,
                        None => false,
                    };
                    if expired {
                        audit_failure(&state, &base, "expired_key").await;
                        return Err(AppError::new(
                            ErrorCode::APIKeyExpired,
                            "the API key has expired",
                        ));
                    }
                    audit_failure(&state, &base, "invalid_key").await;
                    if per_ip > 0 {
                        let recorded = limiter
                            .record(Bucket::KeyLoginFailuresIp, &[&ip], per_ip)
                            .await;
                        audit_limit(&state, &base, recorded).await?;
                    }
                    return Err(AppError::new(ErrorCode::AuthError, "invalid API key"));
                }
            }
        }
    };
    state.record(&base);
    Ok(Json(
        state.login_response(&user_id, &app_id, &device, &session),
    ))
}

#[utoipa::path(post, path = "/api/client/v2.0/app/{app_id}/auth/providers/local-userpass/register", tag = "auth",
    params(("app_id" = String, Path, description = "App id")),
    request_body = wire::RegisterRequest,
    responses((status = 201, description = "Registered (log in next)")))]
pub(crate) async fn register(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    client: Client,
    req: Request,
) -> Result<StatusCode, AppError> {
    state.check_app(&app_id)?;
    let JsonObject(body) = JsonObject::from_request(req, &state).await?;
    let email = required_str(&body, "email")?.trim().to_lowercase();
    let password = required_str(&body, "password")?.to_owned();
    if email.is_empty() {
        return Err(missing("email"));
    }
    check_email(&email)?;
    check_password(&password)?;
    let event = userpass::userpass_event("user.registered", &app_id, &client);
    let attempt = state
        .inner
        .limiter
        .attempt(
            Bucket::RegistrationsIp,
            &[&client.ip.to_string()],
            state.inner.limits.registrations_per_ip,
        )
        .await;
    audit_limit(&state, &event, attempt).await?;
    let store = &state.inner.store;
    if store
        .user_by_email(&app_id, &email)
        .await
        .map_err(AppError::db)?
        .is_some()
    {
        return Err(name_in_use());
    }
    let phc = state.inner.hasher.hash(password).await?;
    // With confirmation on, the account starts unconfirmed and its token is stored with it.
    let token = state.inner.confirmation.then(userpass::new_token);
    let confirmation = token
        .as_ref()
        .map(|(id, _, hash)| userpass::token_row(&state, id, hash, store::Purpose::Confirm));
    store
        .create_user(
            &app_id,
            Provider::LocalUserpass.as_str(),
            Some(&email),
            Some(&phc),
            confirmation,
            &event,
        )
        .await
        .map_err(|e| match e {
            store::CreateUserError::EmailTaken => name_in_use(),
            store::CreateUserError::Db(e) => AppError::db(e),
        })?;
    if let (Some((id, secret, _)), Some(mailer)) = (&token, &state.inner.mailer) {
        mailer.send(store::Purpose::Confirm, &app_id, &email, id, secret);
    }
    Ok(StatusCode::CREATED)
}

/// Registration's email rule (also for the confirmation and reset emails): 400 unless `email`
/// (trimmed, lower-cased) is an address registration accepts.
pub(crate) fn check_email(email: &str) -> Result<(), AppError> {
    if crate::email::valid(email) {
        Ok(())
    } else {
        Err(AppError::new(
            ErrorCode::InvalidParameter,
            "'email' must be an email address (local@domain)",
        ))
    }
}

/// Registration's password rule (also for a reset): 6 to 128 characters.
pub(crate) fn check_password(password: &str) -> Result<(), AppError> {
    let chars = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&chars) {
        return Err(AppError::new(
            ErrorCode::InvalidParameter,
            format!(
                "password must be between {MIN_PASSWORD_LEN} and {MAX_PASSWORD_LEN} characters"
            ),
        ));
    }
    Ok(())
}

fn name_in_use() -> AppError {
    AppError::new(ErrorCode::AccountNameInUse, "name already in use")
}
