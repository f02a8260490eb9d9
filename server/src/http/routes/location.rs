//! `GET app/{app_id}/location`.

use appkeys_protocol::wire;
use axum::{
    extract::{Path, State},
    Json,
};

use crate::error::AppError;
use crate::state::AppState;

#[utoipa::path(get, path = "/api/client/v2.0/app/{app_id}/location", tag = "app",
    params(("app_id" = String, Path, description = "App id")),
    responses((status = 200, description = "Where the app is served", body = wire::Location)))]
pub(crate) async fn location(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
) -> Result<Json<wire::Location>, AppError> {
    state.check_app(&app_id)?;
    let hostname = state.inner.public_url.clone();
    let ws_hostname = if let Some(rest) = hostname.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = hostname.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        hostname.clone()
    };
    Ok(Json(wire::Location {
        deployment_model: "LOCAL".to_owned(),
        location: "appkeys".to_owned(),
        hostname,
        ws_hostname,
    }))
}
