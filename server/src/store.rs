//! The storage layer: one `sqlx::AnyPool`, one set of portable SQL statements and one embedded
//! migrations directory, serving both SQLite (`sqlite://…`) and PostgreSQL (`postgres://…`).

use std::path::{Path, PathBuf};

use crate::audit::{self, Event};

use sqlx::{
    any::{AnyPoolOptions, AnyRow},
    AnyPool, Row,
};

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
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::BadUrl(m) => write!(f, "bad database URL: {m}"),
            StoreError::Io(e) => write!(f, "i/o error: {e}"),
            StoreError::Db(e) => write!(f, "database error: {e}"),
            StoreError::Migrate(e) => write!(f, "migration error: {e}"),
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

/// True when the error is a unique-constraint violation (a client conflict, not a server failure).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// A user row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub id: String,
    /// App id.
    pub app_id: String,
    /// Provider the account belongs to (`local-userpass` or `anon-user`).
    pub provider: String,
    /// Identity id shown in the profile.
    pub identity_id: String,
    /// Email (email/password users).
    pub email: Option<String>,
    /// Argon2id PHC string (email/password users).
    pub password_hash: Option<String>,
    /// Disabled by an operator: no login, no session.
    pub disabled: bool,
    /// Confirmed (always, unless registered while `--email-confirmation` was on and not confirmed yet).
    pub confirmed: bool,
    /// Creation time (ms since the epoch).
    pub created_at: i64,
}

/// A session row joined with its user's provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Session id.
    pub id: String,
    /// User id.
    pub user_id: String,
    /// App id.
    pub app_id: String,
    /// Provider used to open the session.
    pub provider: String,
    /// Key used to open the session, if any.
    pub api_key_id: Option<String>,
    /// Device id.
    pub device_id: String,
    /// The user's own provider (`anon-user` for anonymous users).
    pub user_provider: String,
    /// When the session was opened (ms since the epoch).
    pub created_at: i64,
}

/// An API key row (without its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Key id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Disabled flag.
    pub disabled: bool,
    /// Non-secret prefix.
    pub start: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last key login (ms).
    pub last_used_at: Option<i64>,
    /// Expiry (ms), if any.
    pub expires_at: Option<i64>,
}

/// A key to create.
#[derive(Debug, Clone, Copy)]
pub struct NewKey<'a> {
    /// Owner.
    pub user_id: &'a str,
    /// Name.
    pub name: &'a str,
    /// SHA-256 hex of the secret.
    pub key_hash: &'a str,
    /// Non-secret prefix.
    pub start: &'a str,
    /// Expiry (ms), if any.
    pub expires_at: Option<i64>,
}

/// Why a key could not be created.
#[derive(Debug)]
pub enum CreateKeyError {
    /// The user already holds the maximum number of keys.
    LimitReached,
    /// The user already has a key of that name.
    NameTaken,
    /// The database failed.
    Db(sqlx::Error),
}

/// Why a user could not be created.
#[derive(Debug)]
pub enum CreateUserError {
    /// The email is already registered in this app.
    EmailTaken,
    /// The database failed.
    Db(sqlx::Error),
}

/// A confirmation or password-reset token to store (only its hash is kept).
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    /// The public token id (`tokenId` of the link).
    pub id: &'a str,
    /// What it is for.
    pub purpose: Purpose,
    /// SHA-256 hex of the secret token.
    pub hash: &'a str,
    /// Expiry (ms since the epoch).
    pub expires_at: i64,
}

/// What an emailed token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirming a new account.
    Confirm,
    /// Resetting a password.
    Reset,
}

impl Purpose {
    /// The stored name (and the metrics label).
    pub const fn as_str(self) -> &'static str {
        match self {
            Purpose::Confirm => "confirm",
            Purpose::Reset => "reset",
        }
    }
}

/// What a new session needs.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    /// User id.
    pub user_id: &'a str,
    /// App id.
    pub app_id: &'a str,
    /// Login provider.
    pub provider: &'a str,
    /// Device id.
    pub device_id: &'a str,
}

/// The database.
/// Connection settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Longest wait for a pooled connection; past it the request fails (503) instead of hanging.
    pub acquire_timeout: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            acquire_timeout: std::time::Duration::from_secs(5),
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
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds (`2026-12-01T22:53:31.123Z`).
pub fn rfc3339(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

/// A new 24-hex id in ObjectId layout: 4 bytes of seconds since the epoch + 8 random bytes.
pub fn new_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 12];
    let secs = (now_ms() / 1000) as u32;
    bytes[..4].copy_from_slice(&secs.to_be_bytes());
    rand::rngs::OsRng.fill_bytes(&mut bytes[4..]);
    hex::encode(bytes)
}

/// Inserts a confirmation or reset token row inside `tx`.
async fn insert_token(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: &str,
    token: NewToken<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO userpass_tokens (id, user_id, purpose, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token.id)
    .bind(user_id)
    .bind(token.purpose.as_str())
    .bind(token.hash)
    .bind(now_ms())
    .bind(token.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets the permission bits of `path` (Unix only).
fn make_private(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Creates `dir` and its missing parents 0700, unless it exists (the data and mail directories).
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates the database file 0600 (and missing parent directories 0700) unless it exists.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?;
    Ok(())
}

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
                logins: LoginBatcher::spawn(writer.clone(), Backend::Sqlite),
                pool,
                writer,
                backend: Backend::Sqlite,
                sqlite_path: Some(path.clone()),
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
                logins: LoginBatcher::spawn(pool.clone(), Backend::Postgres),
                writer: pool.clone(),
                pool,
                backend: Backend::Postgres,
                sqlite_path: None,
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

    // ---- rate limits ----

    /// The counts of a rate-limit bucket, if it has a row.
    pub async fn rate_counts(
        &self,
        bucket: &str,
    ) -> Result<Option<crate::ratelimit::Counts>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT window_start, previous, current FROM rate_limits WHERE bucket = $1",
        )
        .bind(bucket)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(crate::ratelimit::Counts {
                window_start: r.try_get(0)?,
                previous: r.try_get(1)?,
                current: r.try_get(2)?,
            })
        })
        .transpose()
    }

    /// Counts one event in `bucket` for the window starting at `start` (windows of `window` ms),
    /// atomically (one upsert, also across instances); returns the counts after it.
    pub async fn rate_increment(
        &self,
        bucket: &str,
        start: i64,
        window: i64,
    ) -> Result<crate::ratelimit::Counts, sqlx::Error> {
        let row = sqlx::query(
            "INSERT INTO rate_limits (bucket, window_start, previous, current) VALUES ($1, $2, 0, 1) \
             ON CONFLICT (bucket) DO UPDATE SET \
               previous = CASE WHEN rate_limits.window_start = $2 THEN rate_limits.previous \
                               WHEN rate_limits.window_start = $2 - $3 THEN rate_limits.current \
                               ELSE 0 END, \
               current = CASE WHEN rate_limits.window_start = $2 THEN rate_limits.current + 1 \
                              ELSE 1 END, \
               window_start = $2 \
             RETURNING window_start, previous, current",
        )
        .bind(bucket)
        .bind(start)
        .bind(window)
        .fetch_one(&self.writer)
        .await?;
        Ok(crate::ratelimit::Counts {
            window_start: row.try_get(0)?,
            previous: row.try_get(1)?,
            current: row.try_get(2)?,
        })
    }

    // ---- audit ----

    /// Records an event that changes nothing else (`login.failed`, `rate_limited`).
    pub async fn audit(&self, event: &Event) -> Result<(), sqlx::Error> {
        audit::insert(&self.writer, event).await
    }

    /// Audit entries, oldest first, optionally only of a user, of a key, or since a time (ms).
    pub async fn audit_entries(
        &self,
        user: Option<&str>,
        key: Option<&str>,
        since: Option<i64>,
    ) -> Result<Vec<audit::Entry>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT at, event, app, user_id, key_id, provider, ip, user_agent, outcome FROM audit \
             WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR key_id = $2) AND at >= $3 \
             ORDER BY at, id",
        )
        .bind(user.map(str::to_owned))
        .bind(key.map(str::to_owned))
        .bind(since.unwrap_or(0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit::Entry::from_row).collect()
    }

    /// Deletes up to `batch` audit rows older than `cutoff` (ms).
    pub async fn sweep_audit(&self, cutoff: i64, batch: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < $1 LIMIT $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }

    // ---- expiry ----

    /// Deletes up to `batch` sessions opened before `cutoff` (ms); returns how many.
    pub async fn sweep_sessions(&self, cutoff: i64, batch: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM sessions WHERE id IN \
             (SELECT id FROM sessions WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }

    /// Deletes up to `batch` anonymous users created before `cutoff` (ms) that have no session left.
    pub async fn sweep_anonymous_users(&self, cutoff: i64, batch: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM users WHERE id IN \
             (SELECT u.id FROM users u WHERE u.provider = 'anon-user' AND u.created_at < $1 \
              AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id) LIMIT $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }

    /// Deletes up to `batch` rate-limit rows whose windows ended before `cutoff` (ms).
    pub async fn sweep_rate_limits(&self, cutoff: i64, batch: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM rate_limits WHERE bucket IN \
             (SELECT bucket FROM rate_limits WHERE window_start < $1 LIMIT $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }

    // ---- users ----

    /// Creates a user (with its `user.registered` audit row, in one transaction). With
    /// `confirmation`, the user is unconfirmed and the token is stored with it.
    pub async fn create_user(
        &self,
        app_id: &str,
        provider: &str,
        email: Option<&str>,
        password_hash: Option<&str>,
        confirmation: Option<NewToken<'_>>,
        audit: &Event,
    ) -> Result<User, CreateUserError> {
        let user = User {
            id: new_id(),
            app_id: app_id.to_owned(),
            provider: provider.to_owned(),
            identity_id: new_id(),
            email: email.map(str::to_owned),
            password_hash: password_hash.map(str::to_owned),
            disabled: false,
            confirmed: confirmation.is_none(),
            created_at: now_ms(),
        };
        let result = async {
            let mut tx = self.write_tx().await?;
            let sql = if user.confirmed {
                "INSERT INTO users (id, app_id, provider, identity_id, email, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)"
            } else {
                "INSERT INTO users (id, app_id, provider, identity_id, email, password_hash, created_at, \
                 confirmed) VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE)"
            };
            sqlx::query(sql)
                .bind(&user.id)
                .bind(&user.app_id)
                .bind(&user.provider)
                .bind(&user.identity_id)
                .bind(user.email.clone())
                .bind(user.password_hash.clone())
                .bind(user.created_at)
                .execute(&mut *tx)
                .await?;
            if let Some(token) = confirmation {
                insert_token(&mut tx, &user.id, token).await?;
            }
            audit::insert(&mut *tx, &audit.clone().user(&user.id)).await?;
            tx.commit().await
        }
        .await;
        match result {
            Ok(_) => Ok(user),
            Err(e) if is_unique_violation(&e) => Err(CreateUserError::EmailTaken),
            Err(e) => Err(CreateUserError::Db(e)),
        }
    }

    fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
        Ok(User {
            id: row.try_get(0)?,
            app_id: row.try_get(1)?,
            provider: row.try_get(2)?,
            identity_id: row.try_get(3)?,
            email: row.try_get(4)?,
            password_hash: row.try_get(5)?,
            disabled: row.try_get::<i64, _>(6)? != 0,
            created_at: row.try_get(7)?,
            confirmed: row.try_get::<i64, _>(8)? != 0,
        })
    }

    const USER_COLUMNS: &'static str = "id, app_id, provider, identity_id, email, password_hash, \
         CASE WHEN disabled THEN 1 ELSE 0 END, created_at, CASE WHEN confirmed THEN 1 ELSE 0 END";

    /// The email/password user of `app_id` with that (normalised) email.
    pub async fn user_by_email(
        &self,
        app_id: &str,
        email: &str,
    ) -> Result<Option<User>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM users WHERE app_id = $1 AND email = $2",
            Self::USER_COLUMNS
        ))
        .bind(app_id)
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::user_from_row).transpose()
    }

    /// A user by id.
    pub async fn user(&self, id: &str) -> Result<Option<User>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM users WHERE id = $1",
            Self::USER_COLUMNS
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::user_from_row).transpose()
    }

    /// Every user, oldest first (admin commands).
    pub async fn list_users(&self) -> Result<Vec<User>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM users ORDER BY created_at, id",
            Self::USER_COLUMNS
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::user_from_row).collect()
    }

    /// Disables (ending its sessions) or enables a user. Returns whether the user exists.
    pub async fn set_user_disabled(&self, id: &str, disabled: bool) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let sql = if disabled {
            "UPDATE users SET disabled = TRUE WHERE id = $1"
        } else {
            "UPDATE users SET disabled = FALSE WHERE id = $1"
        };
        let n = sqlx::query(sql)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 && disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// How many sessions a user has.
    pub async fn count_user_sessions(&self, user_id: &str) -> Result<i64, sqlx::Error> {
        sqlx::query("SELECT COUNT(*) FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)
    }

    /// Ends every session of a user (with a `session.revoked` audit row); returns how many.
    pub async fn delete_user_sessions(
        &self,
        user_id: &str,
        audit: &Event,
    ) -> Result<u64, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        audit::insert(&mut *tx, &audit.clone().user(user_id)).await?;
        tx.commit().await?;
        Ok(n)
    }

    // ---- confirmation and password-reset tokens ----

    /// Stores a new token for `user_id`, replacing the user's earlier tokens of the same purpose (only
    /// the newest link works).
    pub async fn issue_token(&self, user_id: &str, token: NewToken<'_>) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM userpass_tokens WHERE user_id = $1 AND purpose = $2")
            .bind(user_id)
            .bind(token.purpose.as_str())
            .execute(&mut *tx)
            .await?;
        insert_token(&mut tx, user_id, token).await?;
        tx.commit().await
    }

    /// The user of an unexpired token (`id` with that hash and purpose), without using it up.
    pub async fn token_user(
        &self,
        id: &str,
        purpose: Purpose,
        hash: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT user_id FROM userpass_tokens \
             WHERE id = $1 AND purpose = $2 AND token_hash = $3 AND expires_at > $4",
        )
        .bind(id)
        .bind(purpose.as_str())
        .bind(hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get(0)).transpose()
    }

    /// Uses up an unexpired token inside `tx`: deletes it and returns its user, or `None` when the
    /// token is wrong, used or expired (so two requests with one token cannot both succeed).
    async fn take_token(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        id: &str,
        purpose: Purpose,
        hash: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query(
            "DELETE FROM userpass_tokens \
             WHERE id = $1 AND purpose = $2 AND token_hash = $3 AND expires_at > $4 RETURNING user_id",
        )
        .bind(id)
        .bind(purpose.as_str())
        .bind(hash)
        .bind(now_ms())
        .fetch_optional(&mut **tx)
        .await?;
        row.map(|r| r.try_get(0)).transpose()
    }

    /// Confirms the account of a confirmation token (using the token up), with a `user.confirmed`
    /// audit row. `None`: the token is wrong, used or expired.
    pub async fn confirm_user(
        &self,
        id: &str,
        hash: &str,
        audit: &Event,
    ) -> Result<Option<String>, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let Some(user_id) = Self::take_token(&mut tx, id, Purpose::Confirm, hash).await? else {
            return Ok(None);
        };
        sqlx::query("UPDATE users SET confirmed = TRUE WHERE id = $1")
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
        audit::insert(&mut *tx, &audit.clone().user(&user_id)).await?;
        tx.commit().await?;
        Ok(Some(user_id))
    }

    /// Sets a new password with a reset token (using it and the user's other reset tokens up), marks
    /// the account confirmed (the link proved the mailbox), ends every session of the user and writes
    /// a `password.reset` audit row, in one transaction. `None`: the token is wrong, used or expired.
    pub async fn reset_password(
        &self,
        id: &str,
        hash: &str,
        password_hash: &str,
        audit: &Event,
    ) -> Result<Option<String>, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let Some(user_id) = Self::take_token(&mut tx, id, Purpose::Reset, hash).await? else {
            return Ok(None);
        };
        sqlx::query("UPDATE users SET password_hash = $2, confirmed = TRUE WHERE id = $1")
            .bind(&user_id)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
        for sql in [
            "DELETE FROM userpass_tokens WHERE user_id = $1 AND purpose = 'reset'",
            "DELETE FROM sessions WHERE user_id = $1",
        ] {
            sqlx::query(sql).bind(&user_id).execute(&mut *tx).await?;
        }
        audit::insert(&mut *tx, &audit.clone().user(&user_id)).await?;
        tx.commit().await?;
        Ok(Some(user_id))
    }

    /// Marks a user confirmed (admin command). Returns whether the user exists.
    pub async fn set_user_confirmed(&self, id: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("UPDATE users SET confirmed = TRUE WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM userpass_tokens WHERE user_id = $1 AND purpose = 'confirm'")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Deletes up to `batch` tokens that expired before `cutoff` (ms).
    pub async fn sweep_tokens(&self, cutoff: i64, batch: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM userpass_tokens WHERE id IN \
             (SELECT id FROM userpass_tokens WHERE expires_at < $1 LIMIT $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }

    /// The owner of key `id`, if the key exists.
    pub async fn key_owner(&self, id: &str) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query("SELECT user_id FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get(0)).transpose()
    }

    /// A consistent copy of the SQLite database at `target` (`VACUUM INTO`, safe while servers
    /// write), made 0600.
    pub async fn backup(&self, target: &Path) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::BadUrl(
                "backup copies SQLite databases; for PostgreSQL use pg_dump".to_owned(),
            ));
        }
        if target.exists() {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists", target.display()),
            )));
        }
        create_private_file(target)?;
        std::fs::remove_file(target)?;
        sqlx::query("VACUUM INTO $1")
            .bind(target.display().to_string())
            .execute(&self.pool)
            .await?;
        make_private(target, 0o600)?;
        Ok(())
    }

    /// Deletes a user with its sessions and keys (and a `user.deleted` audit row). Returns whether
    /// the user existed.
    pub async fn delete_user(&self, id: &str, audit: &Event) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM api_keys WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            audit::insert(&mut *tx, &audit.clone().user(id)).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    // ---- sessions ----

    /// Opens a session for a user (not via an API key), with its `login.succeeded` audit row.
    pub async fn create_session(
        &self,
        s: NewSession<'_>,
        audit: &Event,
    ) -> Result<String, sqlx::Error> {
        let id = new_id();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, app_id, provider, api_key_id, device_id, created_at) \
             VALUES ($1, $2, $3, $4, NULL, $5, $6)",
        )
        .bind(&id)
        .bind(s.user_id)
        .bind(s.app_id)
        .bind(s.provider)
        .bind(s.device_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        audit::insert(&mut *tx, &audit.clone().user(s.user_id)).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A new anonymous user of `app_id` with its first session, in one transaction (no user is ever
    /// left without a session by a failure in between). Returns `(user id, session id)`.
    pub async fn anonymous_login(
        &self,
        app_id: &str,
        device_id: &str,
        audit: &Event,
    ) -> Result<(String, String), sqlx::Error> {
        let (user_id, session_id, now) = (new_id(), new_id(), now_ms());
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO users (id, app_id, provider, identity_id, email, password_hash, created_at) \
             VALUES ($1, $2, 'anon-user', $3, NULL, NULL, $4)",
        )
        .bind(&user_id)
        .bind(app_id)
        .bind(new_id())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, app_id, provider, api_key_id, device_id, created_at) \
             VALUES ($1, $2, $3, 'anon-user', NULL, $4, $5)",
        )
        .bind(&session_id)
        .bind(&user_id)
        .bind(app_id)
        .bind(device_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit::insert(&mut *tx, &audit.clone().user(&user_id)).await?;
        tx.commit().await?;
        Ok((user_id, session_id))
    }

    /// Logs in with the key whose hash is `key_hash`, for `app_id`: if the key exists, belongs to a
    /// user of that app and is enabled, opens a session. The login joins the batch of key logins in
    /// flight ([`LoginBatcher`]): one statement does the indexed lookups and the inserts of the whole
    /// batch, inserting only for enabled keys, and nothing locks or writes the key row, so logins with
    /// one hot key do not serialise. A login that races a disable (read the key before the disable
    /// committed, inserted after it deleted the key's sessions) leaves a session that
    /// [`Store::session`] refuses, because its key is disabled: revocation stays immediate. The answer
    /// comes after the statement committed. `last_used_at` is not written here (see
    /// [`Store::touch_keys`]).
    /// Returns `(user id, session id, key id)`.
    /// Each opened session gets its `login.succeeded` audit row in the batch's transaction.
    pub async fn key_login(
        &self,
        app_id: &str,
        key_hash: &str,
        device_id: &str,
        client: &crate::audit::Client,
    ) -> Result<Option<(String, String, String)>, sqlx::Error> {
        let login = PendingLogin {
            session_id: new_id(),
            app_id: app_id.to_owned(),
            device_id: device_id.to_owned(),
            key_hash: key_hash.to_owned(),
            ip: client.ip.to_string(),
            user_agent: client.user_agent.clone(),
        };
        self.logins.login(login).await
    }

    /// Records the last use of keys: `(key id, ms)` pairs, each only moving `last_used_at` forward.
    /// One transaction for the whole batch.
    pub async fn touch_keys(&self, uses: &[(String, i64)]) -> Result<(), sqlx::Error> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        for (id, at) in uses {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = $1 \
                 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
            )
            .bind(*at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// A live session by id.
    /// A session opened with a key that is disabled (or gone) is not live, even if a login that
    /// raced the disable inserted it after the disable deleted the key's sessions.
    pub async fn session(&self, id: &str) -> Result<Option<Session>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT s.id, s.user_id, s.app_id, s.provider, s.api_key_id, s.device_id, u.provider, \
             s.created_at FROM sessions s JOIN users u ON u.id = s.user_id AND NOT u.disabled \
             LEFT JOIN api_keys k ON k.id = s.api_key_id \
             WHERE s.id = $1 AND (s.api_key_id IS NULL OR (k.id IS NOT NULL AND NOT k.disabled \
               AND (k.expires_at IS NULL OR k.expires_at > $2)))",
        )
        .bind(id)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Session {
            id: row.try_get(0)?,
            user_id: row.try_get(1)?,
            app_id: row.try_get(2)?,
            provider: row.try_get(3)?,
            api_key_id: row.try_get(4)?,
            device_id: row.try_get(5)?,
            user_provider: row.try_get(6)?,
            created_at: row.try_get(7)?,
        }))
    }

    /// Ends a session (no error if it does not exist).
    /// (With a `session.revoked` audit row when there was one.)
    pub async fn delete_session(&self, id: &str, audit: &Event) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let row =
            sqlx::query("DELETE FROM sessions WHERE id = $1 RETURNING user_id, app_id, api_key_id")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(row) = row {
            let mut event = audit.clone().user(row.try_get::<String, _>(0)?.as_str());
            event.app = Some(row.try_get(1)?);
            event.key_id = row.try_get(2)?;
            audit::insert(&mut *tx, &event).await?;
        }
        tx.commit().await
    }

    // ---- API keys ----

    const KEY_COLUMNS: &'static str = "id, name, CASE WHEN disabled THEN 1 ELSE 0 END, start, \
         created_at, last_used_at, expires_at";

    fn key_from_row(row: &AnyRow) -> Result<ApiKey, sqlx::Error> {
        Ok(ApiKey {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            disabled: row.try_get::<i64, _>(2)? != 0,
            start: row.try_get(3)?,
            created_at: row.try_get(4)?,
            last_used_at: row.try_get(5)?,
            expires_at: row.try_get(6)?,
        })
    }

    /// Creates a key for a user, enforcing the per-user limit and name uniqueness atomically.
    pub async fn create_key(
        &self,
        new: NewKey<'_>,
        limit: i64,
        audit: &Event,
    ) -> Result<ApiKey, CreateKeyError> {
        let NewKey {
            user_id,
            name,
            key_hash,
            start,
            expires_at,
        } = new;
        let result = async {
            let mut tx = self.write_tx().await?;
            let seq = sqlx::query(
                "UPDATE users SET key_count = key_count + 1, key_seq = key_seq + 1 \
                 WHERE id = $1 AND key_count < $2 RETURNING key_seq",
            )
            .bind(user_id)
            .bind(limit)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(seq) = seq else {
                tx.rollback().await?;
                return Ok(None);
            };
            let seq: i64 = seq.try_get(0)?;
            let key = ApiKey {
                id: new_id(),
                name: name.to_owned(),
                disabled: false,
                start: start.to_owned(),
                created_at: now_ms(),
                last_used_at: None,
                expires_at,
            };
            sqlx::query(
                "INSERT INTO api_keys (id, user_id, name, key_hash, start, disabled, seq, created_at, \
                 last_used_at, expires_at) VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7, NULL, $8)",
            )
            .bind(&key.id)
            .bind(user_id)
            .bind(name)
            .bind(key_hash)
            .bind(start)
            .bind(seq)
            .bind(key.created_at)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            audit::insert(&mut *tx, &audit.clone().user(user_id).key(&key.id)).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Some(key))
        }
        .await;
        match result {
            Ok(Some(key)) => Ok(key),
            Ok(None) => Err(CreateKeyError::LimitReached),
            Err(e) if is_unique_violation(&e) => Err(CreateKeyError::NameTaken),
            Err(e) => Err(CreateKeyError::Db(e)),
        }
    }

    /// A user's keys in creation order.
    pub async fn list_keys(&self, user_id: &str) -> Result<Vec<ApiKey>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM api_keys WHERE user_id = $1 ORDER BY seq, created_at, id",
            Self::KEY_COLUMNS
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::key_from_row).collect()
    }

    /// One of a user's keys.
    pub async fn key(&self, user_id: &str, id: &str) -> Result<Option<ApiKey>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM api_keys WHERE user_id = $1 AND id = $2",
            Self::KEY_COLUMNS
        ))
        .bind(user_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::key_from_row).transpose()
    }

    /// Enables or disables one of a user's keys; disabling ends the sessions opened with it.
    /// Returns whether the key exists.
    pub async fn set_key_disabled(
        &self,
        user_id: &str,
        id: &str,
        disabled: bool,
        audit: &Event,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let sql = if disabled {
            "UPDATE api_keys SET disabled = TRUE WHERE user_id = $1 AND id = $2"
        } else {
            "UPDATE api_keys SET disabled = FALSE WHERE user_id = $1 AND id = $2"
        };
        let n = sqlx::query(sql)
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 && disabled {
            sqlx::query("DELETE FROM sessions WHERE api_key_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if n > 0 {
            audit::insert(&mut *tx, &audit.clone().user(user_id).key(id)).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Whether the key with hash `key_hash` of a user of `app_id` exists, is enabled, and has expired
    /// (why a key login failed, for the `APIKeyExpired` answer).
    pub async fn key_expired(&self, app_id: &str, key_hash: &str) -> Result<bool, sqlx::Error> {
        let row = sqlx::query(
            "SELECT 1 FROM api_keys k JOIN users u ON u.id = k.user_id \
             WHERE k.key_hash = $1 AND u.app_id = $2 AND NOT k.disabled AND NOT u.disabled \
             AND k.expires_at IS NOT NULL AND k.expires_at <= $3",
        )
        .bind(key_hash)
        .bind(app_id)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Keys (enabled) whose last use — or creation, if never used — is before `cutoff` (ms):
    /// `(key id, user id)`, at most `batch`.
    pub async fn unused_keys(
        &self,
        cutoff: i64,
        batch: i64,
    ) -> Result<Vec<(String, String)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, user_id FROM api_keys WHERE NOT disabled \
             AND COALESCE(last_used_at, created_at) < $1 ORDER BY created_at LIMIT $2",
        )
        .bind(cutoff)
        .bind(batch)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Deletes the sessions of key `id` if the key is (still) disabled.
    pub async fn delete_sessions_of_disabled_key(&self, id: &str) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM sessions WHERE api_key_id = $1 AND EXISTS \
             (SELECT 1 FROM api_keys WHERE id = $1 AND disabled)",
        )
        .bind(id)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }

    /// Deletes one of a user's keys and the sessions opened with it. Returns whether it existed.
    pub async fn delete_key(
        &self,
        user_id: &str,
        id: &str,
        audit: &Event,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("DELETE FROM api_keys WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            sqlx::query("DELETE FROM sessions WHERE api_key_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE users SET key_count = key_count - 1 WHERE id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            audit::insert(&mut *tx, &audit.clone().user(user_id).key(id)).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }
}

/// One API-key login waiting for its batch.
#[derive(Debug)]
struct PendingLogin {
    session_id: String,
    app_id: String,
    device_id: String,
    key_hash: String,
    ip: String,
    user_agent: Option<String>,
}

type LoginResult = Result<Option<(String, String, String)>, sqlx::Error>;

/// Group commit for API-key logins: one task takes the logins waiting (at most
/// [`LoginBatcher::MAX_BATCH`], without waiting for more: no added latency when idle) and opens their
/// sessions with one statement, then answers each. The queue is bounded (callers wait when it is
/// full), so memory stays bounded under any load.
#[derive(Debug)]
pub struct LoginBatcher {
    queue: tokio::sync::mpsc::Sender<(PendingLogin, tokio::sync::oneshot::Sender<LoginResult>)>,
}

impl LoginBatcher {
    /// Most logins per statement.
    pub const MAX_BATCH: usize = 64;
    const QUEUE: usize = 4096;

    fn spawn(pool: AnyPool, backend: Backend) -> std::sync::Arc<LoginBatcher> {
        let (queue, mut rx) = tokio::sync::mpsc::channel(Self::QUEUE);
        tokio::spawn(async move {
            let mut batch: Vec<(PendingLogin, tokio::sync::oneshot::Sender<LoginResult>)> =
                Vec::with_capacity(Self::MAX_BATCH);
            while rx.recv_many(&mut batch, Self::MAX_BATCH).await > 0 {
                let (logins, waiters): (Vec<PendingLogin>, Vec<_>) = batch.drain(..).unzip();
                let results = Self::run(&pool, backend, &logins).await;
                for (login, waiter) in logins.iter().zip(waiters) {
                    let result = match &results {
                        Ok(found) => Ok(found
                            .iter()
                            .find(|(session, _, _)| *session == login.session_id)
                            .map(|(session, user, key)| {
                                (user.clone(), session.clone(), key.clone())
                            })),
                        Err(e) => Err(copy_error(e)),
                    };
                    let _ = waiter.send(result);
                }
            }
        });
        std::sync::Arc::new(LoginBatcher { queue })
    }

    async fn login(&self, login: PendingLogin) -> LoginResult {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.queue
            .send((login, tx))
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        rx.await.map_err(|_| sqlx::Error::PoolClosed)?
    }

    /// The sessions opened: `(session id, user id, key id)`.
    async fn run(
        pool: &AnyPool,
        backend: Backend,
        logins: &[PendingLogin],
    ) -> Result<Vec<(String, String, String)>, sqlx::Error> {
        let values: Vec<String> = (0..logins.len())
            .map(|i| {
                let n = i * 4;
                format!("(${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4)
            })
            .collect();
        let sql = format!(
            "WITH v (sid, app, dev, hash) AS (VALUES {}) \
             INSERT INTO sessions (id, user_id, app_id, provider, api_key_id, device_id, created_at) \
             SELECT v.sid, k.user_id, v.app, 'api-key', k.id, v.dev, ${} \
             FROM v JOIN api_keys k ON k.key_hash = v.hash \
             JOIN users u ON u.id = k.user_id AND u.app_id = v.app AND NOT u.disabled \
             WHERE NOT k.disabled AND (k.expires_at IS NULL OR k.expires_at > ${}) \
             RETURNING id, user_id, api_key_id",
            values.join(", "),
            logins.len() * 4 + 1,
            logins.len() * 4 + 1
        );
        let mut query = sqlx::query(&sql);
        for l in logins {
            query = query
                .bind(l.session_id.as_str())
                .bind(l.app_id.as_str())
                .bind(l.device_id.as_str())
                .bind(l.key_hash.as_str());
        }
        let mut tx = match backend {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => pool.begin().await?,
        };
        let rows = query.bind(now_ms()).fetch_all(&mut *tx).await?;
        let opened: Vec<(String, String, String)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()?;
        // Their `login.succeeded` audit rows: one multi-row insert for the whole batch.
        let events: Vec<Event> = opened
            .iter()
            .filter_map(|(session, user, key)| {
                let login = logins.iter().find(|l| l.session_id == *session)?;
                Some(Event {
                    ip: Some(login.ip.clone()),
                    user_agent: login.user_agent.clone(),
                    ..Event::new("login.succeeded", "success")
                        .app(&login.app_id)
                        .user(user)
                        .key(key)
                        .provider("api-key")
                })
            })
            .collect();
        audit::insert_many(&mut *tx, &events).await?;
        tx.commit().await?;
        Ok(opened)
    }
}

/// An error of a batch, for each of its logins (sqlx errors cannot be cloned): an unavailable
/// database stays "unavailable" (503), anything else is an internal error.
fn copy_error(e: &sqlx::Error) -> sqlx::Error {
    if crate::error::is_unavailable(e) {
        sqlx::Error::Io(std::io::Error::other(e.to_string()))
    } else {
        sqlx::Error::Protocol(e.to_string())
    }
}
