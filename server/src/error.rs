//! The one error type of the server: an [`ErrorCode`] plus a message, rendered as the wire error body.

use std::borrow::Cow;

use appkeys_protocol::{wire::ErrorBody, ErrorCode};
use axum::{
    body::Body,
    http::{header, HeaderValue, Response, StatusCode},
    response::IntoResponse,
};

/// An error answered to the client as `{error, error_code}` with `Content-Type: application/json`
/// (and `Retry-After` for 429 and 503).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// Stable code; decides the HTTP status.
    pub code: ErrorCode,
    /// Human-readable message (never contains secrets or internal details).
    pub message: Cow<'static, str>,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

/// `Retry-After` of a 503 for a database that is unavailable.
pub const DB_RETRY_AFTER_SECS: u64 = 5;

impl AppError {
    /// A new error.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        AppError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 `TooManyRequests` with `Retry-After: secs`.
    pub fn too_many_requests(secs: u64, message: &'static str) -> Self {
        AppError {
            retry_after: Some(secs.max(1)),
            ..AppError::new(ErrorCode::TooManyRequests, message)
        }
    }

    /// 503 `ServiceUnavailable` with `Retry-After: secs`.
    pub fn unavailable(secs: u64, message: &'static str) -> Self {
        AppError {
            retry_after: Some(secs.max(1)),
            ..AppError::new(ErrorCode::ServiceUnavailable, message)
        }
    }

    /// A database failure: 503 when the database is unreachable, the pool is exhausted for longer
    /// than its acquire timeout, or the database refuses writes (read-only, disk full); else 500.
    /// The cause is logged (sqlx errors carry no secrets: values are bound, not formatted).
    pub fn db(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            tracing::warn!(error = %e, "database unavailable");
            return AppError::unavailable(DB_RETRY_AFTER_SECS, "the database is unavailable");
        }
        AppError::internal(e)
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
            408 => AppError::new(ErrorCode::RequestTimeout, "request timed out"),
            413 => AppError::new(
                ErrorCode::PayloadTooLarge,
                "request body too large (at most 65536 bytes)",
            ),
            415 => AppError::new(ErrorCode::UnsupportedMediaType, "request body must be JSON"),
            429 => AppError::too_many_requests(1, "too many requests"),
            503 => AppError::unavailable(1, "service unavailable"),
            s if s < 500 => AppError::new(ErrorCode::BadRequest, "bad request"),
            _ => AppError::new(ErrorCode::InternalServerError, "internal server error"),
        }
    }
}

/// Whether `e` means "the database cannot serve right now" rather than a bug.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => {
            let code = d.code().unwrap_or_default();
            let message = d.message().to_ascii_lowercase();
            // SQLite: SQLITE_BUSY (5), SQLITE_READONLY (8), SQLITE_IOERR (10), SQLITE_FULL (13),
            // SQLITE_CANTOPEN (14); PostgreSQL: class 08 (connection), 53 (resources: disk full,
            // out of memory, too many connections), 57P (shutdown), 25006 (read-only transaction).
            matches!(&*code, "5" | "8" | "10" | "13" | "14" | "25006")
                || code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || message.contains("readonly")
                || message.contains("read-only")
                || message.contains("disk is full")
        }
        _ => false,
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
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
