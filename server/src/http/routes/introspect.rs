//! `POST /oauth/introspect` (RFC 7662): for the app's own services that cannot wait for `exp` to see a
//! logout, a disabled or deleted key, or a disabled or deleted user. Callers authenticate with HTTP Basic
//! against `--introspection-credentials-file` (without it the endpoint is off: 404); the form field
//! `token` is answered `{active: true, …}` only for a live access token, `{active: false}` for anything
//! else. Caller credentials are checked first (a known caller is never limited); failed ones are audited in
//! aggregate (`introspection.failed`) and limited per client IP.

use appkeys_protocol::{ErrorCode, TokenKind};
use axum::{
    extract::{Request, State},
    http::header,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::common::{operator_caller, Operator};
use crate::error::AppError;
use crate::http::extract::read_body;
use crate::model::Client;
use crate::state::AppState;

#[utoipa::path(post, path = "/oauth/introspect", tag = "tokens", security(("introspectionClient" = [])),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`token=<access token>` (`token_type_hint` is ignored)"),
    responses((status = 200, description = "`{active: true, sub, iss, aud, exp, iat, client_id, token_type, jti, sid, provider, api_key_id}` for a live access token, `{active: false}` for anything else", content_type = "application/json", body = Object),
        (status = 401, description = "Missing or wrong caller credentials (HTTP Basic)")))]
pub(crate) async fn introspect(
    State(state): State<AppState>,
    client: Client,
    req: Request,
) -> Result<Response, AppError> {
    let Some(credentials) = &state.inner.introspection_credentials else {
        return Err(AppError::new(
            ErrorCode::NotFound,
            "introspection is off (--introspection-credentials-file)",
        ));
    };
    // A known caller (the app's resource server) is checked first and never limited: others' bad
    // attempts from its address cannot lock it out.
    let refused = operator_caller(
        &state,
        &client,
        req.headers(),
        credentials,
        Operator::Introspection,
    )
    .await?;
    if let Some(response) = refused {
        return Ok(response);
    }
    let body = read_body(req, &state).await?;
    let token = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::MissingParameter,
                "'token' is a required form field.",
            )
        })?;
    let answer = match state.session_of(&token, TokenKind::Access).await {
        Ok((session, claims)) => {
            let mut answer = json!({
                "active": true,
                "sub": session.user_id,
                "iss": state.inner.issuer,
                "aud": state.audiences(&session.app_id),
                "exp": claims.exp,
                "iat": claims.iat,
                "client_id": session.app_id,
                "token_type": "Bearer",
                "sid": session.id,
                "provider": session.provider,
            });
            if let Some(jti) = claims.jti {
                answer["jti"] = json!(jti);
            }
            if let Some(key) = session.api_key_id {
                answer["api_key_id"] = json!(key);
            }
            if let Some(scope) = session.scope {
                answer["scope"] = json!(scope);
            }
            answer
        }
        Err(e) if e.code == ErrorCode::InvalidSession => json!({ "active": false }),
        Err(e) => return Err(e),
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        answer.to_string(),
    )
        .into_response())
}
