//! `POST auth/identities/remove`: the owner takes one of their account's identities away (a sign-in
//! method they no longer use, or one they do not recognise). App Services had no such call; realm-web has
//! none either (the appkeys SDK's `user.removeIdentity`). The profile lists the identities.

use appkeys_protocol::{wire, ErrorCode, TokenKind};
use axum::{
    extract::{FromRequest, Request, State},
    http::StatusCode,
};

use super::common::{notify_owner, when_and_where};
use crate::db::identities::Removal;
use crate::db::SERVER_PROVIDER;
use crate::error::AppError;
use crate::http::extract::{required_str, JsonObject};
use crate::model::{Client, Event};
use crate::state::AppState;

#[utoipa::path(post, path = "/api/client/v2.0/auth/identities/remove", tag = "session", security(("accessToken" = [])),
    request_body = wire::RemoveIdentity,
    responses((status = 204, description = "The identity is gone, with the sessions opened with its provider"),
        (status = 400, description = "It is the account's only identity (`BadRequest`)"),
        (status = 403, description = "A session opened with an API key (`LinkForbidden`)"),
        (status = 404, description = "The account has no such identity (`NotFound`)")))]
pub(crate) async fn remove_identity(
    State(state): State<AppState>,
    client: Client,
    req: Request,
) -> Result<StatusCode, AppError> {
    let session = state.authenticate(req.headers(), TokenKind::Access).await?;
    // The same rule as for linking: a service holding a key never changes how its owner signs in.
    if session.api_key_id.is_some() || session.user_provider == SERVER_PROVIDER {
        return Err(AppError::new(
            ErrorCode::LinkForbidden,
            "a session opened with an API key cannot change the account's identities",
        ));
    }
    let JsonObject(body) = JsonObject::from_request(req, &state).await?;
    let provider_type = required_str(&body, "provider_type")?;
    let id = required_str(&body, "id")?;
    let event = Event::new("identity.removed", "success")
        .app(&session.app_id)
        .provider(provider_type)
        .client(&client);
    let removal = state
        .inner
        .store
        .remove_identity(&session.user_id, (provider_type, id), &event)
        .await
        .map_err(AppError::db)?;
    match removal {
        Removal::Removed => {
            state.record(&event);
            let what = format!(
                "The {provider_type} sign-in method ({id}) was removed from your account {}.",
                when_and_where(&client)
            );
            let subject = "A sign-in method was removed";
            notify_owner(&state, &session.user_id, &session.app_id, subject, &what).await;
            Ok(StatusCode::NO_CONTENT)
        }
        Removal::NotFound => Err(AppError::new(
            ErrorCode::NotFound,
            "the account has no such identity",
        )),
        Removal::Last => Err(AppError::new(
            ErrorCode::BadRequest,
            "an account keeps at least one identity: link another one first",
        )),
    }
}
