//! The Atlas App Services client wire protocol, as far as appkeys speaks it.
//!
//! One definition shared by the wasm SDK (`appkeys`) and the server (`appkeys-server`):
//! every endpoint's method, path and token kind ([`Endpoint`]), the error codes ([`ErrorCode`]),
//! the limits on API keys, and (behind the `serde` feature) the JSON wire types.
//!
//! See `docs/PROTOCOL.md` for the choices made where the reference left one open.
#![warn(missing_docs)]
use core::fmt;

/// Prefix of every client API route.
pub const API_PREFIX: &str = "/api/client/v2.0";

/// Path of the liveness check (not part of the App Services protocol).
pub const HEALTHZ_PATH: &str = "/healthz";

/// Path of the readiness check: the database accepts a write (not part of the App Services protocol).
pub const READYZ_PATH: &str = "/readyz";

/// The published access-token verification keys (RFC 7517 JWKS).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// OpenID Connect discovery metadata (issuer, `jwks_uri`, algorithms).
pub const OPENID_CONFIGURATION_PATH: &str = "/.well-known/openid-configuration";
/// OAuth 2.0 authorization server metadata (RFC 8414), the same document.
pub const OAUTH_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// Token introspection (RFC 7662) for the app's own services.
pub const INTROSPECTION_PATH: &str = "/oauth/introspect";

/// Most user API keys one user may hold at once.
pub const MAX_API_KEYS_PER_USER: usize = 20;

/// Longest accepted API key name, in bytes (names are ASCII).
pub const MAX_API_KEY_NAME_LEN: usize = 64;

/// The "no device" device id.
pub const ZERO_DEVICE_ID: &str = "000000000000000000000000";

/// Authentication providers understood by appkeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Email and password (`local-userpass`).
    LocalUserpass,
    /// Anonymous users (`anon-user`).
    AnonUser,
    /// User API keys (`api-key`).
    ApiKey,
    /// Tokens of the app's own identity provider (`custom-token`, realm's `Credentials.jwt`).
    CustomToken,
    /// Sign in with Google (`oauth2-google`: an ID token or an authorization code).
    Google,
    /// Sign in with Apple (`oauth2-apple`: an ID token).
    Apple,
    /// Facebook Login (`oauth2-facebook`: a user access token).
    Facebook,
    /// The operator's authentication function (`custom-function`: any payload).
    Function,
}

impl Provider {
    /// All providers, in a stable order.
    pub const ALL: [Provider; 8] = [
        Provider::LocalUserpass,
        Provider::AnonUser,
        Provider::ApiKey,
        Provider::CustomToken,
        Provider::Google,
        Provider::Apple,
        Provider::Facebook,
        Provider::Function,
    ];

    /// The provider name used in URLs and profiles.
    pub const fn as_str(self) -> &'static str {
        match self {
            Provider::LocalUserpass => "local-userpass",
            Provider::AnonUser => "anon-user",
            Provider::ApiKey => "api-key",
            Provider::CustomToken => "custom-token",
            Provider::Google => "oauth2-google",
            Provider::Apple => "oauth2-apple",
            Provider::Facebook => "oauth2-facebook",
            Provider::Function => "custom-function",
        }
    }

    /// Parses a provider name.
    pub fn parse(name: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// HTTP methods used by the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
}

impl Method {
    /// Upper-case method name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// Which of the user's tokens a request carries as `Authorization: Bearer …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// No `Authorization` header (location, login, register).
    None,
    /// The short-lived access token.
    Access,
    /// The long-lived refresh token (session and API-key routes).
    Refresh,
}

impl TokenKind {
    /// The `typ` claim carried by JWTs of this kind (`None` has no token).
    pub const fn claim(self) -> Option<&'static str> {
        match self {
            TokenKind::None => None,
            TokenKind::Access => Some("access"),
            TokenKind::Refresh => Some("refresh"),
        }
    }
}

/// The confirmation and password-reset routes of the email/password provider
/// (`local-userpass/{action}`), each with realm-web's `emailPasswordAuth` method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserpassAction {
    /// `confirm` `{token, tokenId}`: `confirmUser`.
    Confirm,
    /// `confirm/send` `{email}`: `resendConfirmationEmail`.
    ResendConfirmation,
    /// `confirm/call` `{email}`: `retryCustomConfirmation` (custom confirmation functions; appkeys
    /// answers `CustomFunctionNotSupported`).
    RetryCustomConfirmation,
    /// `reset` `{token, tokenId, password}`: `resetPassword`.
    Reset,
    /// `reset/send` `{email}`: `sendResetPasswordEmail`.
    SendReset,
    /// `reset/call` `{email, password, arguments}`: `callResetPasswordFunction` (appkeys answers
    /// `CustomFunctionNotSupported`).
    CallResetFunction,
}

impl UserpassAction {
    /// Every action, in a stable order.
    pub const ALL: [UserpassAction; 6] = [
        UserpassAction::Confirm,
        UserpassAction::ResendConfirmation,
        UserpassAction::RetryCustomConfirmation,
        UserpassAction::Reset,
        UserpassAction::SendReset,
        UserpassAction::CallResetFunction,
    ];

    /// The path below `local-userpass/`.
    pub const fn as_str(self) -> &'static str {
        match self {
            UserpassAction::Confirm => "confirm",
            UserpassAction::ResendConfirmation => "confirm/send",
            UserpassAction::RetryCustomConfirmation => "confirm/call",
            UserpassAction::Reset => "reset",
            UserpassAction::SendReset => "reset/send",
            UserpassAction::CallResetFunction => "reset/call",
        }
    }
}

/// Every endpoint of the client API that appkeys implements.
///
/// `path()` yields the path below the server origin. The server builds its route patterns from the
/// same values by passing `{name}` placeholders (see [`Endpoint::pattern`]), so both sides share one
/// definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `GET app/{app_id}/location`
    Location {
        /// App id.
        app_id: &'a str,
    },
    /// `POST app/{app_id}/auth/providers/{provider}/login`
    Login {
        /// App id.
        app_id: &'a str,
        /// Provider name (see [`Provider`]).
        provider: &'a str,
    },
    /// `POST app/{app_id}/auth/providers/{provider}/login?link=true` with the linking user's access
    /// token (`user.linkCredentials`)
    LinkCredentials {
        /// App id.
        app_id: &'a str,
        /// Provider name (see [`Provider`]).
        provider: &'a str,
    },
    /// `POST app/{app_id}/auth/providers/local-userpass/register`
    Register {
        /// App id.
        app_id: &'a str,
    },
    /// `POST app/{app_id}/auth/providers/local-userpass/{action}`: account confirmation and password
    /// reset (see [`UserpassAction`]).
    Userpass {
        /// App id.
        app_id: &'a str,
        /// Which one.
        action: UserpassAction,
    },
    /// `GET auth/profile`
    Profile,
    /// `POST auth/session` (refresh the access token)
    RefreshSession,
    /// `DELETE auth/session` (log out)
    LogOut,
    /// `DELETE auth/delete` (delete the current user)
    DeleteUser,
    /// `POST auth/identities/remove` (the owner takes an identity away from their own account;
    /// appkeys: App Services had no such call)
    RemoveIdentity,
    /// `POST auth/api_keys`
    CreateApiKey,
    /// `GET auth/api_keys`
    ListApiKeys,
    /// `GET auth/api_keys/{id}`
    FetchApiKey {
        /// Key id (24 hex).
        id: &'a str,
    },
    /// `DELETE auth/api_keys/{id}`
    DeleteApiKey {
        /// Key id (24 hex).
        id: &'a str,
    },
    /// `PUT auth/api_keys/{id}/enable`
    EnableApiKey {
        /// Key id (24 hex).
        id: &'a str,
    },
    /// `PUT auth/api_keys/{id}/disable`
    DisableApiKey {
        /// Key id (24 hex).
        id: &'a str,
    },
    /// `POST auth/api_keys/{id}/roll` (a new secret for the key; appkeys)
    RollApiKey {
        /// Key id (24 hex).
        id: &'a str,
    },
    /// `PUT auth/api_keys/{id}/allowed_ips` (the key's client-address allow-list; appkeys)
    SetApiKeyAllowedIps {
        /// Key id (24 hex).
        id: &'a str,
    },
    /// `GET auth/api_keys/{id}/usage` (logins per day; appkeys)
    ApiKeyUsage {
        /// Key id (24 hex).
        id: &'a str,
    },
}

impl Endpoint<'_> {
    /// HTTP method.
    pub const fn method(&self) -> Method {
        match self {
            Endpoint::Location { .. }
            | Endpoint::Profile
            | Endpoint::ListApiKeys
            | Endpoint::FetchApiKey { .. }
            | Endpoint::ApiKeyUsage { .. } => Method::Get,
            Endpoint::Login { .. }
            | Endpoint::LinkCredentials { .. }
            | Endpoint::Register { .. }
            | Endpoint::Userpass { .. }
            | Endpoint::RefreshSession
            | Endpoint::RemoveIdentity
            | Endpoint::CreateApiKey
            | Endpoint::RollApiKey { .. } => Method::Post,
            Endpoint::EnableApiKey { .. }
            | Endpoint::DisableApiKey { .. }
            | Endpoint::SetApiKeyAllowedIps { .. } => Method::Put,
            Endpoint::LogOut | Endpoint::DeleteUser | Endpoint::DeleteApiKey { .. } => {
                Method::Delete
            }
        }
    }

    /// The token the request carries.
    pub const fn token(&self) -> TokenKind {
        match self {
            Endpoint::Location { .. }
            | Endpoint::Login { .. }
            | Endpoint::Register { .. }
            | Endpoint::Userpass { .. } => TokenKind::None,
            Endpoint::Profile
            | Endpoint::DeleteUser
            | Endpoint::RemoveIdentity
            | Endpoint::LinkCredentials { .. } => TokenKind::Access,
            Endpoint::RefreshSession
            | Endpoint::LogOut
            | Endpoint::CreateApiKey
            | Endpoint::ListApiKeys
            | Endpoint::FetchApiKey { .. }
            | Endpoint::DeleteApiKey { .. }
            | Endpoint::EnableApiKey { .. }
            | Endpoint::DisableApiKey { .. }
            | Endpoint::RollApiKey { .. }
            | Endpoint::SetApiKeyAllowedIps { .. }
            | Endpoint::ApiKeyUsage { .. } => TokenKind::Refresh,
        }
    }

    /// Path below the origin, starting with [`API_PREFIX`]. Arguments are inserted verbatim.
    // Built with `concat` rather than `format!`: the wasm SDK uses this too, and skipping the
    // formatting machinery keeps its binary smaller.
    pub fn path(&self) -> String {
        let parts: [&str; 4] = match self {
            Endpoint::Location { app_id } => ["/app/", app_id, "/location", ""],
            Endpoint::Login { app_id, provider }
            | Endpoint::LinkCredentials { app_id, provider } => {
                ["/app/", app_id, "/auth/providers/", provider]
            }
            Endpoint::Register { app_id } => [
                "/app/",
                app_id,
                "/auth/providers/local-userpass/register",
                "",
            ],
            Endpoint::Userpass { app_id, action } => [
                "/app/",
                app_id,
                "/auth/providers/local-userpass/",
                action.as_str(),
            ],
            Endpoint::Profile => ["/auth/profile", "", "", ""],
            Endpoint::RefreshSession | Endpoint::LogOut => ["/auth/session", "", "", ""],
            Endpoint::DeleteUser => ["/auth/delete", "", "", ""],
            Endpoint::RemoveIdentity => ["/auth/identities/remove", "", "", ""],
            Endpoint::CreateApiKey | Endpoint::ListApiKeys => ["/auth/api_keys", "", "", ""],
            Endpoint::FetchApiKey { id } | Endpoint::DeleteApiKey { id } => {
                ["/auth/api_keys/", id, "", ""]
            }
            Endpoint::EnableApiKey { id } => ["/auth/api_keys/", id, "/enable", ""],
            Endpoint::DisableApiKey { id } => ["/auth/api_keys/", id, "/disable", ""],
            Endpoint::RollApiKey { id } => ["/auth/api_keys/", id, "/roll", ""],
            Endpoint::SetApiKeyAllowedIps { id } => ["/auth/api_keys/", id, "/allowed_ips", ""],
            Endpoint::ApiKeyUsage { id } => ["/auth/api_keys/", id, "/usage", ""],
        };
        let login = match self {
            Endpoint::Login { .. } => "/login",
            Endpoint::LinkCredentials { .. } => "/login?link=true",
            _ => "",
        };
        let mut path = String::new();
        for part in [API_PREFIX, parts[0], parts[1], parts[2], parts[3], login] {
            path.push_str(part);
        }
        path
    }

    /// Full URL for this endpoint below `origin` (a trailing `/` on the origin is ignored).
    pub fn url(&self, origin: &str) -> String {
        let mut url = String::from(trim_trailing_slashes(origin));
        url.push_str(&self.path());
        url
    }
}

/// `s` without trailing `/` characters. (Byte-wise: `str::trim_end_matches` brings `char` pattern
/// code into the wasm SDK.)
pub fn trim_trailing_slashes(s: &str) -> &str {
    let mut end = s.len();
    while end > 0 && s.as_bytes()[end - 1] == b'/' {
        end -= 1;
    }
    s.get(..end).unwrap_or(s)
}

impl Endpoint<'static> {
    /// The route pattern (axum 0.8 syntax, `{name}` placeholders) for this kind of endpoint.
    pub fn pattern(&self) -> String {
        let generic = match self {
            Endpoint::Location { .. } => Endpoint::Location { app_id: "{app_id}" },
            Endpoint::Login { .. } | Endpoint::LinkCredentials { .. } => Endpoint::Login {
                app_id: "{app_id}",
                provider: "{provider}",
            },
            Endpoint::Register { .. } => Endpoint::Register { app_id: "{app_id}" },
            Endpoint::Userpass { action, .. } => Endpoint::Userpass {
                app_id: "{app_id}",
                action: *action,
            },
            Endpoint::FetchApiKey { .. } => Endpoint::FetchApiKey { id: "{id}" },
            Endpoint::DeleteApiKey { .. } => Endpoint::DeleteApiKey { id: "{id}" },
            Endpoint::EnableApiKey { .. } => Endpoint::EnableApiKey { id: "{id}" },
            Endpoint::DisableApiKey { .. } => Endpoint::DisableApiKey { id: "{id}" },
            Endpoint::RollApiKey { .. } => Endpoint::RollApiKey { id: "{id}" },
            Endpoint::SetApiKeyAllowedIps { .. } => Endpoint::SetApiKeyAllowedIps { id: "{id}" },
            Endpoint::ApiKeyUsage { .. } => Endpoint::ApiKeyUsage { id: "{id}" },
            other => *other,
        };
        generic.path()
    }
}

/// Stable `error_code` values sent in error bodies.
///
/// The first group are codes realm-core knows; the rest are appkeys' own (documented in
/// `docs/PROTOCOL.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 401: missing, malformed, expired or revoked token.
    InvalidSession,
    /// 400: a parameter has a bad value (e.g. an API key name).
    InvalidParameter,
    /// 400: a required parameter is missing.
    MissingParameter,
    /// 400: malformed JSON, wrong types, bad request shape.
    BadRequest,
    /// 401: wrong credentials (API key login).
    AuthError,
    /// 401: wrong email or password.
    InvalidPassword,
    /// 409: email already registered.
    AccountNameInUse,
    /// 404: unknown or foreign API key id.
    APIKeyNotFound,
    /// 409: the user already has a key of that name.
    APIKeyAlreadyExists,
    /// 404: unknown authentication provider.
    AuthProviderNotFound,
    /// 404: the user no longer exists.
    UserNotFound,
    /// 404: unknown app id (appkeys).
    AppNotFound,
    /// 403: the 21st key of a user (appkeys).
    APIKeyLimitReached,
    /// 403: anonymous users and API-key sessions may not manage API keys (appkeys).
    APIKeyManagementForbidden,
    /// 403: the user was disabled by an operator (appkeys).
    UserDisabled,
    /// 401: the API key has expired (appkeys).
    APIKeyExpired,
    /// 400: a confirmation or password-reset token is wrong, used or expired.
    UserpassTokenInvalid,
    /// 401: the email/password account is not confirmed yet (appkeys).
    UserNotConfirmed,
    /// 400: the server sends no email (no SMTP server or mail directory configured) (appkeys).
    EmailNotConfigured,
    /// 400: custom confirmation and reset functions (`confirm/call`, `reset/call`) are not
    /// supported (appkeys).
    CustomFunctionNotSupported,
    /// 404: no such route (appkeys).
    NotFound,
    /// 405: route exists, method does not (appkeys).
    MethodNotAllowed,
    /// 413: request body too large (appkeys).
    PayloadTooLarge,
    /// 415: body is not JSON (appkeys).
    UnsupportedMediaType,
    /// 408: the request was not received in time (appkeys).
    RequestTimeout,
    /// 429: too many attempts from this client (or on this account); see `Retry-After` (appkeys).
    TooManyRequests,
    /// 500: the server failed; never caused by client input (appkeys).
    InternalServerError,
    /// 503: overloaded (password hashing queue full) or the database is unavailable; see
    /// `Retry-After` (appkeys).
    ServiceUnavailable,
    /// 409: linking an identity that belongs to another user, or a second identity of a provider
    /// the user already has one of (appkeys).
    IdentityAlreadyLinked,
    /// 403: this session may not link credentials (API-key sessions) (appkeys).
    LinkForbidden,
    /// 401: the API key may not log in from this client address (its allow-list) (appkeys).
    APIKeyAddressNotAllowed,
}

impl ErrorCode {
    /// Every code, in a stable order.
    pub const ALL: [ErrorCode; 31] = [
        ErrorCode::InvalidSession,
        ErrorCode::InvalidParameter,
        ErrorCode::MissingParameter,
        ErrorCode::BadRequest,
        ErrorCode::AuthError,
        ErrorCode::InvalidPassword,
        ErrorCode::AccountNameInUse,
        ErrorCode::APIKeyNotFound,
        ErrorCode::APIKeyAlreadyExists,
        ErrorCode::AuthProviderNotFound,
        ErrorCode::UserNotFound,
        ErrorCode::AppNotFound,
        ErrorCode::APIKeyLimitReached,
        ErrorCode::APIKeyManagementForbidden,
        ErrorCode::UserDisabled,
        ErrorCode::APIKeyExpired,
        ErrorCode::UserpassTokenInvalid,
        ErrorCode::UserNotConfirmed,
        ErrorCode::EmailNotConfigured,
        ErrorCode::CustomFunctionNotSupported,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RequestTimeout,
        ErrorCode::TooManyRequests,
        ErrorCode::InternalServerError,
        ErrorCode::ServiceUnavailable,
        ErrorCode::IdentityAlreadyLinked,
        ErrorCode::LinkForbidden,
        ErrorCode::APIKeyAddressNotAllowed,
    ];

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidSession => "InvalidSession",
            ErrorCode::InvalidParameter => "InvalidParameter",
            ErrorCode::MissingParameter => "MissingParameter",
            ErrorCode::BadRequest => "BadRequest",
            ErrorCode::AuthError => "AuthError",
            ErrorCode::InvalidPassword => "InvalidPassword",
            ErrorCode::AccountNameInUse => "AccountNameInUse",
            ErrorCode::APIKeyNotFound => "APIKeyNotFound",
            ErrorCode::APIKeyAlreadyExists => "APIKeyAlreadyExists",
            ErrorCode::AuthProviderNotFound => "AuthProviderNotFound",
            ErrorCode::UserNotFound => "UserNotFound",
            ErrorCode::AppNotFound => "AppNotFound",
            ErrorCode::APIKeyLimitReached => "APIKeyLimitReached",
            ErrorCode::APIKeyManagementForbidden => "APIKeyManagementForbidden",
            ErrorCode::UserDisabled => "UserDisabled",
            ErrorCode::APIKeyExpired => "APIKeyExpired",
            ErrorCode::APIKeyAddressNotAllowed => "APIKeyAddressNotAllowed",
            ErrorCode::UserpassTokenInvalid => "UserpassTokenInvalid",
            ErrorCode::UserNotConfirmed => "UserNotConfirmed",
            ErrorCode::EmailNotConfigured => "EmailNotConfigured",
            ErrorCode::CustomFunctionNotSupported => "CustomFunctionNotSupported",
            ErrorCode::NotFound => "NotFound",
            ErrorCode::MethodNotAllowed => "MethodNotAllowed",
            ErrorCode::PayloadTooLarge => "PayloadTooLarge",
            ErrorCode::UnsupportedMediaType => "UnsupportedMediaType",
            ErrorCode::RequestTimeout => "RequestTimeout",
            ErrorCode::TooManyRequests => "TooManyRequests",
            ErrorCode::InternalServerError => "InternalServerError",
            ErrorCode::ServiceUnavailable => "ServiceUnavailable",
            ErrorCode::IdentityAlreadyLinked => "IdentityAlreadyLinked",
            ErrorCode::LinkForbidden => "LinkForbidden",
        }
    }

    /// The HTTP status that goes with the code.
    pub const fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidParameter
            | ErrorCode::MissingParameter
            | ErrorCode::BadRequest
            | ErrorCode::UserpassTokenInvalid
            | ErrorCode::EmailNotConfigured
            | ErrorCode::CustomFunctionNotSupported => 400,
            ErrorCode::InvalidSession
            | ErrorCode::AuthError
            | ErrorCode::InvalidPassword
            | ErrorCode::APIKeyExpired
            | ErrorCode::APIKeyAddressNotAllowed
            | ErrorCode::UserNotConfirmed => 401,
            ErrorCode::APIKeyLimitReached
            | ErrorCode::APIKeyManagementForbidden
            | ErrorCode::UserDisabled
            | ErrorCode::LinkForbidden => 403,
            ErrorCode::APIKeyNotFound
            | ErrorCode::AuthProviderNotFound
            | ErrorCode::UserNotFound
            | ErrorCode::AppNotFound
            | ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::AccountNameInUse
            | ErrorCode::APIKeyAlreadyExists
            | ErrorCode::IdentityAlreadyLinked => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::InternalServerError => 500,
            ErrorCode::ServiceUnavailable => 503,
        }
    }

    /// Parses a wire spelling.
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// True for a 24-character lower- or upper-case hex string (the ObjectId layout used for ids).
pub fn is_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Why an API key name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// Empty name.
    Empty,
    /// Longer than [`MAX_API_KEY_NAME_LEN`].
    TooLong,
    /// A character outside ASCII letters, digits, `_` and `-`.
    BadCharacter,
}

impl NameError {
    /// The error code the server answers with.
    pub const fn code(self) -> ErrorCode {
        match self {
            NameError::Empty => ErrorCode::MissingParameter,
            NameError::TooLong | NameError::BadCharacter => ErrorCode::InvalidParameter,
        }
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("'name' is a required string."),
            NameError::TooLong => write!(
                f,
                "API key name is too long: at most {MAX_API_KEY_NAME_LEN} characters."
            ),
            NameError::BadCharacter => f.write_str(
                "API key name can only contain ASCII letters, numbers, underscores, and hyphens.",
            ),
        }
    }
}

/// Checks an API key name: non-empty, at most [`MAX_API_KEY_NAME_LEN`] bytes, `[A-Za-z0-9_-]`.
pub fn validate_api_key_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(NameError::BadCharacter);
    }
    if name.len() > MAX_API_KEY_NAME_LEN {
        return Err(NameError::TooLong);
    }
    Ok(())
}

/// JSON wire types (requests and responses), as the server writes and reads them.
#[cfg(feature = "serde")]
pub mod wire {
    use serde::{Deserialize, Serialize};

    /// `GET app/{app_id}/location` response.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Location {
        /// `"LOCAL"` or `"GLOBAL"`.
        pub deployment_model: String,
        /// Region label.
        pub location: String,
        /// Public HTTP origin without trailing slash.
        pub hostname: String,
        /// WebSocket origin (unused by appkeys, required by realm-core).
        pub ws_hostname: String,
    }

    /// Login response.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct LoginResponse {
        /// Access token (JWT).
        pub access_token: String,
        /// Refresh token (JWT).
        pub refresh_token: String,
        /// User id (24 hex).
        pub user_id: String,
        /// Device id (24 hex).
        pub device_id: String,
        /// appkeys: a secret for this device, given at an email/password login that sent none. Sent
        /// back with later logins (`device_secret`), it proves a device that logged in to the account
        /// before, which a throttled account still lets in (realm-web ignores it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub device_secret: Option<String>,
    }

    /// `POST auth/session` response.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct SessionResponse {
        /// New access token (JWT).
        pub access_token: String,
    }

    /// `local-userpass` login body (unknown fields are ignored).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct UserpassLogin {
        /// The email.
        pub username: String,
        /// The password.
        pub password: String,
        /// appkeys: the secret an earlier login of this account gave this device.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub device_secret: Option<String>,
    }

    /// `api-key` login body.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct ApiKeyLogin {
        /// The secret key.
        pub key: String,
    }

    /// `custom-token` login body (`Credentials.jwt(token)`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct CustomTokenLogin {
        /// A JWT of the app's identity provider.
        pub token: String,
    }

    /// `auth/identities/remove` body: one of the profile's `identities`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct RemoveIdentity {
        /// Provider type (`local-userpass`, `custom-token`, …).
        pub provider_type: String,
        /// The identity's id.
        pub id: String,
    }

    /// `oauth2-google` login body: an ID token, or an authorization code to exchange.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct GoogleLogin {
        /// A Google ID token (a JWT).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub id_token: Option<String>,
        /// An authorization code (web or a mobile server auth code).
        #[serde(default, rename = "authCode", skip_serializing_if = "Option::is_none")]
        pub auth_code: Option<String>,
    }

    /// `oauth2-apple` login body.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct AppleLogin {
        /// A Sign in with Apple ID token (a JWT).
        pub id_token: String,
    }

    /// `oauth2-facebook` login body.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct FacebookLogin {
        /// A Facebook user access token.
        #[serde(rename = "accessToken")]
        pub access_token: String,
    }

    /// `local-userpass/register` body.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct RegisterRequest {
        /// The email.
        pub email: String,
        /// The password.
        pub password: String,
    }

    /// `local-userpass/confirm` body (`confirmUser`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct ConfirmRequest {
        /// The token of the confirmation link.
        pub token: String,
        /// The token id of the confirmation link.
        #[serde(rename = "tokenId")]
        pub token_id: String,
    }

    /// `local-userpass/confirm/send` and `reset/send` body.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct EmailRequest {
        /// The account's email.
        pub email: String,
    }

    /// `local-userpass/reset` body (`resetPassword`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct ResetPasswordRequest {
        /// The token of the reset link.
        pub token: String,
        /// The token id of the reset link.
        #[serde(rename = "tokenId")]
        pub token_id: String,
        /// The new password.
        pub password: String,
    }

    /// `POST auth/api_keys` body.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct CreateApiKeyRequest {
        /// Key name.
        pub name: String,
        /// When the key stops working, milliseconds since the Unix epoch (appkeys extra); absent:
        /// never (or the server's maximum lifetime).
        #[serde(rename = "expiresAt", default, skip_serializing_if = "Option::is_none")]
        pub expires_at: Option<i64>,
        /// What the key may do: scopes the server declares (appkeys extra); absent or empty: the key acts
        /// as its owner.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub scopes: Option<Vec<String>>,
        /// The client addresses and CIDR ranges the key may log in from (appkeys extra); empty: anywhere.
        #[serde(rename = "allowedIps", default, skip_serializing_if = "Vec::is_empty")]
        pub allowed_ips: Vec<String>,
    }

    /// `POST auth/api_keys/{id}/roll` body (appkeys).
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct RollApiKeyRequest {
        /// Seconds the old secret keeps logging in (0: it stops at once; at most 30 days).
        #[serde(
            rename = "expireOldAfter",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        pub expire_old_after: Option<u64>,
    }

    /// `PUT auth/api_keys/{id}/allowed_ips` body (appkeys).
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct AllowedIpsRequest {
        /// Addresses and CIDR ranges (IPv4, IPv6), at most 32; empty: anywhere.
        #[serde(rename = "allowedIps")]
        pub allowed_ips: Vec<String>,
    }

    /// Logins of one day (UTC).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct UsageDay {
        /// `YYYY-MM-DD`.
        pub date: String,
        /// Successful logins with the key that day.
        pub logins: i64,
    }

    /// A key's use: logins per day for the last 90 days (oldest first) and the last client address.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct KeyUsage {
        /// One entry per day, zeros included, oldest first.
        pub days: Vec<UsageDay>,
        /// The client address of the latest login recorded, if any.
        #[serde(rename = "lastClientAddress")]
        pub last_client_address: Option<String>,
    }

    /// An API key as returned by the API-key routes. `key` is present only in the create response.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct ApiKey {
        /// Key id (24 hex).
        #[serde(rename = "_id")]
        pub id: String,
        /// The secret, only in the create response.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub key: Option<String>,
        /// Name, unique per user.
        pub name: String,
        /// Whether the key is disabled.
        pub disabled: bool,
        /// Creation time, milliseconds since the Unix epoch (appkeys extra).
        #[serde(rename = "createdAt")]
        pub created_at: i64,
        /// Last successful login with the key, milliseconds since the Unix epoch (appkeys extra).
        #[serde(rename = "lastUsedAt")]
        pub last_used_at: Option<i64>,
        /// Non-secret prefix of the key, for telling keys apart (appkeys extra).
        pub start: String,
        /// When the key stops working, milliseconds since the Unix epoch, or `null` for never
        /// (appkeys extra).
        #[serde(rename = "expiresAt", default)]
        pub expires_at: Option<i64>,
        /// The key's scopes (appkeys extra); absent: it acts as its owner.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub scopes: Option<Vec<String>>,
        /// The client addresses and ranges it may log in from (appkeys extra); absent: anywhere.
        #[serde(rename = "allowedIps", default, skip_serializing_if = "Vec::is_empty")]
        pub allowed_ips: Vec<String>,
        /// Until when the secret before the last roll still logs in, milliseconds since the Unix epoch
        /// (appkeys extra; absent when none does).
        #[serde(
            rename = "previousKeyExpiresAt",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        pub previous_key_expires_at: Option<i64>,
        /// Its use (appkeys extra: in `GET auth/api_keys/{id}` only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub usage: Option<KeyUsage>,
    }

    /// One identity in a profile.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Identity {
        /// Identity id.
        pub id: String,
        /// Provider name.
        pub provider_type: String,
        /// Provider id.
        pub provider_id: String,
    }

    /// `GET auth/profile` response.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Profile {
        /// User id.
        pub user_id: String,
        /// App id.
        pub domain_id: String,
        /// Identities of the user.
        pub identities: Vec<Identity>,
        /// Profile data (`email` for email/password users).
        #[serde(default)]
        #[cfg_attr(feature = "openapi", schema(value_type = std::collections::HashMap<String, String>))]
        pub data: ProfileData,
        /// `"normal"`.
        #[serde(rename = "type")]
        pub user_type: String,
    }

    /// The data fields of a profile (App Services' metadata fields: `email`, `name`, `picture_url`, …, and
    /// appkeys-server's custom JWT metadata fields) in the order received, every value a string; on the
    /// wire a JSON object. A list rather than a map or a struct with a catch-all field: any field name
    /// may come, and this costs the wasm SDK the least code.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct ProfileData(pub Vec<(String, String)>);

    impl ProfileData {
        /// The value of `field`, if present.
        pub fn get(&self, field: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(name, _)| name == field)
                .map(|(_, value)| value.as_str())
        }
    }

    impl Serialize for ProfileData {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = serializer.serialize_map(Some(self.0.len()))?;
            for (name, value) in &self.0 {
                map.serialize_entry(name, value)?;
            }
            map.end()
        }
    }

    impl<'de> Deserialize<'de> for ProfileData {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Fields;
            impl<'de> serde::de::Visitor<'de> for Fields {
                type Value = ProfileData;
                fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                    f.write_str("an object of strings")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<ProfileData, A::Error> {
                    let mut fields = Vec::new();
                    while let Some(entry) = map.next_entry()? {
                        fields.push(entry);
                    }
                    Ok(ProfileData(fields))
                }
            }
            deserializer.deserialize_map(Fields)
        }
    }

    /// Error body.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct ErrorBody {
        /// Human-readable message.
        pub error: String,
        /// Stable code (see [`crate::ErrorCode`]).
        pub error_code: String,
        /// Optional link.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub link: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_the_reference_route_table() {
        let cases = [
            (
                Endpoint::Location { app_id: "a" },
                "GET",
                "/api/client/v2.0/app/a/location",
                TokenKind::None,
            ),
            (
                Endpoint::Login {
                    app_id: "a",
                    provider: "api-key",
                },
                "POST",
                "/api/client/v2.0/app/a/auth/providers/api-key/login",
                TokenKind::None,
            ),
            (
                Endpoint::LinkCredentials {
                    app_id: "a",
                    provider: "custom-token",
                },
                "POST",
                "/api/client/v2.0/app/a/auth/providers/custom-token/login?link=true",
                TokenKind::Access,
            ),
            (
                Endpoint::Register { app_id: "a" },
                "POST",
                "/api/client/v2.0/app/a/auth/providers/local-userpass/register",
                TokenKind::None,
            ),
            (
                Endpoint::Profile,
                "GET",
                "/api/client/v2.0/auth/profile",
                TokenKind::Access,
            ),
            (
                Endpoint::RefreshSession,
                "POST",
                "/api/client/v2.0/auth/session",
                TokenKind::Refresh,
            ),
            (
                Endpoint::LogOut,
                "DELETE",
                "/api/client/v2.0/auth/session",
                TokenKind::Refresh,
            ),
            (
                Endpoint::DeleteUser,
                "DELETE",
                "/api/client/v2.0/auth/delete",
                TokenKind::Access,
            ),
            (
                Endpoint::RemoveIdentity,
                "POST",
                "/api/client/v2.0/auth/identities/remove",
                TokenKind::Access,
            ),
            (
                Endpoint::CreateApiKey,
                "POST",
                "/api/client/v2.0/auth/api_keys",
                TokenKind::Refresh,
            ),
            (
                Endpoint::ListApiKeys,
                "GET",
                "/api/client/v2.0/auth/api_keys",
                TokenKind::Refresh,
            ),
            (
                Endpoint::FetchApiKey { id: "k" },
                "GET",
                "/api/client/v2.0/auth/api_keys/k",
                TokenKind::Refresh,
            ),
            (
                Endpoint::DeleteApiKey { id: "k" },
                "DELETE",
                "/api/client/v2.0/auth/api_keys/k",
                TokenKind::Refresh,
            ),
            (
                Endpoint::EnableApiKey { id: "k" },
                "PUT",
                "/api/client/v2.0/auth/api_keys/k/enable",
                TokenKind::Refresh,
            ),
            (
                Endpoint::DisableApiKey { id: "k" },
                "PUT",
                "/api/client/v2.0/auth/api_keys/k/disable",
                TokenKind::Refresh,
            ),
        ];
        for (endpoint, method, path, token) in cases {
            assert_eq!(endpoint.method().as_str(), method, "{endpoint:?}");
            assert_eq!(endpoint.path(), path, "{endpoint:?}");
            assert_eq!(endpoint.token(), token, "{endpoint:?}");
        }
        let userpass = [
            (UserpassAction::Confirm, "confirm"),
            (UserpassAction::ResendConfirmation, "confirm/send"),
            (UserpassAction::RetryCustomConfirmation, "confirm/call"),
            (UserpassAction::Reset, "reset"),
            (UserpassAction::SendReset, "reset/send"),
            (UserpassAction::CallResetFunction, "reset/call"),
        ];
        assert_eq!(userpass.len(), UserpassAction::ALL.len());
        for (action, tail) in userpass {
            let endpoint = Endpoint::Userpass {
                app_id: "a",
                action,
            };
            assert_eq!(endpoint.method(), Method::Post);
            assert_eq!(endpoint.token(), TokenKind::None);
            assert_eq!(
                endpoint.path(),
                format!("/api/client/v2.0/app/a/auth/providers/local-userpass/{tail}")
            );
            assert_eq!(
                endpoint.pattern(),
                format!("/api/client/v2.0/app/{{app_id}}/auth/providers/local-userpass/{tail}")
            );
        }
    }

    #[test]
    fn patterns_use_placeholders() {
        assert_eq!(
            Endpoint::EnableApiKey { id: "x" }.pattern(),
            "/api/client/v2.0/auth/api_keys/{id}/enable"
        );
        assert_eq!(
            Endpoint::Login {
                app_id: "x",
                provider: "y"
            }
            .pattern(),
            "/api/client/v2.0/app/{app_id}/auth/providers/{provider}/login"
        );
        assert_eq!(Endpoint::Profile.pattern(), "/api/client/v2.0/auth/profile");
    }

    #[test]
    fn url_joins_origin_without_double_slash() {
        assert_eq!(
            Endpoint::Profile.url("http://h:1/"),
            "http://h:1/api/client/v2.0/auth/profile"
        );
        assert_eq!(trim_trailing_slashes("http://h:1//"), "http://h:1");
        assert_eq!(trim_trailing_slashes("/"), "");
        assert_eq!(trim_trailing_slashes("h\u{e9}"), "h\u{e9}");
    }

    #[test]
    fn error_codes_round_trip_and_have_client_error_statuses() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            let status = code.status();
            assert!((400..600).contains(&status));
            if !matches!(
                code,
                ErrorCode::InternalServerError | ErrorCode::ServiceUnavailable
            ) {
                assert!(status < 500, "{code} must be a 4xx");
            }
        }
        assert_eq!(ErrorCode::parse("nope"), None);
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(validate_api_key_name("apiKeyName"), Ok(()));
        assert_eq!(validate_api_key_name("a_b-C9"), Ok(()));
        assert_eq!(validate_api_key_name(""), Err(NameError::Empty));
        assert_eq!(validate_api_key_name("a b"), Err(NameError::BadCharacter));
        assert_eq!(validate_api_key_name("a%b"), Err(NameError::BadCharacter));
        assert_eq!(validate_api_key_name("é"), Err(NameError::BadCharacter));
        let long = "a".repeat(MAX_API_KEY_NAME_LEN);
        assert_eq!(validate_api_key_name(&long), Ok(()));
        let longer = "a".repeat(MAX_API_KEY_NAME_LEN + 1);
        assert_eq!(validate_api_key_name(&longer), Err(NameError::TooLong));
    }

    #[test]
    fn object_ids() {
        assert!(is_object_id("5eb5931548d79bc784adf46e"));
        assert!(!is_object_id("5eb5931548d79bc784adf46"));
        assert!(!is_object_id("5eb5931548d79bc784adf46g"));
        assert!(!is_object_id("../../../etc/passwd00000"));
    }

    #[test]
    fn providers_parse() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
        }
        // Issue 30 made `oauth2-google` a provider; App Services never had GitHub.
        assert_eq!(Provider::parse("oauth2-google"), Some(Provider::Google));
        assert_eq!(Provider::parse("oauth2-github"), None);
    }
}
