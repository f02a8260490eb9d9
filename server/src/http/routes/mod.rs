//! The routes, one module per protocol area; [`router`] puts them together.

pub(crate) mod admin;
mod common;
pub(crate) mod health;
pub(crate) mod identities;
pub(crate) mod introspect;
pub(crate) mod key_usage;
pub(crate) mod keys;
pub(crate) mod location;
pub(crate) mod login;
pub(crate) mod oauth;
pub(crate) mod register;
pub(crate) mod session;
mod throttle;
pub(crate) mod userpass;
pub(crate) mod well_known;

use appkeys_protocol::{
    Endpoint, UserpassAction, HEALTHZ_PATH, INTROSPECTION_PATH, JWKS_PATH, OAUTH_METADATA_PATH,
    OPENID_CONFIGURATION_PATH, READYZ_PATH,
};
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
    let userpass = |action| Endpoint::Userpass { app_id: "", action }.pattern();
    Router::new()
        .route(HEALTHZ_PATH, get(health::healthz))
        .route(READYZ_PATH, get(health::readyz))
        .route(JWKS_PATH, get(well_known::jwks))
        .route(
            OPENID_CONFIGURATION_PATH,
            get(well_known::openid_configuration),
        )
        .route(OAUTH_METADATA_PATH, get(well_known::oauth_metadata))
        .route(INTROSPECTION_PATH, post(introspect::introspect))
        .route(
            admin::CUSTOM_DATA_PATH,
            get(admin::get_custom_data)
                .put(admin::put_custom_data)
                .delete(admin::delete_custom_data),
        )
        .route(
            &Endpoint::Location { app_id: "" }.pattern(),
            get(location::location),
        )
        .route(&login.pattern(), post(login::login).get(oauth::start))
        .route(
            &format!("{}/auth/callback", appkeys_protocol::API_PREFIX),
            get(oauth::callback).post(oauth::posted_callback),
        )
        .route(
            &Endpoint::Register { app_id: "" }.pattern(),
            post(register::register),
        )
        .route(&userpass(UserpassAction::Confirm), post(userpass::confirm))
        .route(
            &userpass(UserpassAction::ResendConfirmation),
            post(userpass::resend_confirmation),
        )
        .route(
            &userpass(UserpassAction::RetryCustomConfirmation),
            post(userpass::confirm_call),
        )
        .route(&userpass(UserpassAction::Reset), post(userpass::reset))
        .route(
            &userpass(UserpassAction::SendReset),
            post(userpass::send_reset),
        )
        .route(
            &userpass(UserpassAction::CallResetFunction),
            post(userpass::reset_call),
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
            &Endpoint::RemoveIdentity.pattern(),
            post(identities::remove_identity),
        )
        .route(
            &Endpoint::CreateApiKey.pattern(),
            post(keys::create_key).get(keys::list_keys),
        )
        .route(
            &Endpoint::FetchApiKey { id: "" }.pattern(),
            get(key_usage::fetch_key).delete(keys::delete_key),
        )
        .route(
            &Endpoint::EnableApiKey { id: "" }.pattern(),
            put(keys::enable_key),
        )
        .route(
            &Endpoint::DisableApiKey { id: "" }.pattern(),
            put(keys::disable_key),
        )
        .route(
            &Endpoint::RollApiKey { id: "" }.pattern(),
            post(key_usage::roll_key),
        )
        .route(
            &Endpoint::SetApiKeyAllowedIps { id: "" }.pattern(),
            put(key_usage::set_allowed_ips),
        )
        .route(
            &Endpoint::ApiKeyUsage { id: "" }.pattern(),
            get(key_usage::key_usage),
        )
}
