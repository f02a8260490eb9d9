//! `POST /oauth/introspect` (RFC 7662): for the app's own services that cannot wait for `exp` to see a
//! logout, a disabled or deleted key, or a disabled or deleted user. Callers authenticate with HTTP Basic
//! against `--introspection-credentials-file` (without it the endpoint is off: 404); the form field
//! `token` is answered `{active: true, …}` only for a live access token, `{active: false}` for anything
//! else. Caller credentials are checked first (a known caller is never limited); failed ones are audited in
//! aggregate (`introspection.failed`) and limited per client IP.

use appkeys_protocol::{ErrorCode, TokenKind};
use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::common::audit_limit;
use crate::error::AppError;
use crate::http::extract::read_body;
use crate::model::{Client, Event};
use crate::service::ratelimit::{client_key, Bucket};
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
    // attempts from its address cannot lock it out. Bad callers are limited per client and audited in
    // aggregate (a flood costs no write each).
    if !caller_known(req.headers(), credentials) {
        let ip = client_key(client.ip);
        let event = Event::new("introspection.failed", "invalid_client").client(&client);
        let limiter = &state.inner.limiter;
        let limit = state.inner.limits.login_failures_per_ip;
        let checked = limiter
            .check(Bucket::IntrospectionFailuresIp, &[&ip], limit)
            .await;
        audit_limit(&state, &event, checked).await?;
        state.count_event(event.clone());
        let recorded = limiter
            .record(Bucket::IntrospectionFailuresIp, &[&ip], limit)
            .await;
        audit_limit(&state, &event, recorded).await?;
        let mut response = AppError::new(
            ErrorCode::AuthError,
            "introspection needs the caller's credentials (HTTP Basic)",
        )
        .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"appkeys introspection\""),
        );
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
