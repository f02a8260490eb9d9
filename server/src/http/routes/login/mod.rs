//! Logging in (`auth/providers/{provider}/login`) with each provider, and linking credentials to the
//! signed-in user (`login?link=true`), with the rate limits of these routes.

use appkeys_protocol::{is_object_id, wire, ErrorCode, Provider, TokenKind, ZERO_DEVICE_ID};
use axum::{
    extract::{FromRequest, Path, Request, State},
    Json,
};
use serde_json::{Map, Value};

mod external;

use super::common::{audit_failure, audit_limit};
use super::throttle::{self, SlowTurn};
use crate::crypto::{apikey, device};
use crate::db::{NewSession, User};
use crate::error::AppError;
use crate::http::extract::{required_str, JsonObject};
use crate::model::{email, network, Client, Event};
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
    /// `custom-token`
    CustomToken(wire::CustomTokenLogin),
    /// `anon-user`: any object
    Anonymous(AnonymousLogin),
}

/// The anonymous login body: any object (`{}`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AnonymousLogin {}

/// An unknown provider, or `custom-token` on a server without the custom JWT settings.
pub(super) fn provider_not_found() -> AppError {
    AppError::new(
        ErrorCode::AuthProviderNotFound,
        "authentication provider not found",
    )
}

pub(super) fn invalid_password() -> AppError {
    AppError::new(ErrorCode::InvalidPassword, "invalid username/password")
}

#[utoipa::path(post, path = "/api/client/v2.0/app/{app_id}/auth/providers/{provider}/login", tag = "auth",
    params(("app_id" = String, Path, description = "App id"),
           ("provider" = String, Path, description = "`local-userpass`, `anon-user`, `api-key` or `custom-token`"),
           ("link" = Option<bool>, Query, description = "`true`: link these credentials' identity to the user of the \
             access token sent as bearer (realm's `user.linkCredentials`) instead of logging in")),
    request_body(content = LoginBody, description = "`{username, password}`, `{key}`, `{token}` or `{}` (anonymous)"),
    responses((status = 200, description = "Logged in: a new session (linking: a new access token of the linking \
        session)", body = wire::LoginResponse)))]
pub(crate) async fn login(
    State(state): State<AppState>,
    Path((app_id, provider)): Path<(String, String)>,
    client: Client,
    req: Request,
) -> Result<Json<wire::LoginResponse>, AppError> {
    state.check_app(&app_id)?;
    let provider = Provider::parse(&provider)
        .filter(|p| external::offered(&state, *p))
        .ok_or_else(provider_not_found)?;
    // realm's `linkCredentials`: `login?link=true` with the linking user's access token.
    let linking = req.uri().query().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "link" && v == "true")
    });
    let linker = match linking {
        true => Some(state.authenticate(req.headers(), TokenKind::Access).await?),
        false => None,
    };
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
    if let Some(session) = linker {
        login.link(provider, &body, &session).await?;
        let user_data = state.user_data(&session.user_id).await?;
        return Ok(Json(state.login_response(&TokenSubject {
            user_id: &session.user_id,
            app_id: &app_id,
            device_id: &session.device_id,
            session_id: &session.id,
            provider: &session.provider,
            api_key_id: None,
            user_data: user_data.as_deref(),
            scope: None,
        })));
    }
    let opened = match provider {
        Provider::LocalUserpass => login.email_password(&body).await?,
        Provider::AnonUser => login.anonymous().await?,
        Provider::ApiKey => login.api_key(&body).await?,
        Provider::CustomToken
        | Provider::Google
        | Provider::Apple
        | Provider::Facebook
        | Provider::Function => login.external(provider, &body).await?,
    };
    state.record(&login.event);
    let key = opened.api_key_id.as_deref();
    state
        .login_webhook(&login.event, &opened.user_id, key)
        .await?;
    let user_data = state.user_data(&opened.user_id).await?;
    let mut response = state.login_response(&TokenSubject {
        user_id: &opened.user_id,
        app_id: &app_id,
        device_id: &login.device,
        session_id: &opened.session,
        provider: provider.as_str(),
        api_key_id: opened.api_key_id.as_deref(),
        user_data: user_data.as_deref(),
        scope: opened.scope.as_deref(),
    });
    response.device_secret = opened.device_secret;
    Ok(Json(response))
}

/// What a login opened.
pub(super) struct Opened {
    pub(super) user_id: String,
    pub(super) session: String,
    /// The key of a key session.
    pub(super) api_key_id: Option<String>,
    /// A device secret given by this (email/password) login.
    pub(super) device_secret: Option<String>,
    /// The scopes of the key of a key session.
    pub(super) scope: Option<String>,
}

impl Opened {
    pub(super) fn session(user_id: String, session: String) -> Opened {
        Opened {
            user_id,
            session,
            api_key_id: None,
            device_secret: None,
            scope: None,
        }
    }
}

/// The `device_secret` of a login body, when it has the form of one.
pub(super) fn presented_secret(body: &Map<String, Value>) -> Option<&str> {
    body.get("device_secret")
        .and_then(Value::as_str)
        .filter(|s| device::is_well_formed(s))
}

/// One login request, whatever the provider.
pub(super) struct Login<'a> {
    pub(super) state: &'a AppState,
    pub(super) app_id: &'a str,
    /// The client IP as text (the rate-limit buckets' key).
    pub(super) ip: String,
    /// The device id of the new session.
    pub(super) device: String,
    /// The `login.succeeded` event (the failure events are made from it).
    pub(super) event: Event,
}

impl Login<'_> {
    /// `local-userpass`: a new session, and a secret for the device when it sent none.
    async fn email_password(&self, body: &Map<String, Value>) -> Result<Opened, AppError> {
        let presented = presented_secret(body);
        let user = self.password_user(body, presented).await?;
        self.ceiling(&user.id).await?;
        let secret = presented.map_or_else(device::new_secret, str::to_owned);
        let new = NewSession {
            user_id: &user.id,
            app_id: self.app_id,
            provider: Provider::LocalUserpass.as_str(),
            device_id: &self.device,
            auth_epoch: user.auth_epoch,
        };
        let opened = self
            .state
            .inner
            .store
            .create_session(new, &secret)
            .await
            .map_err(AppError::db)?;
        // A reset, a disable or a revocation committed while the password was being checked: the
        // password checked is no longer what opens this account.
        let Some(session) = opened else {
            let refused = self.event.clone().user(&user.id);
            audit_failure(self.state, &refused, "credentials_changed").await;
            return Err(invalid_password());
        };
        self.audit_success(&user.id, None);
        self.state.trim_sessions(None, user.id.clone());
        Ok(Opened {
            device_secret: presented.is_none().then_some(secret),
            ..Opened::session(user.id, session)
        })
    }

    /// Successful logins of one user (or JWT subject) from this client, past the per-instance ceiling:
    /// 429 (audited in aggregate).
    pub(super) async fn ceiling(&self, subject: &str) -> Result<(), AppError> {
        let limit = self.state.inner.limits.logins_per_user_per_client;
        let parts = [self.app_id, subject, self.ip.as_str()];
        let attempt = self.state.inner.login_ceiling.attempt(&parts, limit);
        audit_limit(self.state, &self.event, attempt).await
    }

    /// Audits a successful login in aggregate (one row per user, key, client and interval, with a
    /// count): a login costs no audit write of its own.
    pub(super) fn audit_success(&self, user_id: &str, key_id: Option<&str>) {
        let mut event = self.event.clone().user(user_id);
        if let Some(key) = key_id {
            event = event.key(key);
        }
        self.state.audit_in_aggregate(event);
    }

    /// The enabled, confirmed account that `{username, password}` opens (rate limited, audited).
    pub(super) async fn password_user(
        &self,
        body: &Map<String, Value>,
        presented: Option<&str>,
    ) -> Result<User, AppError> {
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
        // Held through the password check: one unknown device at a time on a throttled account.
        let _turn = self
            .account_throttle(&email, user.as_ref(), presented)
            .await?;
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
        Ok(user)
    }

    /// What a login of a throttled account meets before any hashing (see [`throttle::account`]).
    async fn account_throttle(
        &self,
        email: &str,
        user: Option<&User>,
        presented: Option<&str>,
    ) -> Result<Option<SlowTurn<'_>>, AppError> {
        let at = throttle::Attempt {
            state: self.state,
            event: &self.event,
            app_id: self.app_id,
            ip: &self.ip,
        };
        throttle::account(at, email, user, presented).await
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
        Ok(Opened::session(user_id, session))
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
        // The client's address, for keys with an allow-list (the trusted-proxy rules already applied).
        let address = self.event.ip.as_deref().and_then(|ip| ip.parse().ok());
        let ip_key = address.map(network::ip_key).unwrap_or_default();
        let found = match &hash {
            Some(hash) => store
                .key_login(app_id, hash, &self.device, &ip_key)
                .await
                .map_err(AppError::db)?,
            None => None,
        };
        if let Some(opened) = found {
            state.key_used(opened.key_id.clone(), &opened.user_id, now_ms());
            // The success metric is counted by the caller.
            self.audit_success(&opened.user_id, Some(&opened.key_id));
            return Ok(Opened {
                api_key_id: Some(opened.key_id),
                scope: opened.scope,
                ..Opened::session(opened.user_id, opened.session_id)
            });
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
        let refused_here = match &hash {
            Some(hash) => store
                .key_address_refused(app_id, hash, &ip_key)
                .await
                .map_err(AppError::db)?,
            None => false,
        };
        if refused_here {
            // Audited in aggregate with the client address (no write per refusal).
            failed("address_not_allowed");
            return Err(AppError::new(
                ErrorCode::APIKeyAddressNotAllowed,
                "this API key may not log in from this address",
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
