//! The user API key routes (`auth/api_keys…`): create, list, fetch, delete, enable, disable, and
//! (appkeys) roll, the allow-list and usage.

use appkeys_protocol::{
    is_object_id, validate_api_key_name, wire, ErrorCode, MAX_API_KEYS_PER_USER,
};
use axum::{
    extract::{FromRequest, Path, Request, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::Value;

use super::common::{notify_owner, when_and_where};
use crate::crypto::apikey;
use crate::db::{ApiKey, CreateKeyError, NewKey, Session};
use crate::error::AppError;
use crate::http::extract::JsonObject;
use crate::model::network::{self, Network};
use crate::model::{Client, Event};
use crate::state::AppState;
use crate::util::now_ms;

pub(super) fn wire_key(k: ApiKey, secret: Option<String>) -> wire::ApiKey {
    wire::ApiKey {
        id: k.id,
        key: secret,
        name: k.name,
        disabled: k.disabled,
        created_at: k.created_at,
        last_used_at: k.last_used_at,
        expires_at: k.expires_at,
        start: k.start,
        scopes: k.scopes,
        allowed_ips: k.allowed_ips,
        previous_key_expires_at: k.previous_expires_at,
        usage: None,
    }
}

pub(super) fn key_not_found() -> AppError {
    AppError::new(ErrorCode::APIKeyNotFound, "API key not found")
}

/// 204 when the key operation found the caller's key, else 404 `APIKeyNotFound`.
fn key_changed(found: bool) -> Result<StatusCode, AppError> {
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(key_not_found())
    }
}

/// Normalises a key id from the path; malformed ids are "not found" (ids are opaque).
pub(super) fn key_id(id: &str) -> Result<String, AppError> {
    if is_object_id(id) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(key_not_found())
    }
}

/// The audit event of a key operation of `session`'s user.
pub(super) fn key_event(event: &'static str, session: &Session, client: &Client) -> Event {
    Event::new(event, "success")
        .app(&session.app_id)
        .provider(&session.provider)
        .client(client)
}

/// The expiry of a new key: `expiresAt` (ms since the epoch, in the future) or, without one, now +
/// `--max-key-lifetime-days` if set; past that maximum, or not a whole number, or not in the future:
/// 400 `InvalidParameter`.
fn expiry(state: &AppState, given: Option<&Value>) -> Result<Option<i64>, AppError> {
    let now = now_ms();
    let max = state
        .inner
        .max_key_lifetime
        .map(|d| now.saturating_add(d.as_millis().min(i64::MAX as u128) as i64));
    let invalid = |m: &'static str| AppError::new(ErrorCode::InvalidParameter, m);
    let at = match given {
        None | Some(Value::Null) => return Ok(max),
        Some(v) => v.as_i64().ok_or_else(|| {
            invalid("'expiresAt' must be a whole number of milliseconds since the Unix epoch")
        })?,
    };
    if at <= now {
        return Err(invalid("'expiresAt' must be in the future"));
    }
    if max.is_some_and(|max| at > max) {
        return Err(invalid(
            "'expiresAt' is beyond the maximum key lifetime of this server",
        ));
    }
    Ok(Some(at))
}

/// The `scopes` of a new key, space-separated: each one the server declares (`--api-key-scope`), else 400
/// naming it; absent or empty: none (the key acts as its owner).
fn scopes_of(state: &AppState, given: Option<&Value>) -> Result<Option<String>, AppError> {
    let invalid = |m: String| AppError::new(ErrorCode::InvalidParameter, m);
    let list = match given {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid("'scopes' must be a list of scope names".to_owned())),
    };
    let mut scopes: Vec<&str> = Vec::new();
    for item in list {
        let name = item
            .as_str()
            .ok_or_else(|| invalid("'scopes' must be a list of scope names".to_owned()))?;
        if !state.inner.key_scopes.iter().any(|(s, _)| s == name) {
            return Err(invalid(format!(
                "unknown scope '{name}' (this server's scopes: {})",
                state
                    .inner
                    .key_scopes
                    .iter()
                    .map(|(s, _)| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if !scopes.contains(&name) {
            scopes.push(name);
        }
    }
    Ok((!scopes.is_empty()).then(|| scopes.join(" ")))
}

/// The `allowedIps` of a request: addresses and CIDR ranges, at most 32 (else 400 naming the bad one).
pub(super) fn networks_of(given: Option<&Value>) -> Result<Vec<Network>, AppError> {
    let invalid = |m: String| AppError::new(ErrorCode::InvalidParameter, m);
    let items: Vec<String> = match given {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid("'allowedIps' must be a list of strings".to_owned()))?,
        Some(_) => return Err(invalid("'allowedIps' must be a list of strings".to_owned())),
    };
    network::parse_list(&items).map_err(|e| invalid(format!("'allowedIps': {e}")))
}

#[utoipa::path(post, path = "/api/client/v2.0/auth/api_keys", tag = "api_keys", security(("refreshToken" = [])),
    request_body = wire::CreateApiKeyRequest,
    responses((status = 201, description = "The new key; the only time its secret `key` is sent", body = wire::ApiKey)))]
pub(crate) async fn create_key(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, AppError> {
    let session = state.key_manager(&headers).await?;
    let JsonObject(body) = JsonObject::from_request(req, &state).await?;
    let name = match body.get("name") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            return Err(AppError::new(
                ErrorCode::InvalidParameter,
                "'name' must be a string.",
            ))
        }
    };
    validate_api_key_name(name).map_err(|e| AppError::new(e.code(), e.to_string()))?;
    let expires_at = expiry(&state, body.get("expiresAt"))?;
    let scopes = scopes_of(&state, body.get("scopes"))?;
    let networks = networks_of(body.get("allowedIps"))?;
    let created_event = key_event("key.created", &session, &client);
    let secret = apikey::generate();
    let key = state
        .inner
        .store
        .create_key(
            NewKey {
                user_id: &session.user_id,
                name,
                key_hash: &apikey::hash(&secret),
                start: &apikey::start(&secret),
                expires_at,
                scopes: scopes.as_deref(),
                networks: &networks,
            },
            MAX_API_KEYS_PER_USER as i64,
            &created_event,
        )
        .await
        .map_err(|e| match e {
            CreateKeyError::LimitReached => AppError::new(
                ErrorCode::APIKeyLimitReached,
                format!("a user can have at most {MAX_API_KEYS_PER_USER} API keys"),
            ),
            CreateKeyError::NameTaken => AppError::new(
                ErrorCode::APIKeyAlreadyExists,
                "API key with name already exists",
            ),
            CreateKeyError::Db(e) => AppError::db(e),
        })?;
    state.record(&created_event);
    let what = format!(
        "A new API key \"{}\" (id {}) was created for your account {}. Whoever holds it can log in as you.",
        key.name,
        key.id,
        when_and_where(&client)
    );
    notify_owner(
        &state,
        &session.user_id,
        &session.app_id,
        "A new API key was created",
        &what,
    )
    .await;
    Ok((StatusCode::CREATED, Json(wire_key(key, Some(secret)))).into_response())
}

#[utoipa::path(get, path = "/api/client/v2.0/auth/api_keys", tag = "api_keys", security(("refreshToken" = [])),
    responses((status = 200, description = "The user's keys, in creation order", body = Vec<wire::ApiKey>)))]
pub(crate) async fn list_keys(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<wire::ApiKey>>, AppError> {
    let session = state.key_manager(&headers).await?;
    let keys = state
        .inner
        .store
        .list_keys(&session.user_id)
        .await
        .map_err(AppError::db)?;
    Ok(Json(keys.into_iter().map(|k| wire_key(k, None)).collect()))
}

#[utoipa::path(delete, path = "/api/client/v2.0/auth/api_keys/{id}", tag = "api_keys", security(("refreshToken" = [])),
    params(("id" = String, Path, description = "Key id (24 hex)")),
    responses((status = 204, description = "Deleted; its sessions ended")))]
pub(crate) async fn delete_key(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let session = state.key_manager(&headers).await?;
    let id = key_id(&id)?;
    let event = key_event("key.deleted", &session, &client);
    let found = state
        .inner
        .store
        .delete_key(&session.user_id, &id, &event)
        .await
        .map_err(AppError::db)?;
    if found {
        state.record(&event);
    }
    key_changed(found)
}

async fn set_disabled(
    state: AppState,
    client: Client,
    headers: HeaderMap,
    id: String,
    disabled: bool,
) -> Result<StatusCode, AppError> {
    let session = state.key_manager(&headers).await?;
    let id = key_id(&id)?;
    let name = if disabled {
        "key.disabled"
    } else {
        "key.enabled"
    };
    let event = key_event(name, &session, &client);
    // A key being enabled again (not one that already was): its owner hears of it.
    let reenabled = if disabled || state.inner.mailer.is_none() {
        None
    } else {
        let key = state.inner.store.key(&session.user_id, &id).await;
        key.map_err(AppError::db)?.filter(|k| k.disabled)
    };
    let found = state
        .inner
        .store
        .set_key_disabled(&session.user_id, &id, disabled, &event)
        .await
        .map_err(AppError::db)?;
    if found {
        state.record(&event);
    }
    if let (true, Some(key)) = (found, reenabled) {
        let what = format!(
            "The API key \"{}\" (id {id}) of your account was enabled again {}: it logs in as you again.",
            key.name,
            when_and_where(&client)
        );
        let (user, app) = (&session.user_id, &session.app_id);
        notify_owner(&state, user, app, "An API key was re-enabled", &what).await;
    }
    if found && disabled {
        // A key login that read the key just before the disable may insert its session just after
        // the disable deleted the key's sessions. Such a session is already refused (its key is
        // disabled); a second pass shortly after deletes it, so re-enabling the key cannot revive it.
        let store = state.inner.store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            if let Err(e) = store.delete_sessions_of_disabled_key(&id).await {
                tracing::warn!(error = %e, "second pass of a key disable failed");
            }
        });
    }
    key_changed(found)
}

#[utoipa::path(put, path = "/api/client/v2.0/auth/api_keys/{id}/enable", tag = "api_keys", security(("refreshToken" = [])),
    params(("id" = String, Path, description = "Key id (24 hex)")),
    responses((status = 204, description = "Enabled")))]
pub(crate) async fn enable_key(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    set_disabled(state, client, headers, id, false).await
}

#[utoipa::path(put, path = "/api/client/v2.0/auth/api_keys/{id}/disable", tag = "api_keys", security(("refreshToken" = [])),
    params(("id" = String, Path, description = "Key id (24 hex)")),
    responses((status = 204, description = "Disabled; its sessions ended")))]
pub(crate) async fn disable_key(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    set_disabled(state, client, headers, id, true).await
}
