//! The flags of serving (`appkeys-server [serve] …`), every one with its environment twin.

use std::{net::SocketAddr, path::PathBuf};

use appkeys_server::config::DEFAULT_REFRESH_TOKEN_TTL_SECS;

use crate::custom_jwt_flags::CustomJwtArgs;
use crate::social_flags::SocialArgs;
use crate::webhook_flags::WebhookArgs;

/// The flags of `serve` (and of the plain command).
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// A TOML file with any of these settings, each named as its flag without the dashes
    /// (`database-url = "sqlite://…"`, `google-client-id = ["web", "ios"]`, `email-confirmation = true`);
    /// flags and environment variables override it. Unknown keys and wrong values refuse to start.
    #[arg(long, value_name = "FILE", env = "APPKEYS_CONFIG")]
    pub(crate) config: Option<std::path::PathBuf>,

    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "APPKEYS_LISTEN", default_value = "127.0.0.1:9090")]
    pub(crate) listen: SocketAddr,

    /// Database: sqlite://PATH (file and directory created if missing) or
    /// postgres://USER@HOST:PORT/DB (several instances may share one PostgreSQL database).
    #[arg(
        long,
        env = "APPKEYS_DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://./appkeys-data/appkeys.db"
    )]
    pub(crate) database_url: String,

    /// App id to serve (repeatable; the env twin is comma-separated).
    #[arg(
        long = "app",
        value_name = "ID",
        env = "APPKEYS_APPS",
        value_delimiter = ',',
        default_value = "appkeys-demo"
    )]
    pub(crate) apps: Vec<String>,

    /// Access token lifetime in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_ACCESS_TOKEN_TTL",
        default_value_t = 1800,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) access_token_ttl: u64,

    /// Public origin returned as `hostname` by the location route [default: http://<listen
    /// address with the real port>].
    #[arg(long, value_name = "URL", env = "APPKEYS_PUBLIC_URL")]
    pub(crate) public_url: Option<String>,

    /// Allowed CORS origin (repeatable; the env twin is comma-separated) [default: any origin].
    #[arg(
        long = "cors-origin",
        value_name = "ORIGIN",
        env = "APPKEYS_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub(crate) cors_origins: Vec<String>,

    /// File with the refresh-token signing secret(s), one per line (at least 32 bytes each; blank and
    /// `#` lines skipped): the first signs, every one verifies, so secrets can be rotated. The file
    /// must not be readable by group or others. Without it the secret comes from the environment
    /// variable APPKEYS_JWT_SECRET, or — SQLite only — is generated on first start into the file
    /// `jwt-secret` (mode 0600) next to the database. PostgreSQL refuses to start without one.
    #[arg(long, value_name = "PATH", env = "APPKEYS_JWT_SECRET_FILE")]
    pub(crate) jwt_secret_file: Option<PathBuf>,

    /// File with the access-token signing key(s): P-256 private keys in PEM ("PRIVATE KEY" or "EC
    /// PRIVATE KEY" blocks). The first signs; every key is published at /.well-known/jwks.json, so a
    /// new key can be published before it signs. Must not be readable by group or others. Without it
    /// — SQLite only — a key is generated on first start into `signing-key.pem` (mode 0600) next to the
    /// database; PostgreSQL refuses to start without one. `appkeys-server signing-key generate FILE`
    /// (or `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`) makes one.
    #[arg(long, value_name = "PATH", env = "APPKEYS_SIGNING_KEY_FILE")]
    pub(crate) signing_key_file: Option<PathBuf>,

    /// The `iss` of every access token and the `issuer` of the discovery document [default: the
    /// public URL].
    #[arg(long, value_name = "URL", env = "APPKEYS_ISSUER")]
    pub(crate) issuer: Option<String>,

    /// An audience of every access token besides the app id (repeatable; the env twin is
    /// comma-separated): e.g. a PowerSync instance URL or your API's identifier. With one --app only:
    /// with several, use --app-audience.
    #[arg(
        long = "audience",
        value_name = "VALUE",
        env = "APPKEYS_AUDIENCES",
        value_delimiter = ','
    )]
    pub(crate) audiences: Vec<String>,

    /// An audience of one app's access tokens, APP=VALUE (repeatable; the env twin is
    /// comma-separated): with several --app, each app's APIs get an audience of their own.
    #[arg(
        long = "app-audience",
        value_name = "APP=VALUE",
        env = "APPKEYS_APP_AUDIENCES",
        value_delimiter = ','
    )]
    pub(crate) app_audiences: Vec<String>,

    /// A fixed string claim of one app's access tokens, APP:NAME=VALUE (repeatable; the env twin is
    /// comma-separated).
    #[arg(
        long = "app-token-claim",
        value_name = "APP:NAME=VALUE",
        env = "APPKEYS_APP_TOKEN_CLAIMS",
        value_delimiter = ','
    )]
    pub(crate) app_token_claims: Vec<String>,

    /// A fixed string claim of every access token, NAME=VALUE (repeatable; the env twin is
    /// comma-separated), e.g. role=authenticated for Supabase. Claims the server sets are refused.
    /// With one --app only: with several, use --app-token-claim.
    #[arg(
        long = "token-claim",
        value_name = "NAME=VALUE",
        env = "APPKEYS_TOKEN_CLAIMS",
        value_delimiter = ','
    )]
    pub(crate) token_claims: Vec<String>,

    /// File of the callers allowed to use POST /oauth/introspect, one `client_id:secret` per line
    /// (secrets at least 32 bytes; not readable by group or others). Without it introspection is off.
    #[arg(
        long,
        value_name = "PATH",
        env = "APPKEYS_INTROSPECTION_CREDENTIALS_FILE"
    )]
    pub(crate) introspection_credentials_file: Option<PathBuf>,

    /// Callers of the admin API (`/api/admin/v1`: custom user data), the app's own backend: one
    /// `client_id:secret` per line, a private file (chmod 600). Without it the admin API is off (404).
    #[arg(long, value_name = "PATH", env = "APPKEYS_ADMIN_CREDENTIALS_FILE")]
    pub(crate) admin_credentials_file: Option<PathBuf>,

    /// Refresh token (session) lifetime in seconds; expired sessions are deleted by the sweep.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_REFRESH_TOKEN_TTL",
        default_value_t = DEFAULT_REFRESH_TOKEN_TTL_SECS,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) refresh_token_ttl: u64,

    /// Argon2id password hashes at once [default: the number of cores].
    #[arg(long, value_name = "N", env = "APPKEYS_HASH_CONCURRENCY")]
    pub(crate) hash_concurrency: Option<usize>,

    /// Password requests that may wait for a hash slot; beyond it they get 503 at once [default:
    /// 8 per slot].
    #[arg(long, value_name = "N", env = "APPKEYS_HASH_QUEUE")]
    pub(crate) hash_queue: Option<usize>,

    /// Failed password logins per account per minute, from any client, after which the account is
    /// throttled: clients that failed on it get 429, other devices that cannot prove an earlier login
    /// wait a growing delay, one at a time (the owner's known devices, the client that completed a
    /// password reset, and resets themselves still work); 0 = off.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_LOGIN_FAILURES_PER_ACCOUNT",
        default_value_t = 10
    )]
    pub(crate) login_failures_per_account: u32,

    /// Failed password logins per account per hour, from any client, after which devices that cannot
    /// prove an earlier login get 429 (known devices and the client that completed a reset get in);
    /// 0 = off.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_LOGIN_FAILURES_PER_ACCOUNT_HOUR",
        default_value_t = 60
    )]
    pub(crate) login_failures_per_account_hour: u32,

    /// Failed password logins per client IP per minute (all accounts); 0 = off.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_LOGIN_FAILURES_PER_IP",
        default_value_t = 100
    )]
    pub(crate) login_failures_per_ip: u32,

    /// Successful password and custom JWT logins of one user (subject) from one client IP per minute,
    /// counted in each instance's memory; 0 = off.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_LOGINS_PER_USER_PER_CLIENT",
        default_value_t = 120
    )]
    pub(crate) logins_per_user_per_client: u32,

    /// Failed API-key logins (unknown, malformed, disabled key) per client IP per minute; 0 = off.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_KEY_LOGIN_FAILURES_PER_IP",
        default_value_t = 20
    )]
    pub(crate) key_login_failures_per_ip: u32,

    /// Anonymous logins per client IP per minute; 0 = off.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_ANONYMOUS_LOGINS_PER_IP",
        default_value_t = 60
    )]
    pub(crate) anonymous_logins_per_ip: u32,

    /// Shortest password accepted at registration and reset (6 to 128; App Services allowed 6). The
    /// 10,000 most common passwords are refused whatever their length. Existing passwords keep working.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_MIN_PASSWORD_LENGTH",
        default_value_t = 8,
        value_parser = clap::value_parser!(u64).range(6..=128)
    )]
    pub(crate) min_password_length: u64,

    /// Registrations per client IP per minute; 0 = off.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_REGISTRATIONS_PER_IP",
        default_value_t = 60
    )]
    pub(crate) registrations_per_ip: u32,

    /// Trusted proxy (IP or CIDR, repeatable; the env twin is comma-separated): requests from it are
    /// attributed to the right-most untrusted address of X-Forwarded-For.
    #[arg(
        long = "trust-proxy",
        value_name = "ADDR",
        env = "APPKEYS_TRUST_PROXY",
        value_delimiter = ','
    )]
    pub(crate) trust_proxy: Vec<String>,

    /// Seconds to receive a request's headers, from when the connection opens or goes idle
    /// between requests (so also the keep-alive idle limit).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_HEADER_READ_TIMEOUT",
        default_value_t = 10
    )]
    pub(crate) header_read_timeout: u64,

    /// Seconds without any byte moving on a connection before it is closed.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_IDLE_TIMEOUT",
        default_value_t = 30
    )]
    pub(crate) idle_timeout: u64,

    /// Seconds to receive a whole request body (then 408).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_BODY_READ_TIMEOUT",
        default_value_t = 30
    )]
    pub(crate) body_read_timeout: u64,

    /// Most open connections; more are closed at once.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_MAX_CONNECTIONS",
        default_value_t = 512
    )]
    pub(crate) max_connections: usize,

    /// Most open connections from one client (an IPv4 address or an IPv6 /64; trusted proxies are
    /// exempt); more are closed at once; 0 = no cap.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 128
    )]
    pub(crate) max_connections_per_client: usize,

    /// Seconds SIGTERM/SIGINT wait for open connections before dropping them (exit status 0).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_SHUTDOWN_TIMEOUT",
        default_value_t = 30
    )]
    pub(crate) shutdown_timeout: u64,

    /// Seconds a request waits for a database connection before it fails with 503.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_DB_ACQUIRE_TIMEOUT",
        default_value_t = 5
    )]
    pub(crate) db_acquire_timeout: u64,

    /// Seconds between expiry sweeps (expired sessions, orphaned anonymous users).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_SWEEP_INTERVAL",
        default_value_t = 60
    )]
    pub(crate) sweep_interval: u64,

    /// Seconds between writes of the API keys' `lastUsedAt` (key logins are recorded in memory and
    /// written in one batch, off the login path; also written at shutdown).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_LAST_USED_INTERVAL",
        default_value_t = 10
    )]
    pub(crate) last_used_interval: u64,

    /// Seconds between writes of the events audited in aggregate (refused requests, failed and
    /// successful API-key logins: one row per event, client and interval, with a count); also written
    /// at shutdown.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_AUDIT_INTERVAL",
        default_value_t = 10
    )]
    pub(crate) audit_interval: u64,

    /// Live sessions per API key; past it the key's oldest sessions end (a service that logs in again
    /// and again never piles up sessions); 0 = no cap.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_MAX_SESSIONS_PER_KEY",
        default_value_t = 1000
    )]
    pub(crate) max_sessions_per_key: u64,

    /// Live sessions per user (every provider and key together); past it the oldest end; 0 = no cap.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_MAX_SESSIONS_PER_USER",
        default_value_t = 5000
    )]
    pub(crate) max_sessions_per_user: u64,

    /// Days audit log rows are kept before the sweep deletes them.
    #[arg(
        long,
        value_name = "DAYS",
        env = "APPKEYS_AUDIT_RETENTION_DAYS",
        default_value_t = 90
    )]
    pub(crate) audit_retention_days: u64,

    /// Serve `GET /metrics` on this address instead of on the main listener.
    #[arg(
        long,
        value_name = "ADDR",
        env = "APPKEYS_METRICS_LISTEN",
        conflicts_with = "no_metrics"
    )]
    pub(crate) metrics_listen: Option<SocketAddr>,

    /// Do not serve `GET /metrics` at all.
    #[arg(long, env = "APPKEYS_NO_METRICS")]
    pub(crate) no_metrics: bool,

    /// Log format on stderr: `text` (human-readable) or `json` (one JSON object per line).
    #[arg(long, value_enum, env = "APPKEYS_LOG_FORMAT", default_value = "text")]
    pub(crate) log_format: LogFormat,

    /// Longest API key lifetime in days (fractions allowed): a key created without `expiresAt`
    /// expires after it, a longer `expiresAt` is refused (400) [default: no limit].
    #[arg(long, value_name = "DAYS", env = "APPKEYS_MAX_KEY_LIFETIME_DAYS")]
    pub(crate) max_key_lifetime_days: Option<f64>,

    /// A scope user API keys may carry, NAME=DESCRIPTION (repeatable; the env twin is comma-separated):
    /// `user.apiKeys.create(name, { scopes })` picks from these, and a key session's access token says
    /// them in `scope` (RFC 9068) for your API to check. Keys without scopes act as their owner.
    #[arg(
        long = "api-key-scope",
        value_name = "NAME=DESCRIPTION",
        env = "APPKEYS_API_KEY_SCOPES",
        value_delimiter = ',',
        value_parser = parse_scope
    )]
    pub(crate) api_key_scopes: Vec<(String, String)>,

    /// The sweep disables keys whose last use (or creation, if never used) is older than this many
    /// days (fractions allowed), and records it in the audit log [default: never].
    #[arg(
        long,
        value_name = "DAYS",
        env = "APPKEYS_DISABLE_UNUSED_KEYS_AFTER_DAYS"
    )]
    pub(crate) disable_unused_keys_after_days: Option<f64>,

    /// Registration creates unconfirmed accounts and emails a confirmation link; they cannot log in
    /// until confirmed (401 UserNotConfirmed). Needs --smtp-url or --mail-dir and --confirm-url.
    #[arg(long, env = "APPKEYS_EMAIL_CONFIRMATION")]
    pub(crate) email_confirmation: bool,

    /// SMTP server for confirmation and reset email: smtp://HOST:PORT (plain; add ?tls=required
    /// for STARTTLS) or smtps://HOST:PORT (TLS). Credentials in the URL's userinfo
    /// (smtps://USER:PASS@HOST) or in APPKEYS_SMTP_USERNAME and APPKEYS_SMTP_PASSWORD.
    #[arg(
        long,
        value_name = "URL",
        env = "APPKEYS_SMTP_URL",
        hide_env_values = true,
        conflicts_with = "mail_dir"
    )]
    pub(crate) smtp_url: Option<String>,

    /// Without SMTP: write each email as an .eml file into this directory (development).
    #[arg(long, value_name = "DIR", env = "APPKEYS_MAIL_DIR")]
    pub(crate) mail_dir: Option<PathBuf>,

    /// The From address of the emails.
    #[arg(
        long,
        value_name = "ADDR",
        env = "APPKEYS_MAIL_FROM",
        default_value = "appkeys <noreply@localhost>"
    )]
    pub(crate) mail_from: String,

    /// The page confirmation links open; `token` and `tokenId` are appended as query parameters.
    #[arg(long, value_name = "URL", env = "APPKEYS_CONFIRM_URL")]
    pub(crate) confirm_url: Option<String>,

    /// The page reset links open; `token` and `tokenId` are appended as query parameters. Required
    /// when email is configured.
    #[arg(long, value_name = "URL", env = "APPKEYS_RESET_URL")]
    pub(crate) reset_url: Option<String>,

    /// Reset emails of users imported with `users import --send-reset-emails` this instance sends per
    /// minute (instances share the queue; each email is sent once); 0 = none.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_IMPORT_RESET_EMAILS_PER_MINUTE",
        default_value_t = 60
    )]
    pub(crate) import_reset_emails_per_minute: u32,

    /// Seconds a confirmation or reset link stays valid.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_EMAIL_TOKEN_TTL",
        default_value_t = 1800,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) email_token_ttl: u64,

    /// Seconds to hand one email to the SMTP server before giving up (logged and counted).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_EMAIL_SEND_TIMEOUT",
        default_value_t = 10
    )]
    pub(crate) email_send_timeout: u64,

    /// Confirmation and reset emails one address may be sent per minute; 0 = off.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_EMAILS_PER_ADDRESS",
        default_value_t = 3
    )]
    pub(crate) emails_per_address: u32,

    /// Confirmation and reset emails one client IP may ask for per minute; 0 = off.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_EMAILS_PER_IP",
        default_value_t = 30
    )]
    pub(crate) emails_per_ip: u32,

    /// The `custom-token` provider.
    #[command(flatten)]
    pub(crate) custom_jwt: CustomJwtArgs,

    /// Google, Apple, Facebook and the authentication function.
    #[command(flatten)]
    pub(crate) social: SocialArgs,

    /// Authentication events as webhooks.
    #[command(flatten)]
    pub(crate) webhooks: WebhookArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// `NAME=DESCRIPTION` of `--api-key-scope`: NAME in RFC 6749's scope-token characters (printable ASCII
/// without space, `"` and `\\`), at most 64 of them.
fn parse_scope(text: &str) -> Result<(String, String), String> {
    let (name, description) = text.split_once('=').unwrap_or((text, ""));
    let name = name.trim();
    let valid = |c: char| c.is_ascii_graphic() && c != '"' && c != '\\';
    if name.is_empty() || name.len() > 64 || !name.chars().all(valid) {
        return Err(format!(
            "`{name}`: a scope name is 1 to 64 printable ASCII characters without spaces, quotes or backslashes"
        ));
    }
    Ok((name.to_owned(), description.trim().to_owned()))
}
