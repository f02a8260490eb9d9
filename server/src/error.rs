//! The one error type of the server: an [`ErrorCode`] plus a message, rendered as the wire error body.

use std::borrow::Cow;

use appkeys_protocol::{wire::ErrorBody, ErrorCode};
use axum::{
    body::Body,
    http::{header, HeaderValue, Response, StatusCode},
    response::IntoResponse,
};

/// An error answered to the client as `{error, error_code}` with `Content-Type: application/json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// Stable code; decides the HTTP status.
    pub code: ErrorCode,
    /// Human-readable message (never contains secrets or internal details).
    pub message: Cow<'static, str>,
}

impl AppError {
    /// A new error.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        AppError {
            code,
            message: message.into(),
        }
    }

    /// 401 `InvalidSession`.
    pub fn invalid_session(message: &'static str) -> Self {
        AppError::new(ErrorCode::InvalidSession, message)
    }

    /// 500 without details; the cause is logged (it must not contain secrets).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal server error");
        AppError::new(ErrorCode::InternalServerError, "internal server error")
    }

    /// The error that stands for a bare HTTP status produced outside the handlers (router, layers).
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => AppError::new(ErrorCode::BadRequest, "bad request"),
            401 => AppError::invalid_session("must authenticate first"),
            404 => AppError::new(ErrorCode::NotFound, "route not found"),
            405 => AppError::new(ErrorCode::MethodNotAllowed, "method not allowed"),
            413 => AppError::new(
                ErrorCode::PayloadTooLarge,
                "request body too large (at most 65536 bytes)",
            ),
            415 => AppError::new(ErrorCode::UnsupportedMediaType, "request body must be JSON"),
            s if s < 500 => AppError::new(ErrorCode::BadRequest, "bad request"),
            _ => AppError::new(ErrorCode::InternalServerError, "internal server error"),
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AppError {}

impl IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        let body = ErrorBody {
            error: self.message.into_owned(),
            error_code: self.code.as_str().to_owned(),
            link: None,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = Response::new(Body::from(bytes));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}
