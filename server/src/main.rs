//! `appkeys-server` command line: parse flags, open the database, serve until SIGINT/SIGTERM.

use std::{
    io::{IsTerminal, Write},
    net::SocketAddr,
};

use appkeys_server::{app, AppState, Config, Store};
use clap::Parser;

/// Self-hostable App Services-compatible auth server with user API keys.
///
/// Speaks the App Services client wire protocol (`/api/client/v2.0/...`) for the providers
/// local-userpass, anon-user and api-key. Every flag has an environment twin. Logs go to stderr
/// (filter with RUST_LOG, e.g. RUST_LOG=debug); stdout gets exactly one line
/// `listening on http://HOST:PORT`.
#[derive(Debug, Parser)]
#[command(name = "appkeys-server", version, about, long_about)]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "APPKEYS_LISTEN", default_value = "127.0.0.1:9090")]
    listen: SocketAddr,

    /// Database: sqlite://PATH (file and directory created if missing) or
    /// postgres://USER@HOST:PORT/DB (several instances may share one PostgreSQL database).
    #[arg(
        long,
        env = "APPKEYS_DATABASE_URL",
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

    /// Token signing secret (HS256). Instances sharing a database must share it. If unset: with
    /// SQLite a random secret is generated on first start into the file `jwt-secret` (mode 0600)
    /// next to the database file; with PostgreSQL it is generated once into the database's
    /// `settings` table, so all instances share it.
    #[arg(
        long,
        value_name = "SECRET",
        env = "APPKEYS_JWT_SECRET",
        hide_env_values = true
    )]
    jwt_secret: Option<String>,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    if let Err(e) = run(cli).await {
        tracing::error!("{e}");
        eprintln!("appkeys-server: {e}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::connect(&cli.database_url).await?;
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    let addr = listener.local_addr()?;
    let config = Config {
        apps: cli
            .apps
            .iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect(),
        access_token_ttl: cli.access_token_ttl,
        public_url: cli.public_url.unwrap_or_else(|| format!("http://{addr}")),
        cors_origins: cli
            .cors_origins
            .iter()
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty())
            .collect(),
        jwt_secret: cli.jwt_secret,
    };
    let state = AppState::new(store.clone(), &config).await?;
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
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    store.close().await;
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
