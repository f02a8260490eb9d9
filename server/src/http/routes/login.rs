//! Logging in (`auth/providers/{provider}/login`) and registering (`local-userpass/register`),
//! with the rate limits of these unauthenticated routes.

use appkeys_protocol::{is_object_id, wire, ErrorCode, Provider, ZERO_DEVICE_ID};
use axum::{
    extract::{FromRequest, Path, Request, State},
    http::StatusCode,
    Json,
};
use serde_json::{Map, Value};

use super::common::{audit_failure, audit_limit, token_row, userpass_event};
use crate::crypto::{apikey, link_token};
use crate::db::{CreateUserError, NewSession, User};
use crate::error::AppError;
use crate::http::extract::{missing, required_str, JsonObject};
use crate::model::{email, password, Client, Event, Purpose};
use crate::service::ratelimit::{client_key, Bucket};
use crate::state::{AppState, TokenSubject};
use crate::util::{new_id, now_ms};

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
        _ => new_id(),
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
    // realm-core links credentials with `login?link=true` and the linking user's access token. Until
    // linking exists, that is an error — never a login of the credentials' own user, whose tokens
    // realm-core would store on the linking user.
    let linking = req.uri().query().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "link" && v == "true")
    });
    if linking {
        return Err(AppError::new(
            ErrorCode::BadRequest,
            "account linking (link=true) is not supported by this server",
        ));
    }
    let provider = Provider::parse(&provider).ok_or_else(|| {
        AppError::new(
            ErrorCode::AuthProviderNotFound,
            "authentication provider not found",
        )
    })?;
    let JsonObject(body) = JsonObject::from_request(req, &state).await?;
    let login = Login {
        device: device_id(&body),
        ip: client_key(client.ip),
        event: Event::new("login.succeeded", "success")
            .app(&app_id)
            .provider(provider.as_str())
            .client(&client),
        state: &state,
        app_id: &app_id,
    };
    let (user_id, session, api_key_id) = match provider {
        Provider::LocalUserpass => login.email_password(&body).await?,
        Provider::AnonUser => login.anonymous().await?,
        Provider::ApiKey => login.api_key(&body).await?,
    };
    state.record(&login.event);
    Ok(Json(state.login_response(&TokenSubject {
        user_id: &user_id,
        app_id: &app_id,
        device_id: &login.device,
        session_id: &session,
        provider: provider.as_str(),
        api_key_id: api_key_id.as_deref(),
    })))
}

/// What a login opened: `(user id, session id, key id of a key session)`.
type Opened = (String, String, Option<String>);

/// One login request, whatever the provider.
struct Login<'a> {
    state: &'a AppState,
    app_id: &'a str,
    /// The client IP as text (the rate-limit buckets' key).
    ip: String,
    /// The device id of the new session.
    device: String,
    /// The `login.succeeded` event (the failure events are made from it).
    event: Event,
}

impl Login<'_> {
    /// `local-userpass`: `(user id, session id)` of a new session.
    async fn email_password(&self, body: &Map<String, Value>) -> Result<Opened, AppError> {
        let (state, app_id, ip) = (self.state, self.app_id, self.ip.as_str());
        let email = required_str(body, "username")?.trim().to_lowercase();
        let password = required_str(body, "password")?.to_owned();
        let (store, limiter, limits) = (
            &state.inner.store,
            &state.inner.limiter,
            &state.inner.limits,
        );
        // Refused before any hashing: this client failed too often overall.
        let per_ip = limiter
            .check(Bucket::LoginFailuresIp, &[ip], limits.login_failures_per_ip)
            .await;
        audit_limit(state, &self.event, per_ip).await?;
        let account = [app_id, email.as_str()];
        let account_ip = [app_id, email.as_str(), ip];
        let per_account = limits.login_failures_per_account;
        let user = if email::plausible(&email) {
            store
                .user_by_email(app_id, &email)
                .await
                .map_err(AppError::db)?
        } else {
            None
        };
        self.account_throttle(&email, user.as_ref()).await?;
        let phc = user.as_ref().and_then(|u| u.password_hash.clone());
        let ok = state.inner.hasher.verify(ip, password, phc).await?;
        let user = match user {
            Some(user) if ok => user,
            other => {
                // The audit row names the account under attack when there is one (never answered).
                let failed = match &other {
                    Some(user) => self.event.clone().user(&user.id),
                    None => self.event.clone(),
                };
                audit_failure(state, &failed, "invalid_password").await;
                if per_account > 0 {
                    limiter
                        .record(Bucket::LoginFailuresAccount, &account, 0)
                        .await?;
                    limiter
                        .record(Bucket::LoginFailuresAccountIp, &account_ip, 0)
                        .await?;
                }
                if limits.login_failures_per_account_hour > 0 {
                    let hourly = &state.inner.hourly_limiter;
                    hourly
                        .record(Bucket::LoginFailuresAccountHour, &account, 0)
                        .await?;
                }
                if limits.login_failures_per_ip > 0 {
                    limiter.record(Bucket::LoginFailuresIp, &[ip], 0).await?;
                }
                return Err(invalid_password());
            }
        };
        let refused = self.event.clone().user(&user.id);
        if user.disabled {
            audit_failure(state, &refused, "user_disabled").await;
            return Err(AppError::new(
                ErrorCode::UserDisabled,
                "the user is disabled",
            ));
        }
        if !user.confirmed {
            audit_failure(state, &refused, "unconfirmed").await;
            return Err(AppError::new(
                ErrorCode::UserNotConfirmed,
                "confirmation required: open the link of the confirmation email (or ask for a new one)",
            ));
        }
        let new = NewSession {
            user_id: &user.id,
            app_id,
            provider: Provider::LocalUserpass.as_str(),
            device_id: &self.device,
            auth_epoch: user.auth_epoch,
        };
        let opened = store
            .create_session(new, &self.event)
            .await
            .map_err(AppError::db)?;
        // A reset, a disable or a revocation committed while the password was being checked: the
        // password checked is no longer what opens this account.
        let Some(session) = opened else {
            audit_failure(state, &refused, "credentials_changed").await;
            return Err(invalid_password());
        };
        state.trim_sessions(None, user.id.clone());
        Ok((user.id, session, None))
    }

    /// Refused before any hashing when the account failed too often — from any client, in the window
    /// or in the hour: a client that failed on it, and any device that never logged in to it with its
    /// password, gets 429. The owner's known devices (realm-web sends its stored `deviceId`) still get
    /// in, and a password reset always works: the owner is never locked out. Unknown addresses are
    /// throttled alike (their failures count too), so the answer tells nothing.
    async fn account_throttle(&self, email: &str, user: Option<&User>) -> Result<(), AppError> {
        let (state, app_id, ip) = (self.state, self.app_id, self.ip.as_str());
        let limits = &state.inner.limits;
        let account = [app_id, email];
        let limiter = &state.inner.limiter;
        let mut limited = limiter
            .over(
                Bucket::LoginFailuresAccount,
                &account,
                limits.login_failures_per_account,
            )
            .await;
        if limited.is_none() {
            let hour = limits.login_failures_per_account_hour;
            limited = state
                .inner
                .hourly_limiter
                .over(Bucket::LoginFailuresAccountHour, &account, hour)
                .await;
        }
        let Some(limited) = limited else {
            return Ok(());
        };
        let failed_here = limiter
            .over(Bucket::LoginFailuresAccountIp, &[app_id, email, ip], 1)
            .await
            .is_some();
        let known = match user {
            Some(u) if !failed_here => state
                .inner
                .store
                .knows_device(&u.id, &self.device)
                .await
                .map_err(AppError::db)?,
            _ => false,
        };
        if known {
            return Ok(());
        }
        audit_limit(state, &self.event, Err(limited)).await
    }

    /// `anon-user`: a new anonymous user with its first session.
    async fn anonymous(&self) -> Result<Opened, AppError> {
        let (state, limits) = (self.state, &self.state.inner.limits);
        let attempt = state
            .inner
            .limiter
            .attempt(
                Bucket::AnonymousIp,
                &[&self.ip],
                limits.anonymous_logins_per_ip,
            )
            .await;
        audit_limit(state, &self.event, attempt).await?;
        let (user_id, session) = state
            .inner
            .store
            .anonymous_login(self.app_id, &self.device, &self.event)
            .await
            .map_err(AppError::db)?;
        Ok((user_id, session, None))
    }

    /// `api-key`: a new session of the key's owner.
    async fn api_key(&self, body: &Map<String, Value>) -> Result<Opened, AppError> {
        let (state, app_id, ip) = (self.state, self.app_id, self.ip.as_str());
        let (store, limiter) = (&state.inner.store, &state.inner.limiter);
        let key = required_str(body, "key")?;
        let per_ip = state.inner.limits.key_login_failures_per_ip;
        // No check before the lookup: a valid, enabled key always logs in, whatever others behind the
        // same address did (keys carry 256 random bits: nobody guesses one). The failure limit bounds
        // what invalid keys cost: past it a failure is one index probe in a shared batch statement,
        // answered 429 from memory, with no other read and no write. Malformed keys never reach the
        // database.
        let hash = apikey::is_well_formed(key).then(|| apikey::hash(key));
        let found = match &hash {
            Some(hash) => store
                .key_login(app_id, hash, &self.device)
                .await
                .map_err(AppError::db)?,
            None => None,
        };
        if let Some((user_id, session, key_id)) = found {
            state.key_used(key_id.clone(), &user_id, now_ms());
            // Audited in aggregate, per key, client and interval (the success metric is counted by
            // the caller).
            let event = self.event.clone().user(&user_id).key(&key_id);
            if !state.inner.audit_batch.record(event) {
                tracing::warn!(
                    "aggregated audit events: too many distinct events in this interval"
                );
            }
            return Ok((user_id, session, Some(key_id)));
        }
        let over = limiter
            .check_if_seen(Bucket::KeyLoginFailuresIp, &[ip], per_ip)
            .await;
        audit_limit(state, &self.event, over).await?;
        let expired = match &hash {
            Some(hash) => store
                .key_expired(app_id, hash)
                .await
                .map_err(AppError::db)?,
            None => false,
        };
        let failed = |outcome| {
            state.count_event(Event {
                event: "login.failed",
                outcome,
                ..self.event.clone()
            })
        };
        if expired {
            failed("expired_key");
            return Err(AppError::new(
                ErrorCode::APIKeyExpired,
                "the API key has expired",
            ));
        }
        failed("invalid_key");
        if per_ip > 0 {
            let recorded = limiter
                .record(Bucket::KeyLoginFailuresIp, &[ip], per_ip)
                .await;
            audit_limit(state, &self.event, recorded).await?;
        }
        Err(AppError::new(ErrorCode::AuthError, "invalid API key"))
    }
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
    email::check(&email)?;
    password::check(&password, state.inner.min_password_length)?;
    let event = userpass_event("user.registered", &app_id, &client);
    let attempt = state
        .inner
        .limiter
        .attempt(
            Bucket::RegistrationsIp,
            &[&client_key(client.ip)],
            state.inner.limits.registrations_per_ip,
        )
        .await;
    audit_limit(&state, &event, attempt).await?;
    if state.inner.confirmation {
        // A confirmation email counts against the email limits like the send routes' do: one client
        // cannot fill an inbox (or the mail queue) with `+tag` registrations.
        let (limiter, limits, ip) = (
            &state.inner.limiter,
            &state.inner.limits,
            client_key(client.ip),
        );
        let per_ip = limiter
            .attempt(Bucket::EmailsIp, &[&ip], limits.emails_per_ip)
            .await;
        audit_limit(&state, &event, per_ip).await?;
        let sends = limits.emails_per_address.saturating_mul(2);
        let (inbox, bucket) = (inbox_of(&email), Bucket::EmailsSentAddress);
        let per_address = limiter.attempt(bucket, &[&app_id, &inbox], sends).await;
        audit_limit(&state, &event, per_address).await?;
    }
    let store = &state.inner.store;
    if store
        .user_by_email(&app_id, &email)
        .await
        .map_err(AppError::db)?
        .is_some()
    {
        return Err(name_in_use());
    }
    let phc = state
        .inner
        .hasher
        .hash(&client_key(client.ip), password)
        .await?;
    // With confirmation on, the account starts unconfirmed and its token is stored with it.
    let token = state.inner.confirmation.then(link_token::new_token);
    let confirmation = token
        .as_ref()
        .map(|(id, _, hash)| token_row(&state, id, hash, Purpose::Confirm));
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
            CreateUserError::EmailTaken => name_in_use(),
            CreateUserError::Db(e) => AppError::db(e),
        })?;
    if let (Some((id, secret, _)), Some(mailer)) = (&token, &state.inner.mailer) {
        mailer.send(Purpose::Confirm, &app_id, &email, id, secret);
    }
    Ok(StatusCode::CREATED)
}

/// The mailbox an address reaches: `+tag` suffixes of the local part dropped (`a+x@b` and `a+y@b` fill one
/// inbox), for the per-address email limit of registrations.
fn inbox_of(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            format!("{}@{domain}", local.split('+').next().unwrap_or(local))
        }
        None => email.to_owned(),
    }
}

fn name_in_use() -> AppError {
    AppError::new(ErrorCode::AccountNameInUse, "name already in use")
}
