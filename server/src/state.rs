//! The state shared by all handlers and jobs — the store, the services and the settings, built in one
//! place — and token issuing.

use std::{collections::HashSet, sync::Arc};

use appkeys_protocol::{wire, ErrorCode};
use ipnet::IpNet;

use crate::config::{Config, RateLimits};
use crate::crypto::passwords::Hasher;
use crate::crypto::secrets::{self, SecretError};
use crate::crypto::token::{Claims, Signer};
use crate::db::{Backend, Store, StoreError};
use crate::error::AppError;
use crate::model::Event;
use crate::service::{mail::Mailer, metrics::Metrics, ratelimit::RateLimiter};
use crate::util::now_secs;

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) signer: Signer,
    apps: HashSet<String>,
    access_ttl: i64,
    pub(crate) refresh_ttl: i64,
    pub(crate) public_url: String,
    pub(crate) cors_origins: Vec<String>,
    pub(crate) hasher: Hasher,
    pub(crate) limiter: RateLimiter,
    pub(crate) limits: RateLimits,
    trusted_proxies: Vec<IpNet>,
    pub(crate) body_read_timeout: std::time::Duration,
    pub(crate) audit_retention: std::time::Duration,
    pub(crate) metrics: Metrics,
    pub(crate) metrics_on_main: bool,
    pub(crate) max_key_lifetime: Option<std::time::Duration>,
    pub(crate) disable_unused_keys_after: Option<std::time::Duration>,
    /// Confirmation and reset email (`None`: not configured).
    pub(crate) mailer: Option<Mailer>,
    /// Registration creates unconfirmed accounts.
    pub(crate) confirmation: bool,
    /// Lifetime of confirmation and reset tokens.
    pub(crate) token_ttl: std::time::Duration,
    /// Slots for the work of `confirm/send` and `reset/send` done after answering.
    pub(crate) email_jobs: Arc<tokio::sync::Semaphore>,
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

/// `confirm/send` and `reset/send` requests whose lookup, token and email may run after the answer.
const EMAIL_JOBS: usize = 64;

fn ttl(secs: u64) -> i64 {
    secs.min(i64::MAX as u64 / 4) as i64
}

impl AppState {
    /// Builds the state: resolves the signing secrets (configured, or — SQLite only — the generated
    /// file next to the database) and prepares the password hasher.
    pub async fn new(store: Store, config: &Config) -> Result<AppState, StateError> {
        let secrets = if config.jwt_secrets.is_empty() {
            match store.backend() {
                Backend::Sqlite => {
                    let path = store
                        .sqlite_path()
                        .expect("SQLite store has a path")
                        .to_owned();
                    let secret =
                        tokio::task::spawn_blocking(move || secrets::generated_file(&path))
                            .await
                            .map_err(|e| StateError::Other(e.to_string()))??;
                    vec![secret]
                }
                Backend::Postgres => return Err(SecretError::Missing.into()),
            }
        } else {
            for s in &config.jwt_secrets {
                secrets::check(s, "the configuration")?;
            }
            config.jwt_secrets.clone()
        };
        let hashing = config.hashing;
        let hasher = tokio::task::spawn_blocking(move || Hasher::new(hashing))
            .await
            .map_err(|e| StateError::Other(e.to_string()))?
            .map_err(StateError::Other)?;
        let metrics = Metrics::new();
        let mailer = Mailer::new(&config.email, metrics.clone()).map_err(StateError::Other)?;
        Ok(AppState {
            inner: Arc::new(Inner {
                limiter: RateLimiter::new(store.clone(), config.limits.window),
                store,
                signer: Signer::with_secrets(&secrets),
                apps: config.apps.iter().cloned().collect(),
                access_ttl: ttl(config.access_token_ttl),
                refresh_ttl: ttl(config.refresh_token_ttl),
                public_url: config.public_url.trim_end_matches('/').to_owned(),
                cors_origins: config.cors_origins.clone(),
                hasher,
                limits: config.limits,
                trusted_proxies: config.trusted_proxies.clone(),
                body_read_timeout: config.body_read_timeout,
                audit_retention: config.audit_retention,
                metrics,
                mailer,
                confirmation: config.email.confirmation,
                token_ttl: config.email.token_ttl,
                email_jobs: Arc::new(tokio::sync::Semaphore::new(EMAIL_JOBS)),
                metrics_on_main: config.metrics_on_main,
                max_key_lifetime: config.max_key_lifetime,
                disable_unused_keys_after: config.disable_unused_keys_after,
                key_uses: Default::default(),
            }),
        })
    }

    /// Notes a successful login with key `key_id` at `at` (ms); written by [`AppState::flush_key_uses`].
    pub(crate) fn key_used(&self, key_id: String, at: i64) {
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
                self.key_used(id, at);
            }
            return Err(e);
        }
        Ok(pending.len())
    }

    /// Counts what `event` says in the metrics.
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

    /// A new access token of session `session`.
    pub(crate) fn access_token(
        &self,
        user_id: &str,
        app_id: &str,
        device_id: &str,
        session: &str,
    ) -> String {
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

    /// The login answer for a new session: both tokens, user and device.
    pub(crate) fn login_response(
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
            exp: now.saturating_add(self.inner.refresh_ttl),
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
