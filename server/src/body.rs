//! Request bodies: JSON objects whatever the content type, with App Services–shaped rejections.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::StatusCode,
};

use appkeys_protocol::ErrorCode;
use serde_json::{Map, Value};

use crate::error::AppError;
use crate::state::AppState;
use crate::MAX_BODY_BYTES;

/// The request body as a JSON object, whatever the content type; an empty body is `{}`.
pub(crate) struct JsonObject(pub(crate) Map<String, Value>);

impl FromRequest<AppState> for JsonObject {
    type Rejection = AppError;

    /// Reads the whole body within the body-read timeout (408 `RequestTimeout` after it: a client
    /// trickling its body cannot hold the request open).
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let read = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES);
        let bytes = match tokio::time::timeout(state.inner.body_read_timeout, read).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => return Err(body_error(e)),
            Err(_) => {
                return Err(AppError::new(
                    ErrorCode::RequestTimeout,
                    "the request body was not received in time",
                ))
            }
        };
        parse_object(&bytes).map(JsonObject)
    }
}

fn body_error(e: axum::Error) -> AppError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if err
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            return AppError::for_status(StatusCode::PAYLOAD_TOO_LARGE);
        }
        source = err.source();
    }
    AppError::new(ErrorCode::BadRequest, "could not read the request body")
}

fn parse_object(bytes: &Bytes) -> Result<Map<String, Value>, AppError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AppError::new(
            ErrorCode::BadRequest,
            "request body must be a JSON object",
        )),
        Err(_) => Err(AppError::new(
            ErrorCode::BadRequest,
            "request body is not valid JSON",
        )),
    }
}

/// A required string field: missing/null/empty → 400 `MissingParameter`, other types → 400
/// `InvalidParameter`.
pub(crate) fn required_str<'a>(
    body: &'a Map<String, Value>,
    field: &str,
) -> Result<&'a str, AppError> {
    match body.get(field) {
        None | Some(Value::Null) => Err(missing(field)),
        Some(Value::String(s)) if s.is_empty() => Err(missing(field)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(AppError::new(
            ErrorCode::InvalidParameter,
            format!("'{field}' must be a string."),
        )),
    }
}

pub(crate) fn missing(field: &str) -> AppError {
    AppError::new(
        ErrorCode::MissingParameter,
        format!("'{field}' is a required string."),
    )
}
