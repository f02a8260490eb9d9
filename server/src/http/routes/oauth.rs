//! The web redirect flow of realm's `Credentials.google({ redirectUrl })`, `Credentials.apple(url)` and
//! `Credentials.facebook(url)` (issue 30): the login window opens
//! `GET …/auth/providers/{provider}/login?redirect=PAGE&state=S&device=D`; appkeys sends it to the provider
//! (authorization code with a `state` of its own and a PKCE S256 challenge whose verifier sits in a cookie
//! that only that browser holds), takes the callback (`GET …/auth/callback`; Apple posts it, and the
//! posted answer is sent on as a GET so that the browser's cookie comes with it), exchanges the code,
//! logs the user in and sends the window to `PAGE#_baas_client_app_id=…&_baas_ua=access$refresh$user$device&_baas_state=S`,
//! which realm-web's `handleAuthRedirect()` reads. `PAGE` must be one of `--oauth-redirect-url` exactly;
//! anything else gets an error page, never a redirect that carries tokens.

use std::collections::HashMap;

use appkeys_protocol::{ErrorCode, Provider, API_PREFIX};
use axum::{
    extract::{Form, Path, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::common::audit_limit;
use super::login::Login;
use crate::db::oauth_flows::{Flow, FLOW_TTL_MS};
use crate::error::AppError;
use crate::model::{Client, Event};
use crate::service::custom_jwt::CustomJwtError;
use crate::service::ratelimit::{client_key, Bucket};
use crate::state::{AppState, TokenSubject};
use crate::util::new_id;

/// Longest `state` of the app accepted.
const MAX_STATE: usize = 256;

fn random_text() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The PKCE S256 challenge of `verifier`.
fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The cookie that carries a flow's verifier: one per flow, so parallel sign-ins do not clash.
fn cookie_name(flow_id: &str) -> String {
    format!("appkeys_oauth_{}", &flow_id[..16])
}

/// appkeys' callback URL (register it as the OAuth client's redirect URI).
fn callback_url(state: &AppState) -> String {
    format!("{}{API_PREFIX}/auth/callback", state.inner.public_url)
}

/// A plain page saying what went wrong (no tokens, no redirect).
fn error_page(why: &str) -> Response {
    let escaped = why
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let body = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>Sign-in failed</title>\
         <h1>Sign-in failed</h1><p>{escaped}</p><p>Close this window and try again.</p>"
    );
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `redirect#` + the `_baas_*` parameters (percent-encoded, as realm-web decodes them).
fn redirect_to(page: &str, params: &[(&str, &str)]) -> Response {
    let fragment: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            let value: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
            format!("{k}={}", value.replace('+', "%20"))
        })
        .collect();
    let location = format!("{page}#{}", fragment.join("&"));
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The device id of the `device` parameter (base64 JSON `{deviceId}`), else a new one.
fn device_of(param: Option<&String>) -> String {
    let given = param
        .and_then(|d| {
            base64::engine::general_purpose::STANDARD
                .decode(d)
                .or_else(|_| URL_SAFE_NO_PAD.decode(d.trim_end_matches('=')))
                .ok()
        })
        .and_then(|raw| serde_json::from_slice::<serde_json::Value>(&raw).ok())
        .and_then(|v| {
            v.get("deviceId")
                .and_then(|d| d.as_str())
                .map(str::to_owned)
        });
    match given {
        Some(id)
            if appkeys_protocol::is_object_id(&id) && id != appkeys_protocol::ZERO_DEVICE_ID =>
        {
            id.to_ascii_lowercase()
        }
        _ => new_id(),
    }
}

/// `GET …/auth/providers/{provider}/login?redirect=…&state=…`: the start of the redirect flow.
pub(crate) async fn start(
    State(state): State<AppState>,
    Path((app_id, provider)): Path<(String, String)>,
    client: Client,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    state.check_app(&app_id)?;
    let redirecting = Provider::parse(&provider).and_then(|p| state.inner.social.redirecting(p));
    let Some(redirecting) = redirecting else {
        return Err(AppError::new(
            ErrorCode::AuthProviderNotFound,
            "this provider has no web redirect flow on this server",
        ));
    };
    let allowed = &state.inner.redirect_urls;
    let Some(page) = query.get("redirect").filter(|r| allowed.contains(r)) else {
        return Ok(error_page(
            "This app page may not receive sign-ins from this server (--oauth-redirect-url).",
        ));
    };
    let Some(client_state) = query
        .get("state")
        .filter(|s| !s.is_empty() && s.len() <= MAX_STATE)
    else {
        return Ok(error_page("The sign-in request has no valid state."));
    };
    // Each start writes a flow row: as many per client as anonymous logins (refused without a write).
    let limit = state.inner.limits.anonymous_logins_per_ip;
    let event = Event::new("oauth.started", "success")
        .app(&app_id)
        .provider(redirecting.provider().as_str())
        .client(&client);
    let attempt = state
        .inner
        .limiter
        .attempt(Bucket::OAuthStartsIp, &[&client_key(client.ip)], limit)
        .await;
    audit_limit(&state, &event, attempt).await?;
    let flow_state = random_text();
    let verifier = random_text();
    let flow = Flow {
        id: sha256_hex(&flow_state),
        app_id,
        provider: provider.clone(),
        redirect: page.clone(),
        client_state: client_state.clone(),
        device_id: device_of(query.get("device")),
        challenge: challenge(&verifier),
    };
    state
        .inner
        .store
        .insert_flow(&flow)
        .await
        .map_err(AppError::db)?;
    let location =
        redirecting.authorization_url(&flow_state, &flow.challenge, &callback_url(&state));
    let secure = if state.inner.public_url.starts_with("https:") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{}={verifier}; Path={API_PREFIX}/auth/callback; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        cookie_name(&flow.id),
        FLOW_TTL_MS / 1000
    );
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_str(&location).map_err(AppError::internal)?,
    );
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(AppError::internal)?,
    );
    Ok(response)
}

/// The cookie `name` of a request.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `GET …/auth/callback?code=…&state=…` (or `error=…`): the end of the redirect flow.
pub(crate) async fn callback(
    State(state): State<AppState>,
    client: Client,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(flow_state) = query.get("state") else {
        return Ok(error_page("The provider's answer has no state."));
    };
    let id = sha256_hex(flow_state);
    let flow = state
        .inner
        .store
        .take_flow(&id)
        .await
        .map_err(AppError::db)?;
    let Some(flow) = flow else {
        return Ok(error_page(
            "This sign-in was already finished, has expired, or was never started here.",
        ));
    };
    let verifier = cookie(&headers, &cookie_name(&id)).unwrap_or_default();
    let same_browser: bool = challenge(verifier)
        .as_bytes()
        .ct_eq(flow.challenge.as_bytes())
        .into();
    if verifier.is_empty() || !same_browser {
        return Ok(error_page(
            "This sign-in was started in another browser (or its cookie is gone).",
        ));
    }
    let fail = |why: &str| {
        redirect_to(
            &flow.redirect,
            &[("_baas_error", why), ("_baas_state", &flow.client_state)],
        )
    };
    if let Some(error) = query.get("error") {
        return Ok(fail(&format!("the provider answered: {error}")));
    }
    let social = &state.inner.social;
    let redirecting = Provider::parse(&flow.provider).and_then(|p| social.redirecting(p));
    let (Some(code), Some(redirecting)) = (query.get("code"), redirecting) else {
        return Ok(fail("the provider's answer has no code"));
    };
    let provider = redirecting.provider();
    let event = Event::new("login.succeeded", "success")
        .app(&flow.app_id)
        .provider(provider.as_str())
        .client(&client);
    let user = query.get("user").map(String::as_str);
    let callback = callback_url(&state);
    let finished = redirecting
        .finish(code, user, &callback, verifier, &flow.app_id)
        .await;
    let verified = match finished {
        Ok(v) => v,
        Err(CustomJwtError::Refused(why)) => {
            state.count_event(Event {
                event: "login.failed",
                outcome: "invalid_token",
                ..event.clone()
            });
            return Ok(fail(&format!("invalid {provider} credentials: {why}")));
        }
        Err(CustomJwtError::Unavailable(_)) => {
            return Ok(fail(&format!(
                "{provider} cannot be reached now; try again later"
            )))
        }
    };
    // The same step as a login request with a Google token: ceiling, session, audit, session cap.
    let login = Login {
        state: &state,
        app_id: &flow.app_id,
        ip: client_key(client.ip),
        device: flow.device_id.clone(),
        event: event.clone(),
    };
    let opened = match login.open_identity(provider, &verified).await {
        Ok(opened) => opened,
        Err(e) if matches!(e.code, ErrorCode::UserDisabled | ErrorCode::TooManyRequests) => {
            return Ok(fail(&e.message))
        }
        Err(e) => return Err(e),
    };
    state.record(&event);
    state.login_webhook(&event, &opened.user_id, None).await?;
    let user_data = state.user_data(&opened.user_id).await?;
    let tokens = state.login_response(&TokenSubject {
        user_id: &opened.user_id,
        app_id: &flow.app_id,
        device_id: &flow.device_id,
        session_id: &opened.session,
        provider: provider.as_str(),
        api_key_id: None,
        user_data: user_data.as_deref(),
        scope: None,
    });
    let ua = format!(
        "{}${}${}${}",
        tokens.access_token, tokens.refresh_token, tokens.user_id, tokens.device_id
    );
    let mut response = redirect_to(
        &flow.redirect,
        &[
            ("_baas_client_app_id", &flow.app_id),
            ("_baas_ua", &ua),
            ("_baas_state", &flow.client_state),
        ],
    );
    let expired = format!(
        "{}=; Path={API_PREFIX}/auth/callback; HttpOnly; SameSite=Lax; Max-Age=0",
        cookie_name(&id)
    );
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `POST …/auth/callback` (Apple's `response_mode=form_post`): a cross-site POST carries no `SameSite=Lax`
/// cookie, so its fields are sent on, unchanged, to `GET …/auth/callback` by a page of this origin (a
/// redirect would keep the cross-site POST's context). Nothing is read or consumed here.
pub(crate) async fn posted_callback(
    State(state): State<AppState>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let known = ["code", "state", "user", "error"];
    let mut url = match url::Url::parse(&callback_url(&state)) {
        Ok(url) => url,
        Err(_) => return error_page("The server's public URL is not a URL."),
    };
    url.query_pairs_mut().extend_pairs(
        form.iter()
            .filter(|(k, v)| known.contains(&k.as_str()) && v.len() <= 4096),
    );
    let target = String::from(url)
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    let body = format!(
        "<!doctype html><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\">\
         <meta http-equiv=\"refresh\" content=\"0;url={target}\"><title>Signing in…</title>\
         <p><a href=\"{target}\">Continue</a></p>"
    );
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}
