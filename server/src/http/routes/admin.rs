//! The admin API (issue 31), for the app's own backend — never for its users: custom user data,
//! `GET|PUT|DELETE /api/admin/v1/users/{user_id}/custom_data`. Callers authenticate with HTTP Basic
//! against `--admin-credentials-file` (without it the API is off: 404); unknown callers are refused,
//! audited in aggregate and limited per client, as at the introspection endpoint.

use appkeys_protocol::ErrorCode;
use axum::{
    extract::{Path, Request, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use super::common::{operator_caller, Operator};
use crate::error::AppError;
use crate::http::extract::read_body;
use crate::model::{Client, Event};
use crate::service::custom_data::{self, CustomDataError};
use crate::state::AppState;

/// The admin API's route of a user's custom data.
pub(crate) const CUSTOM_DATA_PATH: &str = "/api/admin/v1/users/{user_id}/custom_data";

/// The caller check of every admin route: `Some(answer)` refuses.
async fn refused(
    state: &AppState,
    client: &Client,
    headers: &HeaderMap,
) -> Result<Option<Response>, AppError> {
    let Some(credentials) = &state.inner.admin_credentials else {
        return Err(AppError::new(
            ErrorCode::NotFound,
            "the admin API is off (--admin-credentials-file)",
        ));
    };
    operator_caller(state, client, headers, credentials, Operator::Admin).await
}

fn user_not_found() -> AppError {
    AppError::new(ErrorCode::UserNotFound, "no user has this id")
}

#[utoipa::path(get, path = "/api/admin/v1/users/{user_id}/custom_data", tag = "admin",
    security(("adminClient" = [])),
    params(("user_id" = String, Path, description = "User id")),
    responses((status = 200, description = "The user's custom data object (`{}` when it has none)", content_type = "application/json", body = Object),
        (status = 401, description = "Missing or wrong caller credentials (HTTP Basic)"),
        (status = 404, description = "No such user, or the admin API is off")))]
pub(crate) async fn get_custom_data(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    client: Client,
    req: Request,
) -> Result<Response, AppError> {
    if let Some(answer) = refused(&state, &client, req.headers()).await? {
        return Ok(answer);
    }
    let data = state
        .inner
        .store
        .custom_data(&user_id)
        .await
        .map_err(AppError::db)?
        .ok_or_else(user_not_found)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        data.unwrap_or_else(|| "{}".to_owned()),
    )
        .into_response())
}

#[utoipa::path(put, path = "/api/admin/v1/users/{user_id}/custom_data", tag = "admin",
    security(("adminClient" = [])),
    params(("user_id" = String, Path, description = "User id")),
    request_body(content = Object, content_type = "application/json", description = "The new custom data: a JSON object of at most 16 KB"),
    responses((status = 204, description = "Stored; the user's next access token carries it"),
        (status = 400, description = "Not JSON, or not an object"),
        (status = 401, description = "Missing or wrong caller credentials (HTTP Basic)"),
        (status = 404, description = "No such user, or the admin API is off"),
        (status = 413, description = "Larger than 16 KB (nothing stored)")))]
pub(crate) async fn put_custom_data(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    client: Client,
    req: Request,
) -> Result<Response, AppError> {
    if let Some(answer) = refused(&state, &client, req.headers()).await? {
        return Ok(answer);
    }
    let body = read_body(req, &state).await?;
    let data = custom_data::from_json(&body).map_err(|e| match e {
        CustomDataError::TooLarge(_) => AppError::new(ErrorCode::PayloadTooLarge, e.to_string()),
        _ => AppError::new(ErrorCode::BadRequest, e.to_string()),
    })?;
    write(&state, &client, &user_id, Some(&data)).await
}

#[utoipa::path(delete, path = "/api/admin/v1/users/{user_id}/custom_data", tag = "admin",
    security(("adminClient" = [])),
    params(("user_id" = String, Path, description = "User id")),
    responses((status = 204, description = "Cleared"),
        (status = 401, description = "Missing or wrong caller credentials (HTTP Basic)"),
        (status = 404, description = "No such user, or the admin API is off")))]
pub(crate) async fn delete_custom_data(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    client: Client,
    req: Request,
) -> Result<Response, AppError> {
    if let Some(answer) = refused(&state, &client, req.headers()).await? {
        return Ok(answer);
    }
    write(&state, &client, &user_id, None).await
}

/// Stores (or clears) the data, audited with the caller's address.
async fn write(
    state: &AppState,
    client: &Client,
    user_id: &str,
    data: Option<&str>,
) -> Result<Response, AppError> {
    let name = match data {
        Some(_) => "user.custom_data_set",
        None => "user.custom_data_cleared",
    };
    let event = Event::new(name, "success").client(client);
    let found = state
        .inner
        .store
        .set_custom_data(user_id, data, &event)
        .await
        .map_err(AppError::db)?;
    match found {
        true => Ok(StatusCode::NO_CONTENT.into_response()),
        false => Err(user_not_found()),
    }
}
