//! The storage layer: one `sqlx::AnyPool`, one set of portable SQL statements and one embedded
//! migrations directory, serving both SQLite (`sqlite://…`) and PostgreSQL (`postgres://…`).
//!
//! This file opens the database ([`Store`], its pools, migrations, readiness heartbeat); each entity's
//! SQL lives in a file of its own, each with its own `impl Store` block: [`users`], [`sessions`],
//! [`identities`] (composed into new accounts by [`accounts`]), [`keys`] (with the key-login batch of [`login_batch`]), [`email_tokens`], [`audit`],
//! [`rate_limits`], and [`backup`]. Nothing here knows about HTTP.

pub mod accounts;
pub mod audit;
mod backup;
mod devices;
pub mod email_tokens;
pub mod identities;
pub mod import;
pub mod keys;
mod login_batch;
pub mod oauth_flows;
pub mod rate_limits;
pub mod server_keys;
pub mod sessions;
pub mod users;
pub mod webhooks;

use std::path::{Path, PathBuf};

use sqlx::{any::AnyPoolOptions, AnyPool, Row};

use crate::util::{create_private_file, make_private, now_ms};
pub use login_batch::KeySession;
use login_batch::LoginBatcher;

pub use email_tokens::NewToken;
pub use keys::{ApiKey, CreateKeyError, NewKey};
pub use rate_limits::Counts;
pub use server_keys::{ServerKey, SERVER_PROVIDER};
pub use sessions::{NewSession, Session, SessionOwner};
pub use users::{CreateUserError, User};

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Errors opening or using the store.
#[derive(Debug)]
pub enum StoreError {
    /// The database URL is not usable.
    BadUrl(String),
    /// Filesystem trouble (SQLite directory, secret file).
    Io(std::io::Error),
    /// The database failed.
    Db(sqlx::Error),
    /// A migration failed.
    Migrate(sqlx::migrate::MigrateError),
    /// No SQLite database at this path (and [`StoreOptions::create`] is off).
    Missing(PathBuf),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::BadUrl(m) => write!(f, "bad database URL: {m}"),
            StoreError::Io(e) => write!(f, "i/o error: {e}"),
            StoreError::Db(e) => write!(f, "database error: {e}"),
            StoreError::Migrate(e) => write!(f, "migration error: {e}"),
            StoreError::Missing(path) => write!(
                f,
                "no database at {} (check --database-url; start appkeys-server once with it to create it, or pass --create to users import)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Db(e)
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e)
    }
}

/// Whether PostgreSQL aborted a transaction to break a deadlock (`40P01`) or a serialization conflict
/// (`40001`) — concurrent key logins hold key-share locks on the keys and users that a delete or disable
/// wants: running the transaction again is the remedy.
pub(crate) fn is_conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40P01" | "40001")))
}

/// Runs `attempt` again (at most 3 times in all) while it fails with [`is_conflict`].
pub(crate) async fn retry_conflicts<T, Fut>(
    mut attempt: impl FnMut() -> Fut,
) -> Result<T, sqlx::Error>
where
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(e) if tries < 3 && is_conflict(&e) => {
                tracing::debug!(error = %e, "transaction aborted by a lock conflict; running it again");
            }
            result => return result,
        }
    }
}

/// True when the error is a unique-constraint violation (a client conflict, not a server failure).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Longest wait for a pooled connection; past it the request fails (503) instead of hanging.
    pub acquire_timeout: std::time::Duration,
    /// Create a SQLite database that does not exist yet (serving); `false` (admin commands): refuse
    /// with [`StoreError::Missing`] instead of creating an empty one.
    pub create: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            acquire_timeout: std::time::Duration::from_secs(5),
            create: true,
        }
    }
}

/// The database: a pool of readers and the connection(s) that write. SQLite has one writer
/// connection (writes queue in the pool, fairly, instead of spinning on SQLite's busy lock; readers
/// never block it in WAL mode); PostgreSQL uses one pool for both.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    writer: AnyPool,
    logins: std::sync::Arc<LoginBatcher>,
    backend: Backend,
    sqlite_path: Option<PathBuf>,
    webhooks: webhooks::WebhookEvents,
}

/// Key-login batches in flight at once on PostgreSQL (see [`LoginBatcher::spawn`]).
const LOGIN_BATCHES_IN_FLIGHT: usize = 4;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

fn sqlite_file_path(url: &str) -> Result<PathBuf, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::BadUrl(url.to_owned()))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::BadUrl(
            "SQLite needs a file path (in-memory databases are not supported)".to_owned(),
        ));
    }
    Ok(PathBuf::from(path))
}

impl Store {
    /// This store, writing the webhook events `events` to the outbox (by default it writes none).
    pub fn with_webhooks(mut self, events: webhooks::WebhookEvents) -> Store {
        self.webhooks = events;
        self
    }

    /// Opens (creating if needed) the database at `url` with default options and applies the
    /// embedded migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, StoreOptions::default()).await
    }

    /// Opens (creating if needed) the database at `url` and applies the embedded migrations. A new
    /// SQLite data directory is created 0700 and the database files are kept 0600.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        if url.starts_with("sqlite:") {
            let path = sqlite_file_path(url)?;
            // `?mode=ro`: an existing database, read-only (inspection, or a replica): nothing is
            // created or migrated, and the server reports not ready (/readyz 503).
            let read_only = url
                .split_once('?')
                .is_some_and(|(_, q)| q.split('&').any(|p| p == "mode=ro"));
            if !options.create && !path.exists() {
                return Err(StoreError::Missing(path));
            }
            if !read_only {
                create_private_file(&path)?;
            }
            let mode = if read_only { "ro" } else { "rwc" };
            let sqlx_url = format!("sqlite://{}?mode={mode}", path.display());
            let sqlite_pool = |connections: u32| {
                AnyPoolOptions::new()
                    .max_connections(connections)
                    .acquire_timeout(options.acquire_timeout)
                    .after_connect(move |conn, _meta| {
                        Box::pin(async move {
                            let pragmas: &[&str] = if read_only {
                                &["PRAGMA busy_timeout = 10000", "PRAGMA foreign_keys = ON"]
                            } else {
                                &[
                                    "PRAGMA journal_mode = WAL",
                                    "PRAGMA busy_timeout = 10000",
                                    "PRAGMA foreign_keys = ON",
                                    "PRAGMA synchronous = NORMAL",
                                ]
                            };
                            for pragma in pragmas {
                                sqlx::query(pragma).execute(&mut *conn).await?;
                            }
                            Ok(())
                        })
                    })
            };
            let writer = sqlite_pool(1).connect(&sqlx_url).await?;
            let pool = sqlite_pool(8).connect(&sqlx_url).await?;
            let store = Store {
                logins: LoginBatcher::spawn(writer.clone(), Backend::Sqlite, 1),
                pool,
                writer,
                backend: Backend::Sqlite,
                sqlite_path: Some(path.clone()),
                webhooks: webhooks::WebhookEvents::default(),
            };
            if read_only {
                return Ok(store);
            }
            store.migrate().await?;
            // The WAL and shared-memory files exist now: make sure they are private too.
            for suffix in ["", "-wal", "-shm"] {
                let file = PathBuf::from(format!("{}{suffix}", path.display()));
                if file.exists() {
                    make_private(&file, 0o600)?;
                }
            }
            Ok(store)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(options.acquire_timeout)
                .connect(url)
                .await?;
            let store = Store {
                logins: LoginBatcher::spawn(
                    pool.clone(),
                    Backend::Postgres,
                    LOGIN_BATCHES_IN_FLIGHT,
                ),
                writer: pool.clone(),
                pool,
                backend: Backend::Postgres,
                sqlite_path: None,
                webhooks: webhooks::WebhookEvents::default(),
            };
            store.migrate().await?;
            Ok(store)
        } else {
            Err(StoreError::BadUrl(
                "expected sqlite://PATH or postgres://…".to_owned(),
            ))
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // PostgreSQL: the migrator holds an advisory lock, so instances starting together are
        // serialised. SQLite has no such lock: two processes may both see a migration as pending;
        // the loser's transaction fails (each migration is one transaction, so nothing is half
        // applied) and a retry finds it applied.
        let mut attempt = 0;
        loop {
            match MIGRATOR.run(&self.writer).await {
                Ok(()) => return Ok(()),
                Err(e) if self.backend == Backend::Sqlite && attempt < 10 => {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "migration raced with another instance; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                }
                Err(e) => return Err(StoreError::Migrate(e)),
            }
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQLite database file, if SQLite.
    pub fn sqlite_path(&self) -> Option<&Path> {
        self.sqlite_path.as_deref()
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    /// Open and idle connections per pool: `(pool, open, idle)`.
    pub fn pool_usage(&self) -> Vec<(&'static str, i64, i64)> {
        let usage = |p: &AnyPool| (i64::from(p.size()), p.num_idle() as i64);
        match self.backend {
            Backend::Sqlite => {
                let ((ro, ri), (wo, wi)) = (usage(&self.pool), usage(&self.writer));
                vec![("readers", ro, ri), ("writer", wo, wi)]
            }
            Backend::Postgres => {
                let (o, i) = usage(&self.pool);
                vec![("pool", o, i)]
            }
        }
    }

    /// A write transaction: `BEGIN IMMEDIATE` on SQLite (takes the write lock up front, so another
    /// process on the same file can never make it fail half-way), a plain `BEGIN` on PostgreSQL.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.writer.begin().await,
        }
    }

    /// Writes the heartbeat row: succeeds only while the database accepts writes (readiness).
    pub async fn heartbeat(&self) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO heartbeat (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = $1",
        )
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The integer a one-value query returns (`SELECT COUNT(*) …`; for tests and tools).
    pub async fn count(&self, sql: &str) -> Result<i64, sqlx::Error> {
        sqlx::query(sql).fetch_one(&self.pool).await?.try_get(0)
    }
}
