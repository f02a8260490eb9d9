//! What verifiers of access tokens read: the JWKS (`/.well-known/jwks.json`) and the discovery document
//! (`/.well-known/openid-configuration`, and the same at `/.well-known/oauth-authorization-server`), both
//! built here from the signing keys and the issuer. Cacheable for five minutes: shorter than any rotation
//! window (publish a key at least 30 minutes before it signs; see the README).

use appkeys_protocol::{INTROSPECTION_PATH, JWKS_PATH};
use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::state::AppState;

/// `Cache-Control` of the published metadata.
const CACHE: &str = "public, max-age=300";

fn cached_json(value: serde_json::Value) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, CACHE),
        ],
        value.to_string(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "tokens",
    responses((status = 200, description = "The keys that verify access tokens (RFC 7517): every key of the signing-key file, the signing key first", content_type = "application/json", body = Object)))]
pub(crate) async fn jwks(State(state): State<AppState>) -> Response {
    let keys: Vec<_> = state.inner.signer.keys().iter().map(|k| &k.jwk).collect();
    cached_json(json!({ "keys": keys }))
}

#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "tokens",
    responses((status = 200, description = "Discovery metadata: `issuer` (the `iss` of every access token), `jwks_uri`, the signing algorithm (ES256) and the introspection endpoint", content_type = "application/json", body = Object)))]
pub(crate) async fn openid_configuration(State(state): State<AppState>) -> Response {
    cached_json(discovery(&state))
}

#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "tokens",
    responses((status = 200, description = "The discovery metadata as RFC 8414 names it", content_type = "application/json", body = Object)))]
pub(crate) async fn oauth_metadata(State(state): State<AppState>) -> Response {
    cached_json(discovery(&state))
}

/// The discovery document: URLs on the public URL, `issuer` exactly the tokens' `iss`.
fn discovery(state: &AppState) -> serde_json::Value {
    let base = &state.inner.public_url;
    let mut doc = json!({
        "issuer": state.inner.issuer,
        "jwks_uri": format!("{base}{JWKS_PATH}"),
        "id_token_signing_alg_values_supported": ["ES256"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "grant_types_supported": ["refresh_token"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "jti", "client_id", "sid", "provider", "api_key_id"
        ],
    });
    if state.inner.introspection_credentials.is_some() {
        doc["introspection_endpoint"] = json!(format!("{base}{INTROSPECTION_PATH}"));
        doc["introspection_endpoint_auth_methods_supported"] = json!(["client_secret_basic"]);
    }
    doc
}
