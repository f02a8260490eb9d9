//! `/healthz` (liveness: the process answers) and `/readyz` (readiness: the database takes a write).

use axum::{extract::State, Json};
use serde_json::{json, Value};

use crate::error::{is_unavailable, AppError, DB_RETRY_AFTER_SECS};
use crate::state::AppState;

/// Always 200 while the process serves; never touches the database.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process serves (liveness; no database access)", body = Object)))]
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 when the database accepts a write (a heartbeat row, written at most every 2 s however often
/// this is asked), else 503 `ServiceUnavailable`: a database that is down, read-only or out of disk
/// space shows here.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "The database accepts a write", body = Object)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    state.ready().await.map_err(|e| {
        if is_unavailable(&e) {
            AppError::db(e)
        } else {
            // Whatever else keeps the write from succeeding, the server is not ready.
            tracing::warn!(error = %e, "readiness write failed");
            AppError::unavailable(DB_RETRY_AFTER_SECS, "the database is not writable")
        }
    })?;
    Ok(Json(json!({ "status": "ready" })))
}
