//! `appkeys-server`: a self-hostable, App Services–compatible auth server with user API keys.
//!
//! [`app`] builds the axum router from an [`AppState`]; `main.rs` only parses the command line,
//! opens the [`Store`] and serves. See `docs/PROTOCOL.md` for the wire contract.

pub mod apikey;
pub mod error;
pub mod store;
pub mod token;

use std::{collections::HashSet, sync::Arc, time::Duration};

use appkeys_protocol::{
    is_object_id, validate_api_key_name, wire, Endpoint, ErrorCode, Provider, TokenKind,
    HEALTHZ_PATH, MAX_API_KEYS_PER_USER, ZERO_DEVICE_ID,
};
use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use axum::{
    body::Bytes,
    extract::{FromRequest, Path, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use serde_json::{Map, Value};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer},
};

pub use error::AppError;
pub use store::{Backend, Store, StoreError};
use token::{Claims, Signer, TokenError};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Shortest accepted password (characters).
pub const MIN_PASSWORD_LEN: usize = 6;
/// Longest accepted password (characters).
pub const MAX_PASSWORD_LEN: usize = 128;

/// Server settings that do not come from the database.
#[derive(Debug, Clone)]
pub struct Config {
    /// App ids served.
    pub apps: Vec<String>,
    /// Access token lifetime in seconds.
    pub access_token_ttl: u64,
    /// Public origin (returned as `hostname` by location); a trailing `/` is dropped.
    pub public_url: String,
    /// Allowed CORS origins; empty means any origin.
    pub cors_origins: Vec<String>,
    /// Token signing secret; `None` = generated once and kept (file next to a SQLite database,
    /// `settings` row in PostgreSQL).
    pub jwt_secret: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            apps: vec!["appkeys-demo".to_owned()],
            access_token_ttl: 1800,
            public_url: "http://127.0.0.1:9090".to_owned(),
            cors_origins: Vec::new(),
            jwt_secret: None,
        }
    }
}

struct Inner {
    store: Store,
    signer: Signer,
    apps: HashSet<String>,
    access_ttl: i64,
    public_url: String,
    cors_origins: Vec<String>,
    dummy_hash: String,
}

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Reads the SQLite-side secret file `jwt-secret` next to the database, creating it (mode 0600).
/// Creation is atomic (write a private temp file, then hard-link it into place), so instances
/// starting at the same time on one database end up with the same secret.
fn secret_file(db_path: &std::path::Path) -> Result<String, std::io::Error> {
    use std::io::Write;
    let dir = db_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let path = dir.join("jwt-secret");
    if !path.exists() {
        let tmp = dir.join(format!(".jwt-secret.{}", store::new_id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(random_secret().as_bytes())?;
        file.sync_all()?;
        drop(file);
        let linked = std::fs::hard_link(&tmp, &path);
        std::fs::remove_file(&tmp)?;
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    let secret = std::fs::read_to_string(&path)?.trim().to_owned();
    if secret.len() < 32 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} holds no usable secret", path.display()),
        ));
    }
    Ok(secret)
}

fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19456, 2, 1, None).expect("valid argon2 params"),
    )
}

fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(AppError::internal)
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

impl AppState {
    /// Builds the state: resolves the signing secret (configured, or the shared stored one).
    pub async fn new(store: Store, config: &Config) -> Result<AppState, StoreError> {
        let secret = match &config.jwt_secret {
            Some(s) if !s.is_empty() => s.clone(),
            _ => match store.backend() {
                Backend::Sqlite => {
                    let path = store
                        .sqlite_path()
                        .expect("SQLite store has a path")
                        .to_owned();
                    tokio::task::spawn_blocking(move || secret_file(&path))
                        .await
                        .map_err(|e| StoreError::Io(std::io::Error::other(e)))??
                }
                Backend::Postgres => store.shared_secret(&random_secret()).await?,
            },
        };
        let dummy_hash = tokio::task::spawn_blocking(|| hash_password("appkeys-dummy-password"))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
            .map_err(|e| StoreError::Io(std::io::Error::other(e.message.into_owned())))?;
        Ok(AppState {
            inner: Arc::new(Inner {
                store,
                signer: Signer::new(secret.as_bytes()),
                apps: config.apps.iter().cloned().collect(),
                access_ttl: config.access_token_ttl.min(i64::MAX as u64 / 2) as i64,
                public_url: config.public_url.trim_end_matches('/').to_owned(),
                cors_origins: config.cors_origins.clone(),
                dummy_hash,
            }),
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
}

// ---------------------------------------------------------------------------------------------
// Router

/// The HTTP application: every route of the protocol plus `/healthz`, CORS, tracing, body limit and
/// JSON error bodies for everything (including 404/405/413 produced by the router and layers).
pub fn app(state: AppState) -> Router {
    let cors = cors_layer(&state.inner.cors_origins);
    Router::new()
        .route(HEALTHZ_PATH, get(healthz))
        .route(&Endpoint::Location { app_id: "" }.pattern(), get(location))
        .route(
            &Endpoint::Login {
                app_id: "",
                provider: "",
            }
            .pattern(),
            post(login),
        )
        .route(&Endpoint::Register { app_id: "" }.pattern(), post(register))
        .route(&Endpoint::Profile.pattern(), get(profile))
        .route(
            &Endpoint::RefreshSession.pattern(),
            post(refresh_session).delete(log_out),
        )
        .route(
            &Endpoint::DeleteUser.pattern(),
            axum::routing::delete(delete_user),
        )
        .route(
            &Endpoint::CreateApiKey.pattern(),
            post(create_key).get(list_keys),
        )
        .route(
            &Endpoint::FetchApiKey { id: "" }.pattern(),
            get(fetch_key).delete(delete_key),
        )
        .route(
            &Endpoint::EnableApiKey { id: "" }.pattern(),
            put(enable_key),
        )
        .route(
            &Endpoint::DisableApiKey { id: "" }.pattern(),
            put(disable_key),
        )
        .fallback(not_found)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(json_errors))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(cors)
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let allow_origin = if origins.is_empty() || origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .max_age(Duration::from_secs(600))
}

/// Turns any error response that is not already a JSON error body (router 404/405, body limit
/// 413, extractor rejections) into one.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/json");
    if is_json {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut fixed = AppError::for_status(status).into_response();
    if let Some(allow) = allow {
        fixed.headers_mut().insert(header::ALLOW, allow);
    }
    fixed
}

async fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound, "route not found")
}

// ---------------------------------------------------------------------------------------------
// Request helpers

/// The request body as a JSON object, whatever the content type; an empty body is `{}`.
struct JsonObject(Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = AppError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = match axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await {
            Ok(b) => b,
            Err(e) => return Err(body_error(e)),
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
fn required_str<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, AppError> {
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

fn missing(field: &str) -> AppError {
    AppError::new(
        ErrorCode::MissingParameter,
        format!("'{field}' is a required string."),
    )
}

fn bearer(headers: &HeaderMap) -> Option<Result<&str, ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    Some(token.ok_or(()))
}

fn now_secs() -> i64 {
    store::now_ms() / 1000
}

fn db(e: sqlx::Error) -> AppError {
    AppError::internal(e)
}

impl AppState {
    fn check_app(&self, app_id: &str) -> Result<(), AppError> {
        if self.inner.apps.contains(app_id) {
            Ok(())
        } else {
            Err(AppError::new(
                ErrorCode::AppNotFound,
                format!("cannot find app using Client App ID '{app_id}'"),
            ))
        }
    }

    /// Verifies the bearer token of the given kind and that its session still exists.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        kind: TokenKind,
    ) -> Result<store::Session, AppError> {
        let token = match bearer(headers) {
            None => return Err(AppError::invalid_session("must authenticate first")),
            Some(Err(())) => {
                return Err(AppError::invalid_session(
                    "expected Authorization header with JWT (Bearer schema)",
                ))
            }
            Some(Ok(t)) => t,
        };
        let claims = self
            .inner
            .signer
            .verify(token, kind, now_secs())
            .map_err(|e| match (e, kind) {
                (TokenError::Expired, TokenKind::Access) => {
                    AppError::invalid_session("invalid session: access token expired")
                }
                (TokenError::Expired, _) => {
                    AppError::invalid_session("invalid session: refresh token expired")
                }
                (TokenError::WrongType, TokenKind::Refresh) => {
                    AppError::invalid_session("invalid session: expected a refresh token")
                }
                (TokenError::WrongType, _) => {
                    AppError::invalid_session("invalid session: expected an access token")
                }
                (TokenError::Malformed, _) => AppError::invalid_session("invalid session"),
            })?;
        let session_id = claims.session_id().unwrap_or_default();
        let session = self
            .inner
            .store
            .session(session_id)
            .await
            .map_err(db)?
            .filter(|s| s.user_id == claims.sub)
            .ok_or_else(|| AppError::invalid_session("invalid session: the session has ended"))?;
        Ok(session)
    }

    /// Authenticates an API-key management request: refresh token of a normal (non-anonymous)
    /// user whose session was not opened with an API key.
    async fn key_manager(&self, headers: &HeaderMap) -> Result<store::Session, AppError> {
        let session = self.authenticate(headers, TokenKind::Refresh).await?;
        if session.user_provider == Provider::AnonUser.as_str() {
            return Err(AppError::new(
                ErrorCode::APIKeyManagementForbidden,
                "anonymous users cannot manage API keys",
            ));
        }
        if session.api_key_id.is_some() {
            return Err(AppError::new(
                ErrorCode::APIKeyManagementForbidden,
                "sessions opened with an API key cannot manage API keys",
            ));
        }
        Ok(session)
    }

    fn access_token(&self, user_id: &str, app_id: &str, device_id: &str, session: &str) -> String {
        let now = now_secs();
        self.inner.signer.sign(&Claims {
            sub: user_id.to_owned(),
            typ: "access".to_owned(),
            iat: now,
            exp: now.saturating_add(self.inner.access_ttl),
            baas_device_id: device_id.to_owned(),
            baas_domain_id: app_id.to_owned(),
            iss: Some(session.to_owned()),
            baas_id: None,
        })
    }

    fn login_response(
        &self,
        user_id: &str,
        app_id: &str,
        device_id: &str,
        session: &str,
    ) -> wire::LoginResponse {
        let now = now_secs();
        let refresh = self.inner.signer.sign(&Claims {
            sub: user_id.to_owned(),
            typ: "refresh".to_owned(),
            iat: now,
            exp: now + token::REFRESH_TTL_SECS,
            baas_device_id: device_id.to_owned(),
            baas_domain_id: app_id.to_owned(),
            iss: None,
            baas_id: Some(session.to_owned()),
        });
        wire::LoginResponse {
            access_token: self.access_token(user_id, app_id, device_id, session),
            refresh_token: refresh,
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
        }
    }
}

/// `options.device.deviceId` (string or `{"$oid": …}`) if it is 24 hex and not all zeros, else a
/// new id.
fn device_id(body: &Map<String, Value>) -> String {
    let given = body
        .get("options")
        .and_then(|o| o.get("device"))
        .and_then(|d| d.get("deviceId"))
        .and_then(|v| match v {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => o.get("$oid").and_then(Value::as_str),
            _ => None,
        });
    match given {
        Some(id) if is_object_id(id) && id != ZERO_DEVICE_ID => id.to_ascii_lowercase(),
        _ => store::new_id(),
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    state.inner.store.ping().await.map_err(db)?;
    Ok(Json(serde_json::json!({ "status": "ok" })))
}

async fn location(
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

async fn login(
    State(state): State<AppState>,
    Path((app_id, provider)): Path<(String, String)>,
    req: Request,
) -> Result<Json<wire::LoginResponse>, AppError> {
    state.check_app(&app_id)?;
    let provider = Provider::parse(&provider).ok_or_else(|| {
        AppError::new(
            ErrorCode::AuthProviderNotFound,
            "authentication provider not found",
        )
    })?;
    let JsonObject(body) = JsonObject::from_request(req, &()).await?;
    let device = device_id(&body);
    let store = &state.inner.store;
    // Password and anonymous logins find or make the user, then open a session below; a key login does
    // both in one transaction (so a concurrent disable cannot leave a live session behind).
    let user_id = match provider {
        Provider::LocalUserpass => {
            let email = required_str(&body, "username")?.trim().to_lowercase();
            let password = required_str(&body, "password")?.to_owned();
            let user = if plausible_email(&email) {
                store.user_by_email(&app_id, &email).await.map_err(db)?
            } else {
                None
            };
            let phc = user
                .as_ref()
                .and_then(|u| u.password_hash.clone())
                .unwrap_or_else(|| state.inner.dummy_hash.clone());
            let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
                .await
                .map_err(AppError::internal)?;
            match user {
                Some(u) if ok => u.id,
                _ => {
                    return Err(AppError::new(
                        ErrorCode::InvalidPassword,
                        "invalid username/password",
                    ))
                }
            }
        }
        Provider::AnonUser => {
            store
                .create_user(&app_id, provider.as_str(), None, None)
                .await
                .map_err(|e| match e {
                    store::CreateUserError::EmailTaken => {
                        AppError::internal("anonymous user id collision")
                    }
                    store::CreateUserError::Db(e) => db(e),
                })?
                .id
        }
        Provider::ApiKey => {
            let key = required_str(&body, "key")?;
            let refused = || AppError::new(ErrorCode::AuthError, "invalid API key");
            if !apikey::is_well_formed(key) {
                return Err(refused());
            }
            let (user_id, session) = store
                .key_login(&app_id, &apikey::hash(key), &device)
                .await
                .map_err(db)?
                .ok_or_else(refused)?;
            return Ok(Json(
                state.login_response(&user_id, &app_id, &device, &session),
            ));
        }
    };
    let session = store
        .create_session(store::NewSession {
            user_id: &user_id,
            app_id: &app_id,
            provider: provider.as_str(),
            device_id: &device,
        })
        .await
        .map_err(db)?;
    Ok(Json(
        state.login_response(&user_id, &app_id, &device, &session),
    ))
}

async fn register(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    req: Request,
) -> Result<StatusCode, AppError> {
    state.check_app(&app_id)?;
    let JsonObject(body) = JsonObject::from_request(req, &()).await?;
    let email = required_str(&body, "email")?.trim().to_lowercase();
    let password = required_str(&body, "password")?.to_owned();
    if email.is_empty() {
        return Err(missing("email"));
    }
    if !plausible_email(&email) {
        return Err(AppError::new(
            ErrorCode::InvalidParameter,
            "'email' must be an email address",
        ));
    }
    let chars = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&chars) {
        return Err(AppError::new(
            ErrorCode::InvalidParameter,
            format!(
                "password must be between {MIN_PASSWORD_LEN} and {MAX_PASSWORD_LEN} characters"
            ),
        ));
    }
    if state
        .inner
        .store
        .user_by_email(&app_id, &email)
        .await
        .map_err(db)?
        .is_some()
    {
        return Err(name_in_use());
    }
    let phc = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(AppError::internal)??;
    state
        .inner
        .store
        .create_user(
            &app_id,
            Provider::LocalUserpass.as_str(),
            Some(&email),
            Some(&phc),
        )
        .await
        .map_err(|e| match e {
            store::CreateUserError::EmailTaken => name_in_use(),
            store::CreateUserError::Db(e) => db(e),
        })?;
    Ok(StatusCode::CREATED)
}

/// Contains `@`, at most 254 bytes, no whitespace or control characters (PostgreSQL cannot even
/// store NUL, so such input must never reach the database).
fn plausible_email(email: &str) -> bool {
    email.contains('@')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn name_in_use() -> AppError {
    AppError::new(ErrorCode::AccountNameInUse, "name already in use")
}

async fn profile(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<wire::Profile>, AppError> {
    let session = state.authenticate(&headers, TokenKind::Access).await?;
    let user = state
        .inner
        .store
        .user(&session.user_id)
        .await
        .map_err(db)?
        .ok_or_else(|| AppError::invalid_session("invalid session: the session has ended"))?;
    let data = wire::ProfileData {
        email: user.email.clone(),
        ..wire::ProfileData::default()
    };
    Ok(Json(wire::Profile {
        user_id: user.id.clone(),
        domain_id: user.app_id.clone(),
        identities: vec![wire::Identity {
            id: user.identity_id.clone(),
            provider_type: user.provider.clone(),
            provider_id: user.provider.clone(),
        }],
        data,
        user_type: "normal".to_owned(),
    }))
}

async fn refresh_session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<wire::SessionResponse>, AppError> {
    let s = state.authenticate(&headers, TokenKind::Refresh).await?;
    Ok(Json(wire::SessionResponse {
        access_token: state.access_token(&s.user_id, &s.app_id, &s.device_id, &s.id),
    }))
}

async fn log_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    let Some(token) = bearer(&headers) else {
        return Err(AppError::invalid_session("must authenticate first"));
    };
    // Idempotent: any bearer token gets a 204; a refresh token signed by us (even expired) ends its
    // session.
    if let Ok(claims) = token
        .map_err(|_| ())
        .and_then(|t| state.inner.signer.decode(t).map_err(|_| ()))
    {
        if claims.typ == "refresh" {
            if let Some(id) = claims.session_id() {
                state.inner.store.delete_session(id).await.map_err(db)?;
            }
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_user(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    let session = state.authenticate(&headers, TokenKind::Access).await?;
    state
        .inner
        .store
        .delete_user(&session.user_id)
        .await
        .map_err(db)?;
    Ok(StatusCode::NO_CONTENT)
}

fn wire_key(k: store::ApiKey, secret: Option<String>) -> wire::ApiKey {
    wire::ApiKey {
        id: k.id,
        key: secret,
        name: k.name,
        disabled: k.disabled,
        created_at: k.created_at,
        last_used_at: k.last_used_at,
        start: k.start,
    }
}

fn key_not_found() -> AppError {
    AppError::new(ErrorCode::APIKeyNotFound, "API key not found")
}

/// 204 when the key operation found the caller's key, else 404 `APIKeyNotFound`.
fn key_changed(found: bool) -> Result<StatusCode, AppError> {
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(key_not_found())
    }
}

/// Normalises a key id from the path; malformed ids are "not found" (ids are opaque).
fn key_id(id: &str) -> Result<String, AppError> {
    if is_object_id(id) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(key_not_found())
    }
}

async fn create_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, AppError> {
    let session = state.key_manager(&headers).await?;
    let JsonObject(body) = JsonObject::from_request(req, &()).await?;
    let name = match body.get("name") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            return Err(AppError::new(
                ErrorCode::InvalidParameter,
                "'name' must be a string.",
            ))
        }
    };
    validate_api_key_name(name).map_err(|e| AppError::new(e.code(), e.to_string()))?;
    let secret = apikey::generate();
    let key = state
        .inner
        .store
        .create_key(
            &session.user_id,
            name,
            &apikey::hash(&secret),
            &apikey::start(&secret),
            MAX_API_KEYS_PER_USER as i64,
        )
        .await
        .map_err(|e| match e {
            store::CreateKeyError::LimitReached => AppError::new(
                ErrorCode::APIKeyLimitReached,
                format!("a user can have at most {MAX_API_KEYS_PER_USER} API keys"),
            ),
            store::CreateKeyError::NameTaken => AppError::new(
                ErrorCode::APIKeyAlreadyExists,
                "API key with name already exists",
            ),
            store::CreateKeyError::Db(e) => db(e),
        })?;
    Ok((StatusCode::CREATED, Json(wire_key(key, Some(secret)))).into_response())
}

async fn list_keys(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<wire::ApiKey>>, AppError> {
    let session = state.key_manager(&headers).await?;
    let keys = state
        .inner
        .store
        .list_keys(&session.user_id)
        .await
        .map_err(db)?;
    Ok(Json(keys.into_iter().map(|k| wire_key(k, None)).collect()))
}

async fn fetch_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<wire::ApiKey>, AppError> {
    let session = state.key_manager(&headers).await?;
    let id = key_id(&id)?;
    let key = state
        .inner
        .store
        .key(&session.user_id, &id)
        .await
        .map_err(db)?
        .ok_or_else(key_not_found)?;
    Ok(Json(wire_key(key, None)))
}

async fn delete_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let session = state.key_manager(&headers).await?;
    let id = key_id(&id)?;
    key_changed(
        state
            .inner
            .store
            .delete_key(&session.user_id, &id)
            .await
            .map_err(db)?,
    )
}

async fn set_disabled(
    state: AppState,
    headers: HeaderMap,
    id: String,
    disabled: bool,
) -> Result<StatusCode, AppError> {
    let session = state.key_manager(&headers).await?;
    let id = key_id(&id)?;
    key_changed(
        state
            .inner
            .store
            .set_key_disabled(&session.user_id, &id, disabled)
            .await
            .map_err(db)?,
    )
}

async fn enable_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    set_disabled(state, headers, id, false).await
}

async fn disable_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    set_disabled(state, headers, id, true).await
}
