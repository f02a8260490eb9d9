//! The `custom-token` provider's keys and checks: HS256 secrets, or the identity provider's JWKS —
//! fetched with a timeout and a size limit, cached, refreshed when stale (every [`MAX_AGE`]) or on an
//! unknown `kid` (at most once per [`MIN_REFRESH`]), one fetch at a time. While the JWKS cannot be
//! fetched the keys already cached keep working; a token no cached key can check gets
//! [`CustomJwtError::Unavailable`] (503), never a wait longer than the timeout.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::{jwk::Jwk, Algorithm, DecodingKey};

use crate::config::CustomJwtConfig;
use crate::crypto::custom_jwt::{self, Refused, Rules, Verified};
use crate::util::now_secs;

/// Keys older than this are fetched again (and kept if that fails).
pub const MAX_AGE: Duration = Duration::from_secs(600);
/// An unknown `kid` fetches the JWKS again at most this often.
pub const MIN_REFRESH: Duration = Duration::from_secs(60);
/// After a failed fetch the next try waits this long (callers get 503 meanwhile).
pub const RETRY_FAILED: Duration = Duration::from_secs(5);
/// Largest JWKS document read.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Why a custom-token login was not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomJwtError {
    /// The token is refused (401).
    Refused(Refused),
    /// The identity provider's keys cannot be had now (503, retry after this many seconds).
    Unavailable(u64),
}

impl From<Refused> for CustomJwtError {
    fn from(r: Refused) -> Self {
        CustomJwtError::Refused(r)
    }
}

/// The configured provider.
pub struct CustomJwt {
    config: CustomJwtConfig,
    keys: Keys,
}

enum Keys {
    Secrets(Vec<DecodingKey>),
    Jwks(Jwks),
}

impl CustomJwt {
    /// The provider for `config` (no network until the first login).
    pub fn new(config: CustomJwtConfig) -> Result<CustomJwt, String> {
        let keys = match &config.jwks_url {
            Some(url) => Keys::Jwks(Jwks::new(url, config.jwks_timeout)?),
            None if config.secrets.is_empty() => {
                return Err("the custom JWT provider needs a JWKS URL or a secret file".to_owned())
            }
            None => Keys::Secrets(
                config
                    .secrets
                    .iter()
                    .map(|s| DecodingKey::from_secret(s.as_bytes()))
                    .collect(),
            ),
        };
        Ok(CustomJwt { config, keys })
    }

    /// Verifies a login token for `app_id` (the default audience).
    pub async fn verify(&self, token: &str, app_id: &str) -> Result<Verified, CustomJwtError> {
        let (alg, kid) = custom_jwt::header(token)?;
        let default_audience = [app_id.to_owned()];
        let rules = Rules {
            audiences: if self.config.audiences.is_empty() {
                &default_audience
            } else {
                &self.config.audiences
            },
            issuer: self.config.issuer.as_deref(),
            metadata: &self.config.metadata,
            now: now_secs() as u64,
        };
        match &self.keys {
            Keys::Secrets(secrets) => {
                if alg != Algorithm::HS256 {
                    return Err(Refused::Algorithm.into());
                }
                let mut last = Refused::Signature;
                for key in secrets {
                    match custom_jwt::verify(token, key, Algorithm::HS256, &rules) {
                        Err(Refused::Signature) => {}
                        Err(other) => last = other,
                        Ok(v) => return Ok(v),
                    }
                }
                Err(last.into())
            }
            Keys::Jwks(jwks) => {
                let kid = kid.ok_or(Refused::NoKeyId)?;
                let (key, key_alg) = jwks.key(&kid).await?.ok_or(Refused::UnknownKey)?;
                if alg != key_alg {
                    return Err(Refused::Algorithm.into());
                }
                Ok(custom_jwt::verify(token, &key, key_alg, &rules)?)
            }
        }
    }
}

/// https, or http to a loopback host (a local identity provider, tests).
fn safe_scheme(url: &url::Url) -> bool {
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

/// The cached JWKS of the identity provider.
struct Jwks {
    url: String,
    client: reqwest::Client,
    cache: std::sync::RwLock<Cache>,
    /// One fetch at a time; the others wait for its outcome.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    /// Last successful fetch.
    fetched: Option<Instant>,
    /// Last attempt, and whether it failed.
    attempted: Option<(Instant, bool)>,
}

impl Jwks {
    fn new(url: &str, timeout: Duration) -> Result<Jwks, String> {
        let parsed =
            url::Url::parse(url).map_err(|e| format!("--custom-jwt-jwks-url {url}: {e}"))?;
        let loopback = match parsed.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
            return Err(format!(
                "--custom-jwt-jwks-url {url}: must be https (plain http only on loopback): keys fetched \
                 in the clear could be swapped on the way"
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // At most 3 redirects, none of them to plain http off loopback.
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= 3 {
                    attempt.error("too many redirects")
                } else if !safe_scheme(attempt.url()) {
                    attempt.error("a redirect to plain http")
                } else {
                    attempt.follow()
                }
            }))
            .user_agent(concat!("appkeys-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("JWKS client: {e}"))?;
        Ok(Jwks {
            url: url.to_owned(),
            client,
            cache: Default::default(),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The key with `kid`: `Ok(None)` if the provider publishes none (after a refresh if allowed).
    async fn key(&self, kid: &str) -> Result<Option<(DecodingKey, Algorithm)>, CustomJwtError> {
        let (found, due, seen) = self.lookup(kid);
        if !due {
            return self.answer(found);
        }
        let _one = self.fetching.lock().await;
        // Another request may have fetched while this one waited: use its outcome.
        let (found, due, now_seen) = self.lookup(kid);
        if now_seen != seen || !due {
            return self.answer(found);
        }
        let fetched = self.fetch().await;
        {
            let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            match fetched {
                Ok(keys) => {
                    cache.keys = keys;
                    cache.fetched = Some(now);
                    cache.attempted = Some((now, false));
                }
                Err(e) => {
                    tracing::warn!(url = %self.url, error = %e, "custom JWT provider: JWKS fetch failed");
                    cache.attempted = Some((now, true));
                }
            }
        }
        self.answer(self.lookup(kid).0)
    }

    /// `(the cached key, whether a fetch is due, the time of the last attempt)`.
    fn lookup(&self, kid: &str) -> (Option<(DecodingKey, Algorithm)>, bool, Option<Instant>) {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        let found = cache.keys.get(kid).cloned();
        let fresh = cache.fetched.is_some_and(|t| t.elapsed() < MAX_AGE);
        let wait = match cache.attempted {
            None => Duration::ZERO,
            Some((_, true)) => RETRY_FAILED,
            Some((_, false)) => MIN_REFRESH,
        };
        let may = cache.attempted.is_none_or(|(t, _)| t.elapsed() >= wait);
        let wanted = found.is_none() || !fresh;
        (found, wanted && may, cache.attempted.map(|(t, _)| t))
    }

    /// A found key; else "unknown key" if the last fetch worked, "unavailable" if it failed.
    fn answer(
        &self,
        found: Option<(DecodingKey, Algorithm)>,
    ) -> Result<Option<(DecodingKey, Algorithm)>, CustomJwtError> {
        if found.is_some() {
            return Ok(found);
        }
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        match cache.attempted {
            Some((_, false)) => Ok(None),
            Some((at, true)) => {
                let left = RETRY_FAILED.saturating_sub(at.elapsed()).as_secs().max(1);
                Err(CustomJwtError::Unavailable(left))
            }
            None => Err(CustomJwtError::Unavailable(1)),
        }
    }

    /// Fetches and parses the JWKS (bounded in time by the client and in size here).
    async fn fetch(&self) -> Result<HashMap<String, (DecodingKey, Algorithm)>, String> {
        let mut response = self
            .client
            .get(&self.url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err("the JWKS is too large".to_owned());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err("the JWKS is too large".to_owned());
            }
            body.extend_from_slice(&chunk);
        }
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
        let list = doc
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or("no `keys` array")?;
        // Each key on its own: one key of a type this server does not know never hides the others.
        let keys: HashMap<_, _> = list
            .iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
            .filter_map(|jwk| custom_jwt::jwk_key(&jwk))
            .map(|(kid, key, alg)| (kid, (key, alg)))
            .collect();
        if keys.is_empty() {
            return Err("the JWKS holds no RS256 or ES256 signing key with a `kid`".to_owned());
        }
        Ok(keys)
    }
}
