//! `appkeys-server`: a self-hostable, App Services–compatible auth server with user API keys.
//!
//! [`app`] builds the axum router from an [`AppState`]; [`serve`] runs it with connection limits and
//! timeouts; `main.rs` only parses the command line. Modules by concern: [`config`], [`state`],
//! [`secrets`] and [`token`] (signing), [`passwords`] (bounded Argon2id), [`auth`] (bearer tokens and
//! sessions), [`ratelimit`] (limits and client IPs), [`body`] (request bodies), `routes` (one module
//! per protocol area), [`store`] (the database), [`sweep`] (expiry). See `docs/PROTOCOL.md` for the
//! wire contract.

pub mod apikey;
pub mod audit;
mod auth;
mod body;
pub mod config;
pub mod email;
pub mod error;
pub mod passwords;
pub mod ratelimit;
mod routes;
pub mod secrets;
pub mod serve;
pub mod state;
pub mod store;
pub mod sweep;
pub mod token;

use std::time::Duration;

use appkeys_protocol::ErrorCode;
use axum::{
    http::{header, HeaderValue, Method},
    response::{IntoResponse, Response},
    Router,
};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
};

pub use config::{Config, HashLimits, RateLimits};
pub use error::AppError;
pub use state::{AppState, StateError};
pub use store::{Backend, Store, StoreError, StoreOptions};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Shortest accepted password (characters).
pub const MIN_PASSWORD_LEN: usize = 6;
/// Longest accepted password (characters).
pub const MAX_PASSWORD_LEN: usize = 128;

/// The HTTP application: every route of the protocol plus `/healthz` and `/readyz`, CORS, tracing,
/// body limit and JSON error bodies for everything (including 404/405/413 produced by the router and
/// layers).
pub fn app(state: AppState) -> Router {
    let cors = cors_layer(&state.inner.cors_origins);
    routes::router()
        .fallback(not_found)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::from_fn(access_log))
        .layer(cors)
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let allow_origin = if origins.is_empty() || origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .max_age(Duration::from_secs(600))
}

/// Turns any error response that is not already a JSON error body (router 404/405, body limit
/// 413, extractor rejections) into one.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/json");
    if is_json {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut fixed = AppError::for_status(status).into_response();
    if let Some(allow) = allow {
        fixed.headers_mut().insert(header::ALLOW, allow);
    }
    fixed
}

/// The access log: one INFO line per request — method, path (never the query, headers or body), status,
/// latency. One event and no span: formatting a span per request cost about a third of the trivial
/// route's throughput. Skipped entirely when INFO is filtered out.
async fn access_log(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if !tracing::enabled!(target: "appkeys_server::access", tracing::Level::INFO) {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        target: "appkeys_server::access",
        %method,
        path,
        status = response.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
    );
    response
}

async fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound, "route not found")
}
