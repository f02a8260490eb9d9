//! Rate limits of the unauthenticated routes (keyed by the client IP that `http::extract::ClientIp`
//! resolves, by account, or by address).
//!
//! Algorithm: a sliding-window counter per bucket (the current and the previous window's counts,
//! weighted by how much of the previous window still overlaps the last `window`). The counters live
//! in the database (`rate_limits`, one row per bucket, updated with one atomic upsert), so the limits
//! hold across instances sharing a PostgreSQL database. Bucket keys are SHA-256 hashes of
//! `kind:value` (no email addresses or IPs in clear in the table).

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::db::{Counts, Store};
use crate::error::AppError;
use crate::util::now_ms;

/// What a bucket counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Failed password logins of one account (normalised email).
    LoginFailuresAccount,
    /// Failed password logins of one account from one client.
    LoginFailuresAccountIp,
    /// Failed password logins of one client.
    LoginFailuresIp,
    /// Failed API-key logins of one client.
    KeyLoginFailuresIp,
    /// Anonymous logins of one client.
    AnonymousIp,
    /// Registrations of one client.
    RegistrationsIp,
    /// Confirmation and reset emails asked for one address by one client.
    EmailsAddress,
    /// Confirmation and reset emails sent to one address (whoever asked).
    EmailsSentAddress,
    /// Confirmation and reset emails asked for by one client.
    EmailsIp,
    /// Wrong, used or expired confirmation and reset tokens sent by one client.
    TokenFailuresIp,
    /// Wrong introspection caller credentials sent by one client.
    IntrospectionFailuresIp,
}

impl Bucket {
    fn prefix(self) -> &'static str {
        match self {
            Bucket::LoginFailuresAccount => "login-account",
            Bucket::LoginFailuresAccountIp => "login-account-ip",
            Bucket::LoginFailuresIp => "login-ip",
            Bucket::KeyLoginFailuresIp => "key-ip",
            Bucket::AnonymousIp => "anon-ip",
            Bucket::RegistrationsIp => "register-ip",
            Bucket::EmailsAddress => "email-address",
            Bucket::EmailsSentAddress => "email-sent-address",
            Bucket::EmailsIp => "email-ip",
            Bucket::TokenFailuresIp => "token-ip",
            Bucket::IntrospectionFailuresIp => "introspect-ip",
        }
    }
}

/// Counts and checks buckets in the database.
#[derive(Debug)]
pub struct RateLimiter {
    store: Store,
    window_ms: i64,
    /// Buckets this instance recorded an event in, until when (ms): [`RateLimiter::check_if_seen`]
    /// reads the database only for those.
    seen: std::sync::Mutex<std::collections::HashMap<String, i64>>,
}

impl RateLimiter {
    /// A limiter over `store` with windows of `window`.
    pub fn new(store: Store, window: Duration) -> Self {
        RateLimiter {
            store,
            window_ms: (window.as_millis() as i64).max(1),
            seen: Default::default(),
        }
    }

    fn key(bucket: Bucket, parts: &[&str]) -> String {
        let mut h = Sha256::new();
        h.update(bucket.prefix());
        for p in parts {
            h.update([0]);
            h.update(p.as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// The sliding estimate of `counts` at `now`, and the seconds until the current window ends.
    fn estimate(&self, counts: Option<Counts>, now: i64) -> (f64, u64) {
        let start = now - now.rem_euclid(self.window_ms);
        let elapsed = (now - start) as f64 / self.window_ms as f64;
        let retry = ((self.window_ms - (now - start)) as u64)
            .div_ceil(1000)
            .max(1);
        let Some(c) = counts else { return (0.0, retry) };
        let estimate = if c.window_start == start {
            c.previous as f64 * (1.0 - elapsed) + c.current as f64
        } else if c.window_start == start - self.window_ms {
            c.current as f64 * (1.0 - elapsed)
        } else {
            0.0
        };
        // Rounded up: a fraction of an event still counts (no extra attempt right after a boundary).
        (estimate.ceil(), retry)
    }

    /// 429 when `bucket`/`parts` already reached `limit` (0: no limit). Counts nothing.
    pub async fn check(&self, bucket: Bucket, parts: &[&str], limit: u32) -> Result<(), AppError> {
        self.over(bucket, parts, limit).await.map_or(Ok(()), Err)
    }

    /// The 429 for `bucket`/`parts` if it reached `limit`, else `None`.
    pub async fn over(&self, bucket: Bucket, parts: &[&str], limit: u32) -> Option<AppError> {
        if limit == 0 {
            return None;
        }
        let now = now_ms();
        let counts = match self.store.rate_counts(&Self::key(bucket, parts)).await {
            Ok(c) => c,
            Err(e) => return Some(AppError::db(e)),
        };
        let (estimate, retry) = self.estimate(counts, now);
        (estimate >= f64::from(limit)).then(|| limited(retry))
    }

    /// Like [`RateLimiter::check`], but reads the database only when this instance counted an
    /// event in the bucket within the last two windows; otherwise the bucket is taken to be under its
    /// limit. For the hot path of successful API-key logins, where a database read per login would
    /// cost more than the login itself. Across instances this is an approximation: the failures are
    /// still counted in the shared table (and [`RateLimiter::record`] answers 429 once the count is
    /// past the limit on any instance), but an instance that has seen no failure from a client does
    /// not refuse that client's (successful) logins.
    pub async fn check_if_seen(
        &self,
        bucket: Bucket,
        parts: &[&str],
        limit: u32,
    ) -> Result<(), AppError> {
        if limit == 0 {
            return Ok(());
        }
        let key = Self::key(bucket, parts);
        let now = now_ms();
        let recent = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.len() > 100_000 {
                seen.retain(|_, until| *until > now);
            }
            seen.get(&key).is_some_and(|until| *until > now)
        };
        if recent {
            self.check(bucket, parts, limit).await?;
        }
        Ok(())
    }

    /// Counts one event in `bucket`/`parts`; 429 when the count is then past `limit` (0: never).
    pub async fn record(&self, bucket: Bucket, parts: &[&str], limit: u32) -> Result<(), AppError> {
        let now = now_ms();
        let start = now - now.rem_euclid(self.window_ms);
        let key = Self::key(bucket, parts);
        let counts = self
            .store
            .rate_increment(&key, start, self.window_ms)
            .await
            .map_err(AppError::db)?;
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, now + 2 * self.window_ms);
        let (estimate, retry) = self.estimate(Some(counts), now);
        if limit > 0 && estimate > f64::from(limit) {
            return Err(limited(retry));
        }
        Ok(())
    }

    /// Counts one attempt in `bucket`/`parts` and refuses it with 429 when it goes past `limit`
    /// (0: counts nothing, no limit).
    pub async fn attempt(
        &self,
        bucket: Bucket,
        parts: &[&str],
        limit: u32,
    ) -> Result<(), AppError> {
        if limit == 0 {
            return Ok(());
        }
        self.record(bucket, parts, limit).await
    }
}

fn limited(retry: u64) -> AppError {
    AppError::too_many_requests(retry, "too many attempts; retry later")
}
