//! `appkeys-server` command line: parse flags, open the database, serve until SIGINT/SIGTERM.

use std::{
    io::{IsTerminal, Write},
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use appkeys_server::config::{EmailConfig, MailTransport, DEFAULT_REFRESH_TOKEN_TTL_SECS};
use appkeys_server::secrets::{self, SecretError};
use appkeys_server::serve::{self, ServeOptions};
use appkeys_server::{
    app, passwords, sweep, AppState, Config, HashLimits, RateLimits, Store, StoreOptions,
};
use clap::Parser;
use ipnet::IpNet;

/// Self-hostable App Services-compatible auth server with user API keys.
///
/// Speaks the App Services client wire protocol (`/api/client/v2.0/...`) for the providers
/// local-userpass, anon-user and api-key. Every flag has an environment twin. Logs go to stderr
/// (filter with RUST_LOG, e.g. RUST_LOG=debug); stdout gets exactly one line
/// `listening on http://HOST:PORT`. Without a subcommand (or with `serve`) it serves; the other
/// subcommands administer a database, also while servers are serving it.
#[derive(Debug, Parser)]
#[command(
    name = "appkeys-server",
    version,
    about,
    long_about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Serve (the same as no subcommand).
    Serve(Box<ServeArgs>),
    /// Users: list, show, disable (no login by any provider, sessions end), enable, confirm, delete.
    Users {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        action: UsersAction,
    },
    /// API keys: list a user's keys, revoke a key (deletes it and ends its sessions).
    Keys {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Sessions: end every session of a user.
    Sessions {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        action: SessionsAction,
    },
    /// Prints the audit log, newest last; `--json`: one JSON object per line with `time`, `event`,
    /// `app`, `user_id`, `key_id`, `provider`, `ip`, `user_agent`, `outcome`.
    Audit {
        #[command(flatten)]
        db: DbArgs,
        /// Only events of this user.
        #[arg(long)]
        user: Option<String>,
        /// Only events of this key.
        #[arg(long)]
        key: Option<String>,
        /// Only events at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Writes a consistent snapshot of a SQLite database to FILE (mode 0600) while servers run
    /// (`VACUUM INTO`). For PostgreSQL use pg_dump.
    Backup {
        #[command(flatten)]
        db: DbArgs,
        /// The new backup file (must not exist).
        file: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct DbArgs {
    /// Database: sqlite://PATH or postgres://… (as for serving).
    #[arg(
        long,
        env = "APPKEYS_DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://./appkeys-data/appkeys.db"
    )]
    database_url: String,
}

#[derive(Debug, clap::Subcommand)]
enum UsersAction {
    /// Every user: id, app, provider, email, state, creation time.
    List,
    /// One user, with its keys and session count.
    Show { id: String },
    /// Disables a user: no login by any provider; its sessions end.
    Disable { id: String },
    /// Enables a disabled user.
    Enable { id: String },
    /// Confirms an account that registered while --email-confirmation was on.
    Confirm { id: String },
    /// Deletes a user with its keys and sessions.
    Delete { id: String },
}

#[derive(Debug, clap::Subcommand)]
enum KeysAction {
    /// A user's keys: id, name, state, creation and last use.
    List {
        /// The user id.
        #[arg(long)]
        user: String,
    },
    /// Deletes a key and ends the sessions opened with it.
    Revoke { key_id: String },
}

#[derive(Debug, clap::Subcommand)]
enum SessionsAction {
    /// Ends every session of a user.
    Revoke {
        /// The user id.
        #[arg(long)]
        user: String,
    },
}

/// The flags of `serve` (and of the plain command).
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "APPKEYS_LISTEN", default_value = "127.0.0.1:9090")]
    listen: SocketAddr,

    /// Database: sqlite://PATH (file and directory created if missing) or
    /// postgres://USER@HOST:PORT/DB (several instances may share one PostgreSQL database).
    #[arg(
        long,
        env = "APPKEYS_DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://./appkeys-data/appkeys.db"
    )]
    database_url: String,

    /// App id to serve (repeatable; the env twin is comma-separated).
    #[arg(
        long = "app",
        value_name = "ID",
        env = "APPKEYS_APPS",
        value_delimiter = ',',
        default_value = "appkeys-demo"
    )]
    apps: Vec<String>,

    /// Access token lifetime in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_ACCESS_TOKEN_TTL",
        default_value_t = 1800,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    access_token_ttl: u64,

    /// Public origin returned as `hostname` by the location route [default: http://<listen
    /// address with the real port>].
    #[arg(long, value_name = "URL", env = "APPKEYS_PUBLIC_URL")]
    public_url: Option<String>,

    /// Allowed CORS origin (repeatable; the env twin is comma-separated) [default: any origin].
    #[arg(
        long = "cors-origin",
        value_name = "ORIGIN",
        env = "APPKEYS_CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,

    /// File with the token signing secret(s), one per line (at least 32 bytes each; blank and `#`
    /// lines skipped): the first signs, every one verifies, so secrets can be rotated. The file must
    /// not be readable by group or others. Without it the secret comes from the environment variable
    /// APPKEYS_JWT_SECRET, or — SQLite only — is generated on first start into the file
    /// `jwt-secret` (mode 0600) next to the database. PostgreSQL refuses to start without one.
    #[arg(long, value_name = "PATH", env = "APPKEYS_JWT_SECRET_FILE")]
    jwt_secret_file: Option<PathBuf>,

    /// Refresh token (session) lifetime in seconds; expired sessions are deleted by the sweep.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_REFRESH_TOKEN_TTL",
        default_value_t = DEFAULT_REFRESH_TOKEN_TTL_SECS,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    refresh_token_ttl: u64,

    /// Argon2id password hashes at once [default: the number of cores].
    #[arg(long, value_name = "N", env = "APPKEYS_HASH_CONCURRENCY")]
    hash_concurrency: Option<usize>,

    /// Password requests that may wait for a hash slot; beyond it they get 503 at once [default:
    /// 8 per slot].
    #[arg(long, value_name = "N", env = "APPKEYS_HASH_QUEUE")]
    hash_queue: Option<usize>,

    /// Failed password logins per account per minute after which a client that failed on the
    /// account gets 429 (others can still log in to it); 0 = off.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_LOGIN_FAILURES_PER_ACCOUNT",
        default_value_t = 10
    )]
    login_failures_per_account: u32,

    /// Failed password logins per client IP per minute (all accounts); 0 = off.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_LOGIN_FAILURES_PER_IP",
        default_value_t = 100
    )]
    login_failures_per_ip: u32,

    /// Failed API-key logins (unknown, malformed, disabled key) per client IP per minute; 0 = off.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_KEY_LOGIN_FAILURES_PER_IP",
        default_value_t = 20
    )]
    key_login_failures_per_ip: u32,

    /// Anonymous logins per client IP per minute; 0 = off.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_ANONYMOUS_LOGINS_PER_IP",
        default_value_t = 60
    )]
    anonymous_logins_per_ip: u32,

    /// Registrations per client IP per minute; 0 = off.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_REGISTRATIONS_PER_IP",
        default_value_t = 60
    )]
    registrations_per_ip: u32,

    /// Trusted proxy (IP or CIDR, repeatable; the env twin is comma-separated): requests from it are
    /// attributed to the right-most untrusted address of X-Forwarded-For.
    #[arg(
        long = "trust-proxy",
        value_name = "ADDR",
        env = "APPKEYS_TRUST_PROXY",
        value_delimiter = ','
    )]
    trust_proxy: Vec<String>,

    /// Seconds to receive a request's headers, from when the connection opens or goes idle
    /// between requests (so also the keep-alive idle limit).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_HEADER_READ_TIMEOUT",
        default_value_t = 10
    )]
    header_read_timeout: u64,

    /// Seconds without any byte moving on a connection before it is closed.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_IDLE_TIMEOUT",
        default_value_t = 30
    )]
    idle_timeout: u64,

    /// Seconds to receive a whole request body (then 408).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_BODY_READ_TIMEOUT",
        default_value_t = 30
    )]
    body_read_timeout: u64,

    /// Most open connections; more are closed at once.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_MAX_CONNECTIONS",
        default_value_t = 512
    )]
    max_connections: usize,

    /// Seconds SIGTERM/SIGINT wait for open connections before dropping them (exit status 0).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_SHUTDOWN_TIMEOUT",
        default_value_t = 30
    )]
    shutdown_timeout: u64,

    /// Seconds a request waits for a database connection before it fails with 503.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_DB_ACQUIRE_TIMEOUT",
        default_value_t = 5
    )]
    db_acquire_timeout: u64,

    /// Seconds between expiry sweeps (expired sessions, orphaned anonymous users).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_SWEEP_INTERVAL",
        default_value_t = 60
    )]
    sweep_interval: u64,

    /// Seconds between writes of the API keys' `lastUsedAt` (key logins are recorded in memory and
    /// written in one batch, off the login path; also written at shutdown).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_LAST_USED_INTERVAL",
        default_value_t = 10
    )]
    last_used_interval: u64,

    /// Days audit log rows are kept before the sweep deletes them.
    #[arg(
        long,
        value_name = "DAYS",
        env = "APPKEYS_AUDIT_RETENTION_DAYS",
        default_value_t = 90
    )]
    audit_retention_days: u64,

    /// Serve `GET /metrics` on this address instead of on the main listener.
    #[arg(
        long,
        value_name = "ADDR",
        env = "APPKEYS_METRICS_LISTEN",
        conflicts_with = "no_metrics"
    )]
    metrics_listen: Option<SocketAddr>,

    /// Do not serve `GET /metrics` at all.
    #[arg(long, env = "APPKEYS_NO_METRICS")]
    no_metrics: bool,

    /// Log format on stderr: `text` (human-readable) or `json` (one JSON object per line).
    #[arg(long, value_enum, env = "APPKEYS_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,

    /// Longest API key lifetime in days (fractions allowed): a key created without `expiresAt`
    /// expires after it, a longer `expiresAt` is refused (400) [default: no limit].
    #[arg(long, value_name = "DAYS", env = "APPKEYS_MAX_KEY_LIFETIME_DAYS")]
    max_key_lifetime_days: Option<f64>,

    /// The sweep disables keys whose last use (or creation, if never used) is older than this many
    /// days (fractions allowed), and records it in the audit log [default: never].
    #[arg(
        long,
        value_name = "DAYS",
        env = "APPKEYS_DISABLE_UNUSED_KEYS_AFTER_DAYS"
    )]
    disable_unused_keys_after_days: Option<f64>,

    /// Registration creates unconfirmed accounts and emails a confirmation link; they cannot log in
    /// until confirmed (401 UserNotConfirmed). Needs --smtp-url or --mail-dir and --confirm-url.
    #[arg(long, env = "APPKEYS_EMAIL_CONFIRMATION")]
    email_confirmation: bool,

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
    smtp_url: Option<String>,

    /// Without SMTP: write each email as an .eml file into this directory (development).
    #[arg(long, value_name = "DIR", env = "APPKEYS_MAIL_DIR")]
    mail_dir: Option<PathBuf>,

    /// The From address of the emails.
    #[arg(
        long,
        value_name = "ADDR",
        env = "APPKEYS_MAIL_FROM",
        default_value = "appkeys <noreply@localhost>"
    )]
    mail_from: String,

    /// The page confirmation links open; `token` and `tokenId` are appended as query parameters.
    #[arg(long, value_name = "URL", env = "APPKEYS_CONFIRM_URL")]
    confirm_url: Option<String>,

    /// The page reset links open; `token` and `tokenId` are appended as query parameters. Required
    /// when email is configured.
    #[arg(long, value_name = "URL", env = "APPKEYS_RESET_URL")]
    reset_url: Option<String>,

    /// Seconds a confirmation or reset link stays valid.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_EMAIL_TOKEN_TTL",
        default_value_t = 1800,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    email_token_ttl: u64,

    /// Seconds to hand one email to the SMTP server before giving up (logged and counted).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_EMAIL_SEND_TIMEOUT",
        default_value_t = 10
    )]
    email_send_timeout: u64,

    /// Confirmation and reset emails one address may be sent per minute; 0 = off.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_EMAILS_PER_ADDRESS",
        default_value_t = 3
    )]
    emails_per_address: u32,

    /// Confirmation and reset emails one client IP may ask for per minute; 0 = off.
    #[arg(
        long,
        value_name = "N",
        env = "APPKEYS_EMAILS_PER_IP",
        default_value_t = 30
    )]
    emails_per_ip: u32,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let serve = match cli.command {
        None => cli.serve,
        Some(Command::Serve(args)) => *args,
        Some(command) => {
            if let Err(e) = admin(command).await {
                eprintln!("appkeys-server: {e}");
                std::process::exit(1);
            }
            return;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match serve.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    if let Err(e) = run(serve).await {
        tracing::error!("{e}");
        eprintln!("appkeys-server: {e}");
        std::process::exit(1);
    }
}

/// A number of days (fractions allowed, negative taken as 0) as a duration.
fn days(days: f64) -> Duration {
    Duration::from_secs_f64((days * 86_400.0).clamp(0.0, 1e12))
}

fn secrets(cli: &ServeArgs) -> Result<Vec<String>, SecretError> {
    if let Some(path) = &cli.jwt_secret_file {
        return secrets::read_file(path);
    }
    match std::env::var("APPKEYS_JWT_SECRET") {
        Ok(secret) if !secret.is_empty() => {
            secrets::check(&secret, "APPKEYS_JWT_SECRET")?;
            Ok(vec![secret])
        }
        _ => Ok(Vec::new()),
    }
}

/// Milliseconds since the epoch as RFC 3339 UTC (`2026-12-01T22:53:31.123Z`), or `-`.
fn rfc3339(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_owned(), appkeys_server::store::rfc3339)
}

/// The audit event of an admin command.
fn admin_event(event: &'static str) -> appkeys_server::audit::Event {
    appkeys_server::audit::Event {
        user_agent: Some("appkeys-server admin command".to_owned()),
        ..appkeys_server::audit::Event::new(event, "success")
    }
}

async fn admin(command: Command) -> Result<(), Box<dyn std::error::Error>> {
    let url = match &command {
        Command::Users { db, .. }
        | Command::Keys { db, .. }
        | Command::Sessions { db, .. }
        | Command::Backup { db, .. }
        | Command::Audit { db, .. } => db.database_url.clone(),
        Command::Serve(_) => unreachable!("serve is not an admin command"),
    };
    let store = Store::connect(&url).await?;
    let mut out = std::io::stdout().lock();
    let missing = |what: &str, id: &str| format!("no {what} with id {id}");
    match command {
        Command::Users { action, .. } => match action {
            UsersAction::List => {
                writeln!(out, "id\tapp\tprovider\temail\tstate\tcreated")?;
                for u in store.list_users().await? {
                    let state = if u.disabled { "disabled" } else { "enabled" };
                    let email = u.email.as_deref().unwrap_or("-");
                    let created = rfc3339(Some(u.created_at));
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{email}\t{state}\t{created}",
                        u.id, u.app_id, u.provider
                    )?;
                }
            }
            UsersAction::Show { id } => {
                let u = store.user(&id).await?.ok_or_else(|| missing("user", &id))?;
                let sessions = store.count_user_sessions(&id).await?;
                writeln!(
                    out,
                    "id\t{}\napp\t{}\nprovider\t{}",
                    u.id, u.app_id, u.provider
                )?;
                writeln!(out, "email\t{}", u.email.as_deref().unwrap_or("-"))?;
                let state = if u.disabled { "disabled" } else { "enabled" };
                writeln!(
                    out,
                    "state\t{state}\nconfirmed\t{}\ncreated\t{}\nsessions\t{sessions}",
                    if u.confirmed { "yes" } else { "no" },
                    rfc3339(Some(u.created_at))
                )?;
                for k in store.list_keys(&id).await? {
                    writeln!(
                        out,
                        "key\t{}\t{}\t{}",
                        k.id,
                        k.name,
                        if k.disabled { "disabled" } else { "enabled" }
                    )?;
                }
            }
            UsersAction::Disable { id } => {
                if !store.set_user_disabled(&id, true).await? {
                    return Err(missing("user", &id).into());
                }
                writeln!(out, "disabled user {id}; its sessions ended")?;
            }
            UsersAction::Enable { id } => {
                if !store.set_user_disabled(&id, false).await? {
                    return Err(missing("user", &id).into());
                }
                writeln!(out, "enabled user {id}")?;
            }
            UsersAction::Confirm { id } => {
                if !store.set_user_confirmed(&id).await? {
                    return Err(missing("user", &id).into());
                }
                writeln!(out, "confirmed user {id}")?;
            }
            UsersAction::Delete { id } => {
                if !store.delete_user(&id, &admin_event("user.deleted")).await? {
                    return Err(missing("user", &id).into());
                }
                writeln!(out, "deleted user {id} with its keys and sessions")?;
            }
        },
        Command::Keys { action, .. } => match action {
            KeysAction::List { user } => {
                writeln!(out, "id\tname\tstate\tcreated\tlast_used")?;
                for k in store.list_keys(&user).await? {
                    let state = if k.disabled { "disabled" } else { "enabled" };
                    let (created, used) = (rfc3339(Some(k.created_at)), rfc3339(k.last_used_at));
                    writeln!(out, "{}\t{}\t{state}\t{created}\t{used}", k.id, k.name)?;
                }
            }
            KeysAction::Revoke { key_id } => {
                let owner = store
                    .key_owner(&key_id)
                    .await?
                    .ok_or_else(|| missing("key", &key_id))?;
                store
                    .delete_key(&owner, &key_id, &admin_event("key.deleted"))
                    .await?;
                writeln!(
                    out,
                    "revoked key {key_id} of user {owner}; its sessions ended"
                )?;
            }
        },
        Command::Sessions {
            action: SessionsAction::Revoke { user },
            ..
        } => {
            let n = store
                .delete_user_sessions(&user, &admin_event("session.revoked"))
                .await?;
            writeln!(out, "ended {n} sessions of user {user}")?;
        }
        Command::Backup { file, .. } => {
            store.backup(&file).await?;
            writeln!(out, "backup written to {}", file.display())?;
        }
        Command::Audit {
            user,
            key,
            since,
            json,
            ..
        } => {
            let since = since
                .map(|t| {
                    humantime::parse_rfc3339_weak(&t)
                        .map(|at| {
                            at.duration_since(std::time::UNIX_EPOCH)
                                .map_or(0, |d| d.as_millis() as i64)
                        })
                        .map_err(|e| {
                            format!(
                                "--since {t}: {e} (expected RFC 3339, e.g. 2026-12-01T00:00:00Z)"
                            )
                        })
                })
                .transpose()?;
            for e in store
                .audit_entries(user.as_deref(), key.as_deref(), since)
                .await?
            {
                if json {
                    writeln!(out, "{}", serde_json::to_string(&e)?)?;
                } else {
                    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
                    writeln!(
                        out,
                        "{} {} {} app={} user={} key={} provider={} ip={} agent={:?}",
                        e.time,
                        e.event,
                        e.outcome,
                        dash(&e.app),
                        dash(&e.user_id),
                        dash(&e.key_id),
                        dash(&e.provider),
                        dash(&e.ip),
                        dash(&e.user_agent)
                    )?;
                }
            }
        }
        Command::Serve(_) => {}
    }
    store.close().await;
    Ok(())
}

async fn run(cli: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    passwords::return_hash_memory_to_os();
    serve::raise_open_file_limit();
    let jwt_secrets = secrets(&cli)?;
    let trusted_proxies = cli
        .trust_proxy
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<IpNet>()
                .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("--trust-proxy {p}: expected an IP address or CIDR"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let store = Store::connect_with(
        &cli.database_url,
        StoreOptions {
            acquire_timeout: Duration::from_secs(cli.db_acquire_timeout.max(1)),
        },
    )
    .await?;
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    let addr = listener.local_addr()?;
    let defaults = HashLimits::default();
    let concurrency = cli.hash_concurrency.unwrap_or(defaults.concurrency).max(1);
    let config = Config {
        apps: cli
            .apps
            .iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect(),
        access_token_ttl: cli.access_token_ttl,
        refresh_token_ttl: cli.refresh_token_ttl,
        public_url: cli.public_url.unwrap_or_else(|| format!("http://{addr}")),
        cors_origins: cli
            .cors_origins
            .iter()
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty())
            .collect(),
        jwt_secrets,
        hashing: HashLimits {
            concurrency,
            queue: cli.hash_queue.unwrap_or(concurrency * 8),
        },
        limits: RateLimits {
            login_failures_per_account: cli.login_failures_per_account,
            login_failures_per_ip: cli.login_failures_per_ip,
            key_login_failures_per_ip: cli.key_login_failures_per_ip,
            anonymous_logins_per_ip: cli.anonymous_logins_per_ip,
            registrations_per_ip: cli.registrations_per_ip,
            emails_per_address: cli.emails_per_address,
            emails_per_ip: cli.emails_per_ip,
            ..RateLimits::default()
        },
        trusted_proxies,
        sweep_interval: Duration::from_secs(cli.sweep_interval.max(1)),
        body_read_timeout: Duration::from_secs(cli.body_read_timeout.max(1)),
        audit_retention: Duration::from_secs(cli.audit_retention_days.saturating_mul(86_400)),
        metrics_on_main: !cli.no_metrics && cli.metrics_listen.is_none(),
        max_key_lifetime: cli.max_key_lifetime_days.map(days),
        disable_unused_keys_after: cli.disable_unused_keys_after_days.map(days),
        email: EmailConfig {
            transport: match (cli.smtp_url, cli.mail_dir) {
                (Some(url), _) => Some(MailTransport::Smtp {
                    url,
                    username: std::env::var("APPKEYS_SMTP_USERNAME").ok(),
                    password: std::env::var("APPKEYS_SMTP_PASSWORD").ok(),
                }),
                (None, Some(dir)) => Some(MailTransport::Dir(dir)),
                (None, None) => None,
            },
            from: cli.mail_from,
            confirm_url: cli.confirm_url,
            reset_url: cli.reset_url,
            confirmation: cli.email_confirmation,
            token_ttl: Duration::from_secs(cli.email_token_ttl),
            send_timeout: Duration::from_secs(cli.email_send_timeout.max(1)),
            ..EmailConfig::default()
        },
    };
    let state = AppState::new(store.clone(), &config).await?;
    let sweeper = sweep::spawn(state.clone(), config.sweep_interval);
    let metrics_server = match cli.metrics_listen {
        Some(addr) if !cli.no_metrics => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            tracing::info!(addr = %listener.local_addr()?, "metrics listener");
            let router = appkeys_server::metrics_app(state.clone());
            Some(tokio::spawn(async move {
                let _ = axum::serve(listener, router).await;
            }))
        }
        _ => None,
    };
    let flusher = sweep::spawn_key_use_flush(
        state.clone(),
        Duration::from_secs(cli.last_used_interval.max(1)),
    );
    tracing::info!(
        backend = ?store.backend(),
        apps = ?config.apps,
        public_url = %config.public_url,
        "appkeys-server ready"
    );
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    let options = ServeOptions {
        header_read_timeout: Duration::from_secs(cli.header_read_timeout.max(1)),
        idle_timeout: Duration::from_secs(cli.idle_timeout.max(1)),
        max_connections: cli.max_connections.max(1),
        shutdown_timeout: Duration::from_secs(cli.shutdown_timeout),
    };
    serve::serve(listener, app(state.clone()), options, shutdown_signal()).await?;
    sweeper.abort();
    flusher.abort();
    if let Some(m) = metrics_server {
        m.abort();
    }
    state.drain_mail(Duration::from_secs(5)).await;
    if let Err(e) = tokio::time::timeout(Duration::from_secs(5), state.flush_key_uses()).await {
        tracing::warn!(error = %e, "writing API key last use at shutdown timed out");
    }
    // Bounded: connections still open were dropped at the deadline; give the pool a moment.
    let _ = tokio::time::timeout(Duration::from_secs(5), store.close()).await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
