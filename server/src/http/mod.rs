//! The HTTP layer: [`app`] builds the axum router from an [`AppState`] — every route of the protocol
//! (`routes`, one module per protocol area), `/openapi.json`, `/metrics`, CORS, the body limit, JSON
//! error bodies for everything and the access log; [`serve`] runs it with connection limits and
//! timeouts. Request parts are read by the extractors of [`extract`] and [`auth`].

pub mod auth;
pub mod extract;
pub mod openapi;
mod routes;
pub mod serve;

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

use crate::error::AppError;
use crate::state::AppState;
use extract::MAX_BODY_BYTES;

/// The HTTP application: every route of the protocol plus `/healthz` and `/readyz`, CORS, tracing,
/// body limit and JSON error bodies for everything (including 404/405/413 produced by the router and
/// layers).
pub fn app(state: AppState) -> Router {
    let cors = cors_layer(&state.inner.cors_origins);
    let mut router = routes::router().route(OPENAPI_PATH, axum::routing::get(openapi_json));
    if state.inner.metrics_on_main {
        router = router.route(METRICS_PATH, axum::routing::get(metrics));
    }
    router
        .fallback(not_found)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access_log,
        ))
        .with_state(state)
        .layer(cors)
        .layer(axum::middleware::map_response(security_headers))
}

/// Path of the Prometheus metrics.
pub const METRICS_PATH: &str = "/metrics";

/// Path of the OpenAPI document.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// `GET /openapi.json`: the OpenAPI 3.1 document of the server.
async fn openapi_json() -> Response {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let doc = DOC.get_or_init(openapi::json).clone();
    ([(header::CONTENT_TYPE, "application/json")], doc).into_response()
}

/// Only `GET /metrics`, for `--metrics-listen` (its own listener).
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route(METRICS_PATH, axum::routing::get(metrics))
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::map_response(security_headers))
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    // On the main listener /metrics is public; on --metrics-listen it is the operator's own.
    let public = state.inner.metrics_on_main;
    let text = state.inner.metrics.render(&state.inner.store, public).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
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

/// `X-Content-Type-Options: nosniff` on every response, and `Cache-Control: no-store` on every response
/// that does not set its own caching (tokens and key secrets must never be cached by a browser or a proxy;
/// only the published metadata says otherwise).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
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

/// The access log — one INFO line per request: method, path (never the query, headers or body), status,
/// latency; one event and no span (a span per request cost about a third of the trivial route's
/// throughput) — and the request metrics (by route pattern, so ids do not multiply the series).
async fn access_log(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let logged = tracing::enabled!(target: "appkeys_server::access", tracing::Level::INFO);
    let path = if logged {
        request.uri().path().to_owned()
    } else {
        String::new()
    };
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    state.inner.metrics.request(
        &route,
        method_label(&method),
        response.status().as_u16(),
        elapsed.as_secs_f64(),
    );
    if !logged {
        return response;
    }
    tracing::info!(
        target: "appkeys_server::access",
        %method,
        path,
        status = response.status().as_u16(),
        latency_us = elapsed.as_micros() as u64,
    );
    response
}

/// The `method` label of the request metrics: the methods the API serves, every other token `other`
/// (hyper accepts any token as a method; a label per made-up method would be a series per request).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

async fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound, "route not found")
}
