//! JWT checks with an identity provider's keys — the `custom-token` provider (HS256 secrets, static
//! public keys, or a JWKS) and the ID tokens of Google and Apple (their JWKS). A JWKS is
//! fetched with a timeout and a size limit, cached, refreshed when stale (every [`MAX_AGE`]) or on an
//! unknown `kid` (at most once per [`MIN_REFRESH`]), one fetch at a time. While the JWKS cannot be
//! fetched the keys already cached keep working; a token no cached key can check gets
//! [`CustomJwtError::Unavailable`] (503), never a wait longer than the timeout.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::{jwk::Jwk, Algorithm, DecodingKey};

use super::outbound;
use crate::config::{CustomJwtConfig, MetadataField};
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

/// A verifier of one identity provider's JWTs.
pub struct JwtVerifier {
    /// Accepted audiences (any one); empty: the app id.
    audiences: Vec<String>,
    /// Accepted issuers (any one); empty: any.
    issuers: Vec<String>,
    metadata: Vec<MetadataField>,
    keys: Keys,
}

enum Keys {
    /// HS256 secrets, or static public keys (RS256/ES256): any one that verifies.
    Fixed(Vec<(DecodingKey, Algorithm)>),
    Jwks(Jwks),
}

impl JwtVerifier {
    /// The `custom-token` provider for `config` (no network until the first login).
    pub fn new(config: CustomJwtConfig) -> Result<JwtVerifier, String> {
        let keys =
            match &config.jwks_url {
                Some(url) => Keys::Jwks(Jwks::new(
                    "--custom-jwt-jwks-url",
                    url,
                    config.jwks_timeout,
                )?),
                None if config.secrets.is_empty() && config.public_keys.is_empty() => return Err(
                    "the custom JWT provider needs a JWKS URL, a secret file or a public key file"
                        .to_owned(),
                ),
                None => {
                    let secrets = config
                        .secrets
                        .iter()
                        .map(|s| (DecodingKey::from_secret(s.as_bytes()), Algorithm::HS256));
                    let public = config
                        .public_keys
                        .iter()
                        .map(|pem| custom_jwt::pem_key(pem))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| format!("--custom-jwt-public-key-file: {e}"))?;
                    Keys::Fixed(secrets.chain(public).collect())
                }
            };
        Ok(JwtVerifier {
            audiences: config.audiences,
            issuers: config.issuer.into_iter().collect(),
            metadata: config.metadata,
            keys,
        })
    }

    /// A verifier of ID tokens signed with the keys at `jwks_url` (the value of `flag`), for
    /// `audiences` (any one) and `issuers` (any one), copying `metadata`.
    pub fn id_tokens(
        (flag, jwks_url): (&str, &str),
        timeout: Duration,
        audiences: Vec<String>,
        issuers: Vec<String>,
        metadata: Vec<MetadataField>,
    ) -> Result<JwtVerifier, String> {
        Ok(JwtVerifier {
            audiences,
            issuers,
            metadata,
            keys: Keys::Jwks(Jwks::new(flag, jwks_url, timeout)?),
        })
    }

    /// Verifies a login token for `app_id` (the default audience).
    pub async fn verify(&self, token: &str, app_id: &str) -> Result<Verified, CustomJwtError> {
        let (alg, kid) = custom_jwt::header(token)?;
        let default_audience = [app_id.to_owned()];
        let rules = Rules {
            audiences: if self.audiences.is_empty() {
                &default_audience
            } else {
                &self.audiences
            },
            issuers: &self.issuers,
            metadata: &self.metadata,
            now: now_secs() as u64,
        };
        match &self.keys {
            Keys::Fixed(keys) => {
                let mut last = Refused::Algorithm;
                for (key, key_alg) in keys.iter().filter(|(_, a)| *a == alg) {
                    match custom_jwt::verify(token, key, *key_alg, &rules) {
                        Err(Refused::Signature) => last = Refused::Signature,
                        Err(other) => return Err(other.into()),
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
    fn new(flag: &str, url: &str, timeout: Duration) -> Result<Jwks, String> {
        outbound::checked_url(flag, url)?;
        let client = outbound::client(timeout)?;
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
        let response = self
            .client
            .get(&self.url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let body = outbound::read_limited(response, MAX_JWKS_BYTES).await?;
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
