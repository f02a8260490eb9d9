//! The routes, one module per protocol area; [`router`] puts them together.

pub(crate) mod health;
pub(crate) mod keys;
pub(crate) mod location;
pub(crate) mod login;
pub(crate) mod session;

use appkeys_protocol::{Endpoint, HEALTHZ_PATH, READYZ_PATH};
use axum::{
    routing::{delete, get, post, put},
    Router,
};

use crate::state::AppState;

/// Every route of the protocol plus `/healthz` and `/readyz`.
pub(crate) fn router() -> Router<AppState> {
    let login = Endpoint::Login {
        app_id: "",
        provider: "",
    };
    Router::new()
        .route(HEALTHZ_PATH, get(health::healthz))
        .route(READYZ_PATH, get(health::readyz))
        .route(
            &Endpoint::Location { app_id: "" }.pattern(),
            get(location::location),
        )
        .route(&login.pattern(), post(login::login))
        .route(
            &Endpoint::Register { app_id: "" }.pattern(),
            post(login::register),
        )
        .route(&Endpoint::Profile.pattern(), get(session::profile))
        .route(
            &Endpoint::RefreshSession.pattern(),
            post(session::refresh_session).delete(session::log_out),
        )
        .route(
            &Endpoint::DeleteUser.pattern(),
            delete(session::delete_user),
        )
        .route(
            &Endpoint::CreateApiKey.pattern(),
            post(keys::create_key).get(keys::list_keys),
        )
        .route(
            &Endpoint::FetchApiKey { id: "" }.pattern(),
            get(keys::fetch_key).delete(keys::delete_key),
        )
        .route(
            &Endpoint::EnableApiKey { id: "" }.pattern(),
            put(keys::enable_key),
        )
        .route(
            &Endpoint::DisableApiKey { id: "" }.pattern(),
            put(keys::disable_key),
        )
}
