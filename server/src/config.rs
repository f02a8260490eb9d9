//! Server settings that do not come from the database (the command line builds them in `main.rs`).

use std::time::Duration;

use ipnet::IpNet;

/// Shortest password accepted by default at registration and reset (characters).
pub const DEFAULT_MIN_PASSWORD_LEN: usize = 8;

/// Refresh tokens (and so sessions) live 60 days by default.
pub const DEFAULT_REFRESH_TOKEN_TTL_SECS: u64 = 60 * 24 * 60 * 60;

/// Everything the HTTP application needs to know besides the database.
#[derive(Debug, Clone)]
pub struct Config {
    /// App ids served.
    pub apps: Vec<String>,
    /// Access token lifetime in seconds.
    pub access_token_ttl: u64,
    /// Refresh token (session) lifetime in seconds; expired sessions are swept.
    pub refresh_token_ttl: u64,
    /// Public origin (returned as `hostname` by location); a trailing `/` is dropped.
    pub public_url: String,
    /// Allowed CORS origins; empty means any origin.
    pub cors_origins: Vec<String>,
    /// Refresh-token secrets (HS256): the first signs, all verify (rotation). Empty: SQLite generates
    /// one into a 0600 file next to the database; PostgreSQL refuses to start.
    pub jwt_secrets: Vec<String>,
    /// Access-token signing keys (P-256, one PEM block each): the first signs, all are published.
    /// Empty: SQLite generates one into `signing-key.pem` (0600) next to the database; PostgreSQL
    /// refuses to start.
    pub signing_keys: Vec<String>,
    /// The `iss` of access tokens and the `issuer` of discovery; `None`: the public URL.
    pub issuer: Option<String>,
    /// Audiences of access tokens besides the app id (`--audience`): with one app only.
    pub audiences: Vec<String>,
    /// Fixed string claims of access tokens (`--token-claim NAME=VALUE`): with one app only.
    pub token_claims: Vec<(String, String)>,
    /// Audiences of one app's access tokens, `(app id, audience)` (`--app-audience APP=VALUE`).
    pub app_audiences: Vec<(String, String)>,
    /// Fixed string claims of one app's access tokens, `(app id, (name, value))`
    /// (`--app-token-claim APP:NAME=VALUE`).
    pub app_token_claims: Vec<(String, (String, String))>,
    /// Live sessions per API key; past it the oldest sessions of the key end (0: no cap).
    pub max_sessions_per_key: u64,
    /// Live sessions per user (all providers and keys); past it the oldest end (0: no cap).
    pub max_sessions_per_user: u64,
    /// Reset emails of imported users sent per minute (0: none).
    pub import_reset_emails_per_minute: u32,
    /// Shortest password accepted at registration and reset (6 to 128).
    pub min_password_length: usize,
    /// Callers of `POST /oauth/introspect` (`client_id`, secret); `None`: the endpoint is off.
    pub introspection_credentials: Option<Vec<(String, String)>>,
    /// Authentication events delivered as webhooks (`None`: off).
    pub webhook: Option<WebhookConfig>,
    /// Callers of the admin API (`/api/admin/v1`: custom user data) — the app's own backend; `None`: off.
    pub admin_credentials: Option<Vec<(String, String)>>,
    /// Bounds of Argon2id password hashing.
    pub hashing: HashLimits,
    /// Rate limits of the unauthenticated routes.
    pub limits: RateLimits,
    /// Proxies whose `X-Forwarded-For` is believed (peer address in one of these networks).
    pub trusted_proxies: Vec<IpNet>,
    /// How often expired sessions, orphaned anonymous users and old rate-limit rows are deleted.
    pub sweep_interval: Duration,
    /// Longest time to receive a whole request body (408 after it).
    pub body_read_timeout: Duration,
    /// How long audit log rows are kept (then swept).
    pub audit_retention: Duration,
    /// Serve `GET /metrics` on the main listener (off with `--no-metrics` or `--metrics-listen`).
    pub metrics_on_main: bool,
    /// Longest key lifetime: a key created without `expiresAt` expires after it; longer is refused.
    pub max_key_lifetime: Option<Duration>,
    /// The scopes user API keys may carry: `(name, description)` (`--api-key-scope NAME=DESCRIPTION`).
    pub api_key_scopes: Vec<(String, String)>,
    /// The sweep disables keys whose last use (or creation, if never used) is older than this.
    pub disable_unused_keys_after: Option<Duration>,
    /// Account confirmation and password-reset email.
    pub email: EmailConfig,
    /// Google, Apple, Facebook and the authentication function.
    pub social: SocialConfig,
    /// The `custom-token` provider (`None`: off, 404 `AuthProviderNotFound`).
    pub custom_jwt: Option<CustomJwtConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            apps: vec!["appkeys-demo".to_owned()],
            access_token_ttl: 1800,
            refresh_token_ttl: DEFAULT_REFRESH_TOKEN_TTL_SECS,
            public_url: "http://127.0.0.1:9090".to_owned(),
            cors_origins: Vec::new(),
            jwt_secrets: Vec::new(),
            signing_keys: Vec::new(),
            issuer: None,
            audiences: Vec::new(),
            token_claims: Vec::new(),
            app_audiences: Vec::new(),
            app_token_claims: Vec::new(),
            introspection_credentials: None,
            admin_credentials: None,
            webhook: None,
            min_password_length: DEFAULT_MIN_PASSWORD_LEN,
            import_reset_emails_per_minute: 60,
            max_sessions_per_key: 1_000,
            max_sessions_per_user: 5_000,
            hashing: HashLimits::default(),
            limits: RateLimits::default(),
            trusted_proxies: Vec::new(),
            sweep_interval: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            audit_retention: Duration::from_secs(90 * 24 * 60 * 60),
            metrics_on_main: true,
            max_key_lifetime: None,
            api_key_scopes: Vec::new(),
            disable_unused_keys_after: None,
            email: EmailConfig::default(),
            custom_jwt: None,
            social: SocialConfig::default(),
        }
    }
}

/// How `custom-token` logins verify the app's identity provider's JWTs, as App Services' Custom JWT
/// provider was configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomJwtConfig {
    /// Where the provider publishes its keys (RS256 and ES256, `kid` required); or `None` and
    /// [`Self::secrets`].
    pub jwks_url: Option<String>,
    /// HS256 secrets (any one verifies), when there is no JWKS URL.
    pub secrets: Vec<String>,
    /// Static public keys in PEM (RSA: RS256, P-256: ES256; any one verifies), when there is no
    /// JWKS URL (`--custom-jwt-public-key-file`).
    pub public_keys: Vec<String>,
    /// Accepted audiences (any one must match); empty: the app id.
    pub audiences: Vec<String>,
    /// The required `iss`, if any.
    pub issuer: Option<String>,
    /// Claims copied into the profile's `data`.
    pub metadata: Vec<MetadataField>,
    /// Longest wait for the JWKS URL (connection, answer and body).
    pub jwks_timeout: Duration,
}

/// `--custom-jwt-metadata FIELD=CLAIM.PATH` (`FIELD!=…`: required).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataField {
    /// The profile `data` field (at most [`MetadataField::MAX_NAME`] characters).
    pub name: String,
    /// The claim's dot path in the token (`user.email`).
    pub path: String,
    /// A token without the claim is refused.
    pub required: bool,
}

impl MetadataField {
    /// Longest field name (as App Services).
    pub const MAX_NAME: usize = 64;

    /// Parses `FIELD=CLAIM.PATH` or `FIELD!=CLAIM.PATH`.
    pub fn parse(spec: &str) -> Result<MetadataField, String> {
        let bad = |why: &str| format!("--custom-jwt-metadata {spec:?}: {why}");
        let (name, path) = spec
            .split_once('=')
            .ok_or_else(|| bad("expected FIELD=CLAIM.PATH (FIELD!=CLAIM.PATH: required)"))?;
        let (name, required) = match name.strip_suffix('!') {
            Some(name) => (name.trim(), true),
            None => (name.trim(), false),
        };
        if name.is_empty() || name.chars().count() > Self::MAX_NAME {
            return Err(bad("the field name must have 1 to 64 characters"));
        }
        let path = path.trim();
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(bad("the claim path must be names separated by dots"));
        }
        Ok(MetadataField {
            name: name.to_owned(),
            path: path.to_owned(),
            required,
        })
    }
}

/// Where emails go.
#[derive(Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// An SMTP server: `smtp://HOST:PORT` (plain; `?tls=required` for STARTTLS) or
    /// `smtps://HOST:PORT` (TLS), credentials in the URL's userinfo or given separately.
    Smtp {
        /// The URL (may hold credentials: never printed).
        url: String,
        /// User name (overrides the URL's).
        username: Option<String>,
        /// Password (overrides the URL's).
        password: Option<String>,
    },
    /// A directory: each message is written as an `.eml` file (development).
    Dir(std::path::PathBuf),
}

impl std::fmt::Debug for MailTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MailTransport::Smtp { .. } => f.write_str("Smtp(..)"),
            MailTransport::Dir(dir) => f.debug_tuple("Dir").field(dir).finish(),
        }
    }
}

/// Account confirmation and password reset by email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailConfig {
    /// Where emails go; `None`: no email (the confirmation and reset routes answer
    /// `EmailNotConfigured`).
    pub transport: Option<MailTransport>,
    /// The `From` address.
    pub from: String,
    /// The page confirmation links open (`token` and `tokenId` appended as query parameters).
    pub confirm_url: Option<String>,
    /// The page reset links open (`token` and `tokenId` appended as query parameters).
    pub reset_url: Option<String>,
    /// Registration creates unconfirmed accounts (no login until confirmed) and emails a link.
    pub confirmation: bool,
    /// How long a confirmation or reset token is valid.
    pub token_ttl: Duration,
    /// Longest time to hand one message to the SMTP server (or write it).
    pub send_timeout: Duration,
    /// Messages waiting to be sent at most; more are dropped (logged and counted).
    pub queue: usize,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            transport: None,
            from: "appkeys <noreply@localhost>".to_owned(),
            confirm_url: None,
            reset_url: None,
            confirmation: false,
            token_ttl: Duration::from_secs(30 * 60),
            send_timeout: Duration::from_secs(10),
            queue: 1000,
        }
    }
}

/// At most `concurrency` Argon2id hashes run at once; at most `queue` more requests wait for one.
/// Beyond that a password request is answered at once with 503 and `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    /// Hashes at once (default: the number of cores).
    pub concurrency: usize,
    /// Requests waiting for a hash slot (default: 8 per slot).
    pub queue: usize,
}

impl Default for HashLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        HashLimits {
            concurrency: cores,
            queue: cores * 8,
        }
    }
}

/// Requests per client IP (and failures per account) within a sliding minute; 0 turns a limit off.
/// Successful password and API-key logins are never counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Failed password logins per account (email) and window, from any client: past it the account
    /// is throttled — clients that failed on it get 429, devices that cannot prove an earlier login
    /// wait a growing delay.
    pub login_failures_per_account: u32,
    /// Failed password logins per account and hour, from any client (the same throttle).
    pub login_failures_per_account_hour: u32,
    /// Failed password logins per client IP, over all accounts.
    pub login_failures_per_ip: u32,
    /// Successful password and custom JWT logins of one user (subject) from one client IP, per window
    /// and instance.
    pub logins_per_user_per_client: u32,
    /// Failed API-key logins (unknown, malformed, disabled key) per client IP.
    pub key_login_failures_per_ip: u32,
    /// Anonymous logins per client IP.
    pub anonymous_logins_per_ip: u32,
    /// Registrations per client IP.
    pub registrations_per_ip: u32,
    /// Confirmation and reset emails asked for one address.
    pub emails_per_address: u32,
    /// Confirmation and reset emails asked for by one client IP.
    pub emails_per_ip: u32,
    /// The window (a minute by default).
    pub window: Duration,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            login_failures_per_account: 10,
            login_failures_per_account_hour: 60,
            login_failures_per_ip: 100,
            logins_per_user_per_client: 120,
            key_login_failures_per_ip: 20,
            anonymous_logins_per_ip: 60,
            registrations_per_ip: 60,
            emails_per_address: 3,
            emails_per_ip: 30,
            window: Duration::from_secs(60),
        }
    }
}

/// The other App Services sign-in providers (each off when `None`) and the timeout of their requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocialConfig {
    /// `oauth2-google`.
    pub google: Option<GoogleConfig>,
    /// `oauth2-apple`.
    pub apple: Option<AppleConfig>,
    /// `oauth2-facebook`.
    pub facebook: Option<FacebookConfig>,
    /// `custom-function`.
    pub function: Option<FunctionConfig>,
    /// The app pages the web redirect flow may send its result to (exact match; empty: the flow is off).
    pub redirect_urls: Vec<String>,
    /// Longest wait for any provider request (connection, answer and body).
    pub timeout: Duration,
}

impl Default for SocialConfig {
    fn default() -> Self {
        SocialConfig {
            google: None,
            apple: None,
            facebook: None,
            function: None,
            redirect_urls: Vec::new(),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Sign in with Google.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleConfig {
    /// Accepted `aud` of ID tokens: the web, iOS and Android client ids (the first one exchanges codes).
    pub client_ids: Vec<String>,
    /// The web client's secret: authorization codes are exchanged with it (`None`: ID tokens only).
    pub client_secret: Option<String>,
    /// The `redirect_uri` sent with a code exchange (empty for mobile server auth codes).
    pub redirect_uri: Option<String>,
    /// Google's signing keys.
    pub jwks_url: String,
    /// Google's token endpoint.
    pub token_url: String,
    /// Google's authorization endpoint (the web redirect flow).
    pub auth_url: String,
}

/// Sign in with Apple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppleConfig {
    /// Accepted `aud`: bundle ids and Services IDs.
    pub client_ids: Vec<String>,
    /// Apple's signing keys.
    pub jwks_url: String,
    /// The web redirect flow (`None`: ID tokens only).
    pub web: Option<AppleWebConfig>,
}

/// Sign in with Apple on the web: the first client id (a Services ID) exchanges authorization codes with a
/// client secret that appkeys signs (ES256) with the team's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppleWebConfig {
    /// The Apple developer team id (`iss` of the client secret).
    pub team_id: String,
    /// The id of the Sign in with Apple key (`kid` of the client secret).
    pub key_id: String,
    /// That key: a P-256 private key in PEM (the `.p8` file Apple gives).
    pub private_key: String,
    /// Apple's token endpoint.
    pub token_url: String,
    /// Apple's authorization endpoint.
    pub auth_url: String,
}

/// Facebook Login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacebookConfig {
    /// The Facebook app id.
    pub app_id: String,
    /// The Facebook app secret.
    pub app_secret: String,
    /// The Graph API's base URL (also where redirect-flow codes are exchanged: `oauth/access_token`).
    pub graph_url: String,
    /// The login dialog (the web redirect flow).
    pub auth_url: String,
}

/// The operator's authentication function (`custom-function`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionConfig {
    /// The HTTPS endpoint the login payload is posted to.
    pub url: String,
    /// The shared secret that signs the requests (a Standard Webhooks `whsec_…` secret or any string of
    /// at least 32 bytes).
    pub secret: String,
}

/// The operator's webhook endpoint (issue 31).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Where events are posted (https, or http on loopback).
    pub url: String,
    /// The signing secret (a Standard Webhooks `whsec_…` secret or at least 32 bytes).
    pub secret: String,
    /// The event types delivered.
    pub events: Vec<String>,
    /// How long an event is retried from when it was written; then it fails (and stays for operators).
    pub retry_for: Duration,
    /// The longest one delivery may take.
    pub timeout: Duration,
}
