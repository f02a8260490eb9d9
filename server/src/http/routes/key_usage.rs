//! Fetching one key with its usage, and the appkeys additions to user API keys (issue 32): roll with a
//! grace period, the client-address allow-list, and usage (logins per day from the aggregated audit rows, and the last client address).

use appkeys_protocol::{wire, ErrorCode};
use axum::{
    extract::{FromRequest, Path, Request, State},
    http::{HeaderMap, StatusCode},
    Json,
};

use super::common::{notify_owner, when_and_where};
use super::keys::{key_event, key_id, key_not_found, networks_of, wire_key};
use crate::crypto::apikey;
use crate::db::audit::DAY_MS;
use crate::db::keys::ApiKey;
use crate::error::AppError;
use crate::http::extract::JsonObject;
use crate::model::Client;
use crate::state::AppState;
use crate::util::now_ms;

/// Days of usage shown.
const USAGE_DAYS: i64 = 90;
/// The longest grace period of a roll.
const MAX_GRACE_SECS: u64 = 30 * 24 * 3600;

/// Logins per day of key `key_id` over the last [`USAGE_DAYS`] days (zeros included, oldest first).
pub(super) async fn usage(state: &AppState, key_id: &str) -> Result<wire::KeyUsage, AppError> {
    let today = now_ms() / DAY_MS;
    let first = today - USAGE_DAYS + 1;
    let (counts, last) = state
        .inner
        .store
        .key_usage(key_id, first * DAY_MS)
        .await
        .map_err(AppError::db)?;
    let days = (first..=today)
        .map(|day| wire::UsageDay {
            date: crate::util::rfc3339(day * DAY_MS)[..10].to_owned(),
            logins: counts
                .iter()
                .filter(|(d, _)| *d == day)
                .map(|(_, n)| n)
                .sum(),
        })
        .collect();
    Ok(wire::KeyUsage {
        days,
        last_client_address: last,
    })
}

#[utoipa::path(get, path = "/api/client/v2.0/auth/api_keys/{id}", tag = "api_keys", security(("refreshToken" = [])),
    params(("id" = String, Path, description = "Key id (24 hex)")),
    responses((status = 200, description = "The key (never its secret)", body = wire::ApiKey)))]
pub(crate) async fn fetch_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<wire::ApiKey>, AppError> {
    let key = caller_key(&state, &headers, &id).await?;
    let usage = usage(&state, &key.id).await?;
    Ok(Json(wire::ApiKey {
        usage: Some(usage),
        ..wire_key(key, None)
    }))
}

#[utoipa::path(get, path = "/api/client/v2.0/auth/api_keys/{id}/usage", tag = "api_keys", security(("refreshToken" = [])),
    params(("id" = String, Path, description = "Key id (24 hex)")),
    responses((status = 200, description = "Logins per day over the last 90 days (oldest first) and the last client address", body = wire::KeyUsage)))]
pub(crate) async fn key_usage(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<wire::KeyUsage>, AppError> {
    let key = caller_key(&state, &headers, &id).await?;
    Ok(Json(usage(&state, &key.id).await?))
}

/// The key `id` (from the path) of the caller, a session that may manage keys; 404 `APIKeyNotFound` when the
/// caller has no such key.
async fn caller_key(state: &AppState, headers: &HeaderMap, id: &str) -> Result<ApiKey, AppError> {
    let session = state.key_manager(headers).await?;
    let id = key_id(id)?;
    state
        .inner
        .store
        .key(&session.user_id, &id)
        .await
        .map_err(AppError::db)?
        .ok_or_else(key_not_found)
}

#[utoipa::path(post, path = "/api/client/v2.0/auth/api_keys/{id}/roll", tag = "api_keys", security(("refreshToken" = [])),
    params(("id" = String, Path, description = "Key id (24 hex)")),
    request_body = wire::RollApiKeyRequest,
    responses((status = 200, description = "The key with its new secret `key` (the only time it is sent); the old one logs in until `previousKeyExpiresAt`", body = wire::ApiKey)))]
pub(crate) async fn roll_key(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
    req: Request,
) -> Result<Json<wire::ApiKey>, AppError> {
    let session = state.key_manager(&headers).await?;
    let id = key_id(&id)?;
    let JsonObject(body) = JsonObject::from_request(req, &state).await?;
    let grace = match body.get("expireOldAfter") {
        None | Some(serde_json::Value::Null) => 0,
        Some(v) => v.as_u64().filter(|s| *s <= MAX_GRACE_SECS).ok_or_else(|| {
            AppError::new(
                ErrorCode::InvalidParameter,
                "'expireOldAfter' must be a whole number of seconds from 0 to 2592000 (30 days)",
            )
        })?,
    };
    let event = key_event("key.rolled", &session, &client);
    let secret = apikey::generate();
    let key = state
        .inner
        .store
        .roll_key(
            &session.user_id,
            &id,
            (&apikey::hash(&secret), &apikey::start(&secret)),
            i64::try_from(grace * 1000).unwrap_or(i64::MAX),
            &event,
        )
        .await
        .map_err(AppError::db)?
        .ok_or_else(key_not_found)?;
    state.record(&event);
    let until = match key.previous_expires_at {
        Some(at) => format!(
            "its previous secret keeps working until {}",
            crate::util::rfc3339(at)
        ),
        None => "its previous secret stopped working at once".to_owned(),
    };
    let what = format!(
        "The API key \"{}\" (id {id}) of your account got a new secret {}; {until}.",
        key.name,
        when_and_where(&client)
    );
    let (user, app) = (&session.user_id, &session.app_id);
    notify_owner(&state, user, app, "An API key was rolled", &what).await;
    Ok(Json(wire_key(key, Some(secret))))
}

#[utoipa::path(put, path = "/api/client/v2.0/auth/api_keys/{id}/allowed_ips", tag = "api_keys", security(("refreshToken" = [])),
    params(("id" = String, Path, description = "Key id (24 hex)")),
    request_body = wire::AllowedIpsRequest,
    responses((status = 204, description = "The key logs in only from these addresses and ranges (empty: anywhere)")))]
pub(crate) async fn set_allowed_ips(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
    req: Request,
) -> Result<StatusCode, AppError> {
    let session = state.key_manager(&headers).await?;
    let id = key_id(&id)?;
    let JsonObject(body) = JsonObject::from_request(req, &state).await?;
    let Some(given) = body.get("allowedIps") else {
        return Err(AppError::new(
            ErrorCode::MissingParameter,
            "'allowedIps' is required (an empty list allows any address)",
        ));
    };
    let networks = networks_of(Some(given))?;
    let event = key_event("key.allowed_ips_set", &session, &client);
    let found = state
        .inner
        .store
        .set_key_networks(&session.user_id, &id, &networks, &event)
        .await
        .map_err(AppError::db)?;
    if !found {
        return Err(key_not_found());
    }
    state.record(&event);
    Ok(StatusCode::NO_CONTENT)
}
