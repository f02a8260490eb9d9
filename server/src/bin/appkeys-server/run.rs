//! Serving: builds the configuration from the flags, opens the store, starts the jobs and the
//! listeners, and shuts down in order on SIGINT/SIGTERM.

use std::{
    io::Write,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use appkeys_server::config::{EmailConfig, MailTransport};
use appkeys_server::crypto::passwords;
use appkeys_server::crypto::secrets::{self, SecretError};
use appkeys_server::crypto::signing;
use appkeys_server::http::serve::{self, ServeOptions};
use appkeys_server::{
    app, jobs, metrics_app, AppState, Config, HashLimits, RateLimits, Store, StoreOptions,
};
use ipnet::IpNet;

use crate::cli::ServeArgs;

/// `(--token-claim, --app-token-claim, --app-audience)` as pairs.
#[allow(clippy::type_complexity)]
fn token_settings(
    cli: &ServeArgs,
) -> Result<
    (
        Vec<(String, String)>,
        Vec<(String, (String, String))>,
        Vec<(String, String)>,
    ),
    String,
> {
    let claim = |c: &str, flag: &str| {
        c.split_once('=')
            .map(|(n, v)| (n.trim().to_owned(), v.to_owned()))
            .ok_or_else(|| format!("{flag} {c}: expected NAME=VALUE"))
    };
    let token_claims = non_blank(&cli.token_claims)
        .map(|c| claim(c, "--token-claim"))
        .collect::<Result<Vec<_>, _>>()?;
    let app_token_claims = non_blank(&cli.app_token_claims)
        .map(|c| {
            let (app, rest) = c
                .split_once(':')
                .ok_or_else(|| format!("--app-token-claim {c}: expected APP:NAME=VALUE"))?;
            Ok::<_, String>((app.trim().to_owned(), claim(rest, "--app-token-claim")?))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let app_audiences = non_blank(&cli.app_audiences)
        .map(|a| {
            a.split_once('=')
                .map(|(app, aud)| (app.trim().to_owned(), aud.trim().to_owned()))
                .filter(|(app, aud)| !app.is_empty() && !aud.is_empty())
                .ok_or_else(|| format!("--app-audience {a}: expected APP=VALUE"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((token_claims, app_token_claims, app_audiences))
}

/// The entries of a repeatable flag that are not blank.
fn non_blank(values: &[String]) -> impl Iterator<Item = &str> {
    values
        .iter()
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
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

type Error = Box<dyn std::error::Error>;

/// Serves until SIGINT/SIGTERM, then stops in order: connections (within the shutdown deadline), the
/// jobs, queued mail, the last `lastUsedAt` values, the pool.
pub(crate) async fn run(mut cli: ServeArgs) -> Result<(), Error> {
    passwords::return_hash_memory_to_os();
    serve::raise_open_file_limit();
    let jwt_secrets = secrets(&cli)?;
    let signing_keys = match &cli.signing_key_file {
        Some(path) => signing::read_file(path)?,
        None => Vec::new(),
    };
    let introspection = match &cli.introspection_credentials_file {
        Some(path) => Some(secrets::read_credentials_file(path)?),
        None => None,
    };
    let admin_credentials = match &cli.admin_credentials_file {
        Some(path) => Some(secrets::read_credentials_file(path)?),
        None => None,
    };
    let (token_claims, app_token_claims, app_audiences) = token_settings(&cli)?;
    let custom_jwt = cli.custom_jwt.config()?;
    let social = cli.social.config()?;
    let webhook = cli.webhooks.config()?;
    let trusted_proxies = trusted_proxies(&cli.trust_proxy)?;
    let options = StoreOptions {
        acquire_timeout: Duration::from_secs(cli.db_acquire_timeout.max(1)),
        ..StoreOptions::default()
    };
    let store = Store::connect_with(&cli.database_url, options).await?;
    cli.public_url = public_url(cli.public_url.as_deref(), cli.listen)?;
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    let addr = listener.local_addr()?;
    let serve_options = ServeOptions {
        header_read_timeout: Duration::from_secs(cli.header_read_timeout.max(1)),
        idle_timeout: Duration::from_secs(cli.idle_timeout.max(1)),
        max_connections: cli.max_connections.max(1),
        max_connections_per_client: cli.max_connections_per_client,
        exempt: trusted_proxies.clone(),
        shutdown_timeout: Duration::from_secs(cli.shutdown_timeout),
    };
    let (metrics_listen, no_metrics) = (cli.metrics_listen, cli.no_metrics);
    let last_used_interval = Duration::from_secs(cli.last_used_interval.max(1));
    let audit_interval = Duration::from_secs(cli.audit_interval.max(1));
    let config = Config {
        signing_keys,
        introspection_credentials: introspection,
        admin_credentials,
        token_claims,
        app_token_claims,
        app_audiences,
        custom_jwt,
        social,
        webhook,
        ..config(cli, addr, jwt_secrets, trusted_proxies)
    };
    let state = AppState::new(store.clone(), &config).await?;
    let sweeper = jobs::spawn_sweep(state.clone(), config.sweep_interval);
    let metrics_server = match metrics_listen {
        Some(addr) if !no_metrics => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            tracing::info!(addr = %listener.local_addr()?, "metrics listener");
            let router = metrics_app(state.clone());
            Some(tokio::spawn(async move {
                let _ = axum::serve(listener, router).await;
            }))
        }
        _ => None,
    };
    let flusher = jobs::spawn_key_use_flush(state.clone(), last_used_interval);
    let audit_flusher = jobs::spawn_audit_flush(state.clone(), audit_interval);
    let import_resets =
        jobs::spawn_import_resets(state.clone(), config.import_reset_emails_per_minute);
    let webhooks = jobs::spawn_webhooks(state.clone());
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
    serve::serve(
        listener,
        app(state.clone()),
        serve_options,
        shutdown_signal(),
    )
    .await?;
    sweeper.abort();
    flusher.abort();
    audit_flusher.abort();
    import_resets.abort();
    webhooks.abort();
    if let Some(m) = metrics_server {
        m.abort();
    }
    state.drain_mail(Duration::from_secs(5)).await;
    if let Err(e) = tokio::time::timeout(Duration::from_secs(5), state.flush_key_uses()).await {
        tracing::warn!(error = %e, "writing API key last use at shutdown timed out");
    }
    match tokio::time::timeout(Duration::from_secs(5), state.flush_audit()).await {
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "writing aggregated audit events at shutdown failed")
        }
        Err(_) => tracing::warn!("writing aggregated audit events at shutdown timed out"),
        Ok(Ok(_)) => {}
    }
    // Bounded: connections still open were dropped at the deadline; give the pool a moment.
    let _ = tokio::time::timeout(Duration::from_secs(5), store.close()).await;
    tracing::info!("stopped");
    Ok(())
}

/// The `hostname` the location route hands out, which every Realm SDK sends all later requests to (with
/// `/api/client/v2.0/…` appended): `--public-url` as an origin, or — when `None` — the listen address.
/// Refused: no `--public-url` while listening on every interface (clients would be sent to `0.0.0.0`),
/// and a `--public-url` with a path, query or fragment (it would be doubled on the first request).
fn public_url(given: Option<&str>, listen: SocketAddr) -> Result<Option<String>, Error> {
    let Some(given) = given else {
        if listen.ip().is_unspecified() {
            return Err(format!(
                "--listen {listen} listens on every interface but no --public-url says where clients reach \
                 it: the location route would send every Realm SDK to http://{listen}. Set --public-url to \
                 the address clients use, e.g. --public-url https://auth.example.com"
            )
            .into());
        }
        return Ok(None);
    };
    let url = url::Url::parse(given).map_err(|e| format!("--public-url {given}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "--public-url {given}: expected http://HOST[:PORT] or https://HOST[:PORT]"
        )
        .into());
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "--public-url {given}: give the origin only (scheme, host and port, no path): Realm SDKs append \
             /api/client/v2.0/… to it; serve appkeys at the root of its own host name"
        )
        .into());
    }
    Ok(Some(given.trim_end_matches('/').to_owned()))
}

/// `--trust-proxy` values as networks (an address is a /32 or /128).
fn trusted_proxies(values: &[String]) -> Result<Vec<IpNet>, Error> {
    values
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<IpNet>()
                .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("--trust-proxy {p}: expected an IP address or CIDR").into())
        })
        .collect()
}

/// The server configuration of the flags (`addr`: the bound address, for the default public URL).
fn config(
    cli: ServeArgs,
    addr: SocketAddr,
    jwt_secrets: Vec<String>,
    trusted_proxies: Vec<IpNet>,
) -> Config {
    let trimmed = |values: &[String]| -> Vec<String> {
        values
            .iter()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let concurrency = cli
        .hash_concurrency
        .unwrap_or(HashLimits::default().concurrency)
        .max(1);
    Config {
        apps: trimmed(&cli.apps),
        access_token_ttl: cli.access_token_ttl,
        refresh_token_ttl: cli.refresh_token_ttl,
        public_url: cli.public_url.unwrap_or_else(|| format!("http://{addr}")),
        cors_origins: trimmed(&cli.cors_origins),
        jwt_secrets,
        issuer: cli
            .issuer
            .map(|i| i.trim().to_owned())
            .filter(|i| !i.is_empty()),
        min_password_length: cli.min_password_length as usize,
        import_reset_emails_per_minute: cli.import_reset_emails_per_minute,
        max_sessions_per_key: cli.max_sessions_per_key,
        max_sessions_per_user: cli.max_sessions_per_user,
        audiences: trimmed(&cli.audiences),
        hashing: HashLimits {
            concurrency,
            queue: cli.hash_queue.unwrap_or(concurrency * 8),
        },
        limits: RateLimits {
            login_failures_per_account: cli.login_failures_per_account,
            login_failures_per_account_hour: cli.login_failures_per_account_hour,
            login_failures_per_ip: cli.login_failures_per_ip,
            logins_per_user_per_client: cli.logins_per_user_per_client,
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
        api_key_scopes: cli.api_key_scopes.clone(),
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
        ..Config::default()
    }
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
