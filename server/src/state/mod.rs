//! The state shared by all handlers and jobs — the store, the services and the settings, built in one
//! place — and token issuing.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

use appkeys_protocol::ErrorCode;
use ipnet::IpNet;

use crate::config::{Config, RateLimits};
use crate::crypto::passwords::Hasher;
use crate::crypto::secrets::{self, SecretError};
use crate::crypto::signing::{self, SigningKey};
use crate::crypto::token::Signer;
use crate::db::webhooks::{WebhookEvents, LOGGED_IN};
use crate::db::{SessionOwner, Store, StoreError};
use crate::error::AppError;
use crate::model::{password, Event};
use crate::service::{
    audit_batch::AuditBatch,
    custom_jwt::JwtVerifier,
    mail::Mailer,
    metrics::Metrics,
    ratelimit::{LocalLimit, RateLimiter, HOURLY_WINDOW},
    social::Social,
    webhooks::Webhooks,
};

mod tokens;

use tokens::per_app_tokens;
pub(crate) use tokens::TokenSubject;

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) signer: Signer,
    apps: HashSet<String>,
    access_ttl: i64,
    pub(crate) refresh_ttl: i64,
    pub(crate) public_url: String,
    /// `iss` of access tokens, `issuer` of discovery.
    pub(crate) issuer: String,
    /// Audiences of each app's access tokens besides the app id.
    audiences: HashMap<String, Vec<String>>,
    /// Fixed claims of each app's access tokens.
    token_claims: HashMap<String, BTreeMap<String, String>>,
    /// Shortest password accepted at registration and reset.
    pub(crate) min_password_length: usize,
    /// Callers of the introspection endpoint (`None`: off).
    pub(crate) introspection_credentials: Option<Vec<(String, String)>>,
    /// Callers of the admin API (`None`: off).
    pub(crate) admin_credentials: Option<Vec<(String, String)>>,
    /// The webhook endpoint (`None`: events are not delivered).
    pub(crate) webhooks: Option<Arc<Webhooks>>,
    pub(crate) cors_origins: Vec<String>,
    pub(crate) hasher: Hasher,
    pub(crate) limiter: RateLimiter,
    /// The same over hourly windows (failed password logins per account and hour).
    pub(crate) hourly_limiter: RateLimiter,
    /// Successful logins per user (subject) and client, counted in this instance's memory.
    pub(crate) login_ceiling: LocalLimit,
    /// Throttled accounts with a login of an unknown device waiting out its delay (one at a time each).
    pub(crate) slow_lane: std::sync::Mutex<HashSet<String>>,
    pub(crate) limits: RateLimits,
    trusted_proxies: Vec<IpNet>,
    pub(crate) body_read_timeout: std::time::Duration,
    pub(crate) audit_retention: std::time::Duration,
    pub(crate) metrics: Metrics,
    /// Events audited in aggregate (refused requests, API-key logins), written by the flush job.
    pub(crate) audit_batch: AuditBatch,
    pub(crate) metrics_on_main: bool,
    pub(crate) max_key_lifetime: Option<std::time::Duration>,
    /// The scopes user API keys may carry, with their descriptions.
    pub(crate) key_scopes: Vec<(String, String)>,
    pub(crate) disable_unused_keys_after: Option<std::time::Duration>,
    /// Confirmation and reset email (`None`: not configured).
    pub(crate) mailer: Option<Mailer>,
    /// The `custom-token` provider (`None`: off).
    pub(crate) custom_jwt: Option<JwtVerifier>,
    /// Google, Apple, Facebook and the authentication function (each off when `None`).
    pub(crate) social: Social,
    /// The app pages the web redirect flow may send its result to (exact match).
    pub(crate) redirect_urls: Vec<String>,
    /// Registration creates unconfirmed accounts.
    pub(crate) confirmation: bool,
    /// Lifetime of confirmation and reset tokens.
    pub(crate) token_ttl: std::time::Duration,
    /// Slots for the work of `confirm/send` and `reset/send` done after answering.
    pub(crate) email_jobs: Arc<tokio::sync::Semaphore>,
    /// When the database last took the readiness write: `/readyz` writes at most every
    /// [`READY_EVERY`], however often it is asked.
    ready_at: std::sync::Mutex<Option<std::time::Instant>>,
    /// Session caps: `(per key, per user)`, 0 = none.
    session_caps: (u64, u64),
    /// Logins since the sessions were last trimmed to the caps: key id (or `user:` + user id of custom
    /// JWT logins) → (owner, count).
    since_trim: std::sync::Mutex<std::collections::HashMap<String, (String, u64)>>,
    /// API-key logins not yet written to `last_used_at`: key id → time of the latest login (ms).
    key_uses: std::sync::Mutex<std::collections::HashMap<String, i64>>,
}

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

/// Why the state could not be built.
#[derive(Debug)]
pub enum StateError {
    /// The signing secret.
    Secret(SecretError),
    /// The database.
    Store(StoreError),
    /// Anything else (hashing setup).
    Other(String),
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::Secret(e) => e.fmt(f),
            StateError::Store(e) => e.fmt(f),
            StateError::Other(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for StateError {}

impl From<SecretError> for StateError {
    fn from(e: SecretError) -> Self {
        StateError::Secret(e)
    }
}

impl From<StoreError> for StateError {
    fn from(e: StoreError) -> Self {
        StateError::Store(e)
    }
}

/// How long a successful readiness write counts (so a flood of `/readyz` costs one write per this).
const READY_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// `confirm/send` and `reset/send` requests whose lookup, token and email may run after the answer.
const EMAIL_JOBS: usize = 64;

fn ttl(secs: u64) -> i64 {
    secs.min(i64::MAX as u64 / 4) as i64
}

impl AppState {
    /// Builds the state: resolves the signing secrets (configured, or — SQLite only — the generated
    /// file next to the database) and prepares the password hasher.
    pub async fn new(store: Store, config: &Config) -> Result<AppState, StateError> {
        let events = config.webhook.as_ref().map(|w| w.events.clone());
        let store = store.with_webhooks(WebhookEvents::Only(Arc::new(events.unwrap_or_default())));
        let webhooks = match &config.webhook {
            Some(w) => Some(Arc::new(Webhooks::new(w).map_err(StateError::Other)?)),
            None => None,
        };
        let (audiences, token_claims) = per_app_tokens(config).map_err(StateError::Other)?;
        let (secrets, keys) = resolve_keys(&store, config).await?;
        let public_url = config.public_url.trim_end_matches('/').to_owned();
        let issuer = config.issuer.clone().unwrap_or_else(|| public_url.clone());
        let hashing = config.hashing;
        let hasher = tokio::task::spawn_blocking(move || Hasher::new(hashing))
            .await
            .map_err(|e| StateError::Other(e.to_string()))?
            .map_err(StateError::Other)?;
        let metrics = Metrics::new();
        let mailer = Mailer::new(&config.email, metrics.clone()).map_err(StateError::Other)?;
        let social = Social::new(&config.social).map_err(StateError::Other)?;
        let custom_jwt = match &config.custom_jwt {
            Some(c) => Some(JwtVerifier::new(c.clone()).map_err(StateError::Other)?),
            None => None,
        };
        Ok(AppState {
            inner: Arc::new(Inner {
                limiter: RateLimiter::new(store.clone(), config.limits.window),
                login_ceiling: LocalLimit::new(config.limits.window),
                slow_lane: Default::default(),
                hourly_limiter: RateLimiter::new(store.clone(), HOURLY_WINDOW),
                store,
                signer: Signer::new(&secrets, keys),
                apps: config.apps.iter().cloned().collect(),
                access_ttl: ttl(config.access_token_ttl),
                refresh_ttl: ttl(config.refresh_token_ttl),
                public_url,
                issuer,
                audiences,
                token_claims,
                introspection_credentials: config.introspection_credentials.clone(),
                admin_credentials: config.admin_credentials.clone(),
                min_password_length: config
                    .min_password_length
                    .clamp(password::MIN_LEN, password::MAX_LEN),
                cors_origins: config.cors_origins.clone(),
                hasher,
                limits: config.limits,
                trusted_proxies: config.trusted_proxies.clone(),
                body_read_timeout: config.body_read_timeout,
                audit_retention: config.audit_retention,
                metrics,
                audit_batch: AuditBatch::default(),
                mailer,
                custom_jwt,
                social,
                webhooks,
                redirect_urls: config.social.redirect_urls.clone(),
                confirmation: config.email.confirmation,
                token_ttl: config.email.token_ttl,
                email_jobs: Arc::new(tokio::sync::Semaphore::new(EMAIL_JOBS)),
                metrics_on_main: config.metrics_on_main,
                max_key_lifetime: config.max_key_lifetime,
                key_scopes: config.api_key_scopes.clone(),
                disable_unused_keys_after: config.disable_unused_keys_after,
                key_uses: Default::default(),
                session_caps: (config.max_sessions_per_key, config.max_sessions_per_user),
                since_trim: Default::default(),
                ready_at: Default::default(),
            }),
        })
    }

    /// Notes a successful login with key `key_id` of `user_id` at `at` (ms): `last_used_at` is written
    /// by [`AppState::flush_key_uses`]; every tenth of the session cap the key's (and its owner's)
    /// oldest sessions past the caps are ended, off the login path.
    pub(crate) fn key_used(&self, key_id: String, user_id: &str, at: i64) {
        let (per_key, per_user) = self.inner.session_caps;
        // Each cap is checked at a tenth of itself (the key's at a tenth of the per-key cap: a key
        // never overshoots its cap by more than a tenth).
        let key_due = self.trim_due(&key_id, user_id, per_key);
        let user_due = self.trim_due(&format!("user:{user_id}"), user_id, per_user);
        if key_due || user_due {
            self.trim_sessions(Some(key_id.clone()), user_id.to_owned());
        }
        self.note_use(key_id, at);
    }

    /// Notes a login of `user_id` that may come often (a custom JWT: a page load, say): every tenth of
    /// the session cap the user's oldest sessions past the cap are ended, off the login path.
    pub(crate) fn user_logged_in(&self, user_id: &str) {
        let per_user = self.inner.session_caps.1;
        if self.trim_due(&format!("user:{user_id}"), user_id, per_user) {
            self.trim_sessions(None, user_id.to_owned());
        }
    }

    /// Counts a login toward `counter` (a key id, or `user:` + a user id): whether a trim of the
    /// sessions past the caps is due (every tenth of `cap`, at most every 100 logins; never with no cap).
    fn trim_due(&self, counter: &str, user_id: &str, cap: u64) -> bool {
        /// Counters kept at most; past it they all start over (a trim then comes a little later).
        const MAX_COUNTERS: usize = 100_000;
        if cap == 0 {
            return false;
        }
        let every = (cap / 10).clamp(1, 100);
        let mut since = self
            .inner
            .since_trim
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if since.len() >= MAX_COUNTERS && !since.contains_key(counter) {
            since.clear();
        }
        let entry = since
            .entry(counter.to_owned())
            .or_insert_with(|| (user_id.to_owned(), 0));
        entry.1 += 1;
        let due = entry.1 >= every;
        if due {
            since.remove(counter);
        }
        due
    }

    /// Ends the oldest sessions past the caps of a key and of its owner (in the background).
    pub(crate) fn trim_sessions(&self, key_id: Option<String>, user_id: String) {
        let (store, (per_key, per_user)) = (self.inner.store.clone(), self.inner.session_caps);
        tokio::spawn(async move {
            let mut result = Ok(0);
            if let (Some(key), true) = (&key_id, per_key > 0) {
                result = store.trim_sessions(SessionOwner::Key(key), per_key).await;
            }
            if per_user > 0 && result.is_ok() {
                result = store
                    .trim_sessions(SessionOwner::User(&user_id), per_user)
                    .await;
            }
            if let Err(e) = result {
                tracing::warn!(error = %e, "ending sessions past the caps failed");
            }
        });
    }

    fn note_use(&self, key_id: String, at: i64) {
        let mut uses = self
            .inner
            .key_uses
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let latest = uses.entry(key_id).or_insert(at);
        *latest = (*latest).max(at);
    }

    /// Writes the pending `last_used_at` values in one transaction (only ever moving them forward).
    /// On failure they are kept for the next flush.
    pub async fn flush_key_uses(&self) -> Result<usize, sqlx::Error> {
        let pending: Vec<(String, i64)> = {
            let mut uses = self
                .inner
                .key_uses
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            uses.drain().collect()
        };
        if let Err(e) = self.inner.store.touch_keys(&pending).await {
            for (id, at) in pending {
                self.note_use(id, at);
            }
            return Err(e);
        }
        Ok(pending.len())
    }

    /// Whether the database takes a write (the heartbeat), checked at most every [`READY_EVERY`].
    pub async fn ready(&self) -> Result<(), sqlx::Error> {
        let fresh = |at: &Option<std::time::Instant>| at.is_some_and(|t| t.elapsed() < READY_EVERY);
        if fresh(
            &self
                .inner
                .ready_at
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        ) {
            return Ok(());
        }
        self.inner.store.heartbeat().await?;
        *self
            .inner
            .ready_at
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
        Ok(())
    }

    /// Counts `event` in the metrics and in the aggregated audit log (one row per event and interval).
    pub(crate) fn count_event(&self, event: Event) {
        self.record(&event);
        self.audit_in_aggregate(event);
    }

    /// Counts `event` in the aggregated audit log only (one row per event and interval, with a count).
    pub(crate) fn audit_in_aggregate(&self, event: Event) {
        if !self.inner.audit_batch.record(event) {
            tracing::warn!("aggregated audit events: too many distinct events in this interval");
        }
    }

    /// Writes the aggregated audit events counted since the last flush.
    pub async fn flush_audit(&self) -> Result<usize, sqlx::Error> {
        self.inner.audit_batch.flush(&self.inner.store).await
    }

    /// Counts what `event` says in the metrics.
    /// The optional `user.logged_in` webhook event of a login (one write, only when it is delivered).
    pub(crate) async fn login_webhook(
        &self,
        event: &Event,
        user_id: &str,
        key_id: Option<&str>,
    ) -> Result<(), AppError> {
        let store = &self.inner.store;
        if !store.wants_webhook(LOGGED_IN) {
            return Ok(());
        }
        let mut event = event.clone().user(user_id);
        if let Some(key) = key_id {
            event = event.key(key);
        }
        store
            .webhook_event(LOGGED_IN, &event)
            .await
            .map_err(AppError::db)
    }

    pub(crate) fn record(&self, event: &Event) {
        self.inner.metrics.event(event);
    }

    /// Waits (at most `deadline`) for queued emails to be sent (shutdown).
    pub async fn drain_mail(&self, deadline: std::time::Duration) {
        if let Some(mailer) = &self.inner.mailer {
            mailer.drain(deadline).await;
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.inner.trusted_proxies
    }

    /// Whether `app_id` is served.
    pub(crate) fn serves(&self, app_id: &str) -> bool {
        self.inner.apps.contains(app_id)
    }

    /// 404 `AppNotFound` unless `app_id` is served.
    pub(crate) fn check_app(&self, app_id: &str) -> Result<(), AppError> {
        if self.serves(app_id) {
            Ok(())
        } else {
            Err(AppError::new(
                ErrorCode::AppNotFound,
                format!("cannot find app using Client App ID '{app_id}'"),
            ))
        }
    }
}

/// The refresh-token secrets and the access-token signing keys: configured, or — SQLite only —
/// generated once into private files next to the database. PostgreSQL needs both configured.
async fn resolve_keys(
    store: &Store,
    config: &Config,
) -> Result<(Vec<String>, Vec<SigningKey>), StateError> {
    let sqlite_path = store.sqlite_path().map(std::path::Path::to_owned);
    let secrets = if config.jwt_secrets.is_empty() {
        let Some(path) = sqlite_path.clone() else {
            return Err(SecretError::Missing.into());
        };
        vec![blocking(move || secrets::generated_file(&path)).await??]
    } else {
        for s in &config.jwt_secrets {
            secrets::check(s, "the configuration")?;
        }
        config.jwt_secrets.clone()
    };
    let pems = if config.signing_keys.is_empty() {
        let Some(path) = sqlite_path else {
            return Err(SecretError::MissingSigningKey.into());
        };
        blocking(move || signing::generated_file(&path)).await??
    } else {
        config.signing_keys.clone()
    };
    let keys = pems
        .iter()
        .map(|pem| SigningKey::from_pem(pem, "from the configuration"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((secrets, keys))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StateError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StateError::Other(e.to_string()))
}
