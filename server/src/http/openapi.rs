//! The OpenAPI 3.1 document of the server (`GET /openapi.json`), generated from the handlers'
//! `#[utoipa::path]` attributes and the protocol's wire types. Every operation also documents the
//! error answers any route can give (the App Services error body), with `Retry-After` on 429/503.

use appkeys_protocol::wire;
use utoipa::openapi::{
    header::HeaderBuilder,
    response::ResponseBuilder,
    security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Content, Ref, RefOr,
};
use utoipa::{Modify, OpenApi};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "appkeys-server",
        description = "App Services client API (user API keys) served by appkeys-server. Access-token \
                       routes take `Authorization: Bearer <access token>`, refresh-token routes \
                       `Bearer <refresh token>`; both come from a login.",
    ),
    paths(
        super::routes::health::healthz,
        super::routes::health::readyz,
        super::routes::well_known::jwks,
        super::routes::well_known::openid_configuration,
        super::routes::well_known::oauth_metadata,
        super::routes::introspect::introspect,
        super::routes::admin::get_custom_data,
        super::routes::admin::put_custom_data,
        super::routes::admin::delete_custom_data,
        super::routes::location::location,
        super::routes::login::login,
        super::routes::register::register,
        super::routes::userpass::confirm,
        super::routes::userpass::resend_confirmation,
        super::routes::userpass::confirm_call,
        super::routes::userpass::reset,
        super::routes::userpass::send_reset,
        super::routes::userpass::reset_call,
        super::routes::session::profile,
        super::routes::session::refresh_session,
        super::routes::session::log_out,
        super::routes::session::delete_user,
        super::routes::identities::remove_identity,
        super::routes::keys::create_key,
        super::routes::keys::list_keys,
        super::routes::key_usage::fetch_key,
        super::routes::keys::delete_key,
        super::routes::keys::enable_key,
        super::routes::keys::disable_key,
        super::routes::key_usage::roll_key,
        super::routes::key_usage::set_allowed_ips,
        super::routes::key_usage::key_usage,
        metrics_doc,
        openapi_doc,
    ),
    components(schemas(wire::ErrorBody, wire::Identity)),
    modifiers(&Common),
    tags(
        (name = "auth", description = "Logging in, registering, account confirmation and password reset"),
        (name = "session", description = "The signed-in user's session"),
        (name = "api_keys", description = "User API keys (email/password sessions only)"),
        (name = "app", description = "App location"),
        (name = "tokens", description = "For the app's own services: the keys that verify access tokens, discovery, introspection"),
        (name = "admin", description = "For the app's own backend: custom user data"),
        (name = "health", description = "Probes"),
        (name = "operations", description = "Metrics and this document"),
    )
)]
pub struct ApiDoc;

/// Security schemes and the shared error responses.
struct Common;

/// Error answers every route may give: status and what it means.
const ERRORS: [(&str, &str, bool); 12] = [
    ("400", "Bad input (`BadRequest`, `MissingParameter`, `InvalidParameter`, `UserpassTokenInvalid`), or not offered (`EmailNotConfigured`, `CustomFunctionNotSupported`)", false),
    ("401", "Bad or missing token (`InvalidSession`), wrong credentials (`InvalidPassword`, `AuthError`, `APIKeyExpired`), or an unconfirmed account (`UserNotConfirmed`)", false),
    ("403", "Not allowed (`APIKeyManagementForbidden`, `APIKeyLimitReached`, `UserDisabled`)", false),
    ("404", "Not found (`AppNotFound`, `APIKeyNotFound`, `AuthProviderNotFound`, `NotFound`)", false),
    ("405", "Method not allowed (`MethodNotAllowed`)", false),
    ("408", "The request body did not arrive in time (`RequestTimeout`)", false),
    ("409", "Already exists (`AccountNameInUse`, `APIKeyAlreadyExists`)", false),
    ("413", "Body over 64 KiB (`PayloadTooLarge`)", false),
    ("415", "A body not declared `application/json` (`UnsupportedMediaType`)", false),
    ("429", "Rate limited (`TooManyRequests`); see `Retry-After`", true),
    ("500", "Server failure (`InternalServerError`)", false),
    ("503", "Overloaded or database unavailable (`ServiceUnavailable`); see `Retry-After`", true),
];

impl Modify for Common {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, what) in [
            (
                "accessToken",
                "An access token from a login or `POST auth/session`",
            ),
            ("refreshToken", "The refresh token of a login"),
        ] {
            let scheme = HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(what))
                .build();
            components.add_security_scheme(name, SecurityScheme::Http(scheme));
        }
        let basic = HttpBuilder::new()
            .scheme(HttpAuthScheme::Basic)
            .description(Some(
                "A caller of --introspection-credentials-file (client_id:secret)",
            ))
            .build();
        components.add_security_scheme("introspectionClient", SecurityScheme::Http(basic));
        let admin = HttpBuilder::new()
            .scheme(HttpAuthScheme::Basic)
            .description(Some(
                "A caller of --admin-credentials-file (client_id:secret)",
            ))
            .build();
        components.add_security_scheme("adminClient", SecurityScheme::Http(admin));
        let error = |description: &str, retry: bool| {
            let mut b = ResponseBuilder::new().description(description).content(
                "application/json",
                Content::new(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody")))),
            );
            if retry {
                let header = HeaderBuilder::new()
                    .schema(
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::Type::Integer),
                    )
                    .description(Some("Seconds to wait before retrying"))
                    .build();
                b = b.header("Retry-After", header);
            }
            b.build()
        };
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                for (status, description, retry) in ERRORS {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::T(error(description, retry)));
                }
            }
        }
    }
}

/// The document as JSON.
pub fn json() -> String {
    ApiDoc::openapi()
        .to_json()
        .unwrap_or_else(|_| "{}".to_owned())
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json", body = Object)))]
#[allow(dead_code)]
pub(crate) fn openapi_doc() {}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format (unless --no-metrics or --metrics-listen)",
        content_type = "text/plain", body = String)))]
#[allow(dead_code)]
pub(crate) fn metrics_doc() {}
