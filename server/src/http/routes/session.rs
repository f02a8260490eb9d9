//! The signed-in user's routes: profile, session refresh and log-out, user deletion.

use appkeys_protocol::{wire, ErrorCode, TokenKind};
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    Json,
};

use crate::db::identities::Identity;
use crate::db::{User, SERVER_PROVIDER};
use crate::error::AppError;
use crate::http::auth::bearer;
use crate::model::{Client, Event};
use crate::state::{AppState, TokenSubject};

/// The profile answer: realm's profile and, when the user has any, its custom data (appkeys adds
/// `custom_data`; realm-web and realm-core read the same object from the access token's `user_data`).
#[derive(serde::Serialize)]
pub(crate) struct ProfileAnswer {
    #[serde(flatten)]
    profile: wire::Profile,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_data: Option<Box<serde_json::value::RawValue>>,
}

#[utoipa::path(get, path = "/api/client/v2.0/auth/profile", tag = "session", security(("accessToken" = [])),
    responses((status = 200, description = "The signed-in user (and `custom_data`, the user's custom data object, when it has any)", body = wire::Profile)))]
pub(crate) async fn profile(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<ProfileAnswer>, AppError> {
    let session = state.authenticate(&headers, TokenKind::Access).await?;
    let user = state
        .inner
        .store
        .user(&session.user_id)
        .await
        .map_err(AppError::db)?
        .ok_or_else(|| AppError::invalid_session("invalid session: the session has ended"))?;
    let identities = state
        .inner
        .store
        .identities(&user.id)
        .await
        .map_err(AppError::db)?;
    let custom_data = state
        .user_data(&user.id)
        .await?
        .and_then(|d| serde_json::value::RawValue::from_string(d).ok());
    Ok(Json(ProfileAnswer {
        profile: profile_of(&user, &identities),
        custom_data,
    }))
}

/// The profile of `user`: every identity in the order it was added; `data` merges the identities'
/// metadata fields (a later identity's win) under the email of an email/password user.
fn profile_of(user: &User, identities: &[Identity]) -> wire::Profile {
    let mut data = serde_json::Map::new();
    for identity in identities {
        let fields = identity.data.as_deref().and_then(|d| {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(d).ok()
        });
        data.extend(fields.unwrap_or_default());
    }
    if let Some(email) = &user.email {
        data.insert("email".to_owned(), email.clone().into());
    }
    let data = wire::ProfileData(
        data.into_iter()
            .map(|(name, value)| match value {
                serde_json::Value::String(text) => (name, text),
                other => (name, other.to_string()),
            })
            .collect(),
    );
    wire::Profile {
        user_id: user.id.clone(),
        domain_id: user.app_id.clone(),
        identities: identities
            .iter()
            .map(|i| wire::Identity {
                id: i.id.clone(),
                provider_type: i.provider_type.clone(),
                provider_id: i.provider_type.clone(),
            })
            .collect(),
        data,
        // A server key's user is of type `server` (with an `api-key` identity), as in App Services.
        user_type: if user.provider == SERVER_PROVIDER {
            "server"
        } else {
            "normal"
        }
        .to_owned(),
    }
}

#[utoipa::path(post, path = "/api/client/v2.0/auth/session", tag = "session", security(("refreshToken" = [])),
    responses((status = 200, description = "A new access token", body = wire::SessionResponse)))]
pub(crate) async fn refresh_session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<wire::SessionResponse>, AppError> {
    let s = state.authenticate(&headers, TokenKind::Refresh).await?;
    let user_data = state.user_data(&s.user_id).await?;
    Ok(Json(wire::SessionResponse {
        access_token: state.access_token(&TokenSubject {
            user_id: &s.user_id,
            app_id: &s.app_id,
            device_id: &s.device_id,
            session_id: &s.id,
            provider: &s.provider,
            api_key_id: s.api_key_id.as_deref(),
            user_data: user_data.as_deref(),
            scope: s.scope.as_deref(),
        }),
    }))
}

#[utoipa::path(delete, path = "/api/client/v2.0/auth/session", tag = "session", security(("refreshToken" = [])),
    responses((status = 204, description = "Logged out (idempotent)")))]
pub(crate) async fn log_out(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    let Some(token) = bearer(&headers) else {
        return Err(AppError::invalid_session("must authenticate first"));
    };
    // Idempotent: any bearer token gets a 204; a refresh token signed by us (even expired) ends its
    // session.
    if let Ok(claims) = token
        .map_err(|_| ())
        .and_then(|t| state.inner.signer.decode(t).map_err(|_| ()))
    {
        if claims.typ == "refresh" {
            if let Some(id) = claims.session_id() {
                let event = Event::new("session.revoked", "success").client(&client);
                state
                    .inner
                    .store
                    .delete_session(id, &event)
                    .await
                    .map_err(AppError::db)?;
            }
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/client/v2.0/auth/delete", tag = "session", security(("accessToken" = [])),
    responses((status = 204, description = "The user, its keys and sessions are deleted (not from a session opened with an API key: 403)")))]
pub(crate) async fn delete_user(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    let session = state.authenticate(&headers, TokenKind::Access).await?;
    // A service holding one of the user's keys must not be able to destroy its owner (issue 21).
    if session.api_key_id.is_some() {
        return Err(AppError::new(
            ErrorCode::APIKeyManagementForbidden,
            "sessions opened with an API key cannot delete their user",
        ));
    }
    let event = Event::new("user.deleted", "success")
        .app(&session.app_id)
        .provider(&session.provider)
        .client(&client);
    state
        .inner
        .store
        .delete_user(&session.user_id, &event)
        .await
        .map_err(AppError::db)?;
    Ok(StatusCode::NO_CONTENT)
}
