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
    /// Failed password logins of one account (hourly windows).
    LoginFailuresAccountHour,
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
    /// Wrong admin API caller credentials sent by one client.
    AdminFailuresIp,
    /// Password resets of one account completed by one client (hourly windows): that client is let in
    /// while the account is throttled.
    ResetClientHour,
    /// Web redirect flows started by one client (each writes a flow row).
    OAuthStartsIp,
}

impl Bucket {
    fn prefix(self) -> &'static str {
        match self {
            Bucket::LoginFailuresAccount => "login-account",
            Bucket::LoginFailuresAccountIp => "login-account-ip",
            Bucket::LoginFailuresAccountHour => "login-account-hour",
            Bucket::LoginFailuresIp => "login-ip",
            Bucket::KeyLoginFailuresIp => "key-ip",
            Bucket::AnonymousIp => "anon-ip",
            Bucket::RegistrationsIp => "register-ip",
            Bucket::EmailsAddress => "email-address",
            Bucket::EmailsSentAddress => "email-sent-address",
            Bucket::EmailsIp => "email-ip",
            Bucket::TokenFailuresIp => "token-ip",
            Bucket::IntrospectionFailuresIp => "introspect-ip",
            Bucket::AdminFailuresIp => "admin-ip",
            Bucket::ResetClientHour => "reset-client-hour",
            Bucket::OAuthStartsIp => "oauth-start-ip",
        }
    }
}

/// Counts and checks buckets in the database; refusals are answered from memory.
#[derive(Debug)]
pub struct RateLimiter {
    store: Store,
    window_ms: i64,
    /// Buckets this instance recorded an event in, until when (ms): [`RateLimiter::check_if_seen`]
    /// reads the database only for those.
    seen: BoundedMap,
    /// Buckets known to be at their limit, until when (ms, the end of the window they were found so
    /// in): refused without reading or writing the database.
    blocked: BoundedMap,
    /// Buckets cleared by [`RateLimiter::clear`] on this instance, until the end of that window: what
    /// `blocked` remembered of them no longer holds.
    cleared: BoundedMap,
}

/// The window of the hourly limits (failed logins per account and hour, resets per client).
pub const HOURLY_WINDOW: Duration = Duration::from_secs(3600);

/// Most entries of each of the limiter's in-memory maps.
const MAX_ENTRIES: usize = 100_000;

/// A map of bucket key → expiry (ms) of at most [`MAX_ENTRIES`] entries: when full, expired entries go;
/// if it is still full it is emptied (the database still holds every count, so nothing is lost but a
/// shortcut).
#[derive(Debug, Default)]
struct BoundedMap(std::sync::Mutex<std::collections::HashMap<String, i64>>);

impl BoundedMap {
    fn until(&self, key: &str, now: i64) -> Option<i64> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).copied().filter(|until| *until > now)
    }

    fn insert(&self, key: String, until: i64, now: i64) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES && !map.contains_key(&key) {
            map.retain(|_, u| *u > now);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(key, until);
    }
}

/// The rate-limit key of a client address: an IPv4 address as it is (IPv4-mapped IPv6 included), an
/// IPv6 address by its /64 — one subscriber's prefix is one client, not 2^64 of them.
pub fn client_key(ip: std::net::IpAddr) -> String {
    match ip.to_canonical() {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

impl RateLimiter {
    /// A limiter over `store` with windows of `window`.
    pub fn new(store: Store, window: Duration) -> Self {
        RateLimiter {
            store,
            window_ms: (window.as_millis() as i64).max(1),
            seen: BoundedMap::default(),
            blocked: BoundedMap::default(),
            cleared: BoundedMap::default(),
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

    /// The 429 of a bucket this instance knows to be at its limit (no database access), and remembers
    /// a bucket found so until the end of the current window.
    fn blocked(&self, key: &str, now: i64) -> Option<AppError> {
        if self.cleared.until(key, now).is_some() {
            return None;
        }
        let until = self.blocked.until(key, now)?;
        Some(limited(((until - now) as u64).div_ceil(1000)))
    }

    fn block(&self, key: String, now: i64) {
        let end = now - now.rem_euclid(self.window_ms) + self.window_ms;
        self.cleared.insert(key.clone(), 0, now);
        self.blocked.insert(key, end, now);
    }

    /// Forgets every count of `bucket`/`parts` (the database row and what this instance remembered).
    pub async fn clear(&self, bucket: Bucket, parts: &[&str]) -> Result<(), AppError> {
        let now = now_ms();
        let key = Self::key(bucket, parts);
        self.store.rate_clear(&key).await.map_err(AppError::db)?;
        let end = now - now.rem_euclid(self.window_ms) + self.window_ms;
        self.cleared.insert(key, end, now);
        Ok(())
    }

    /// How far `bucket`/`parts` is past `limit`: its sliding count divided by `limit`, when that is at
    /// least 1 (`None` below the limit, or with no limit). Reads the database.
    pub async fn load(
        &self,
        bucket: Bucket,
        parts: &[&str],
        limit: u32,
    ) -> Result<Option<f64>, AppError> {
        if limit == 0 {
            return Ok(None);
        }
        let now = now_ms();
        let counts = self
            .store
            .rate_counts(&Self::key(bucket, parts))
            .await
            .map_err(AppError::db)?;
        let (estimate, _) = self.estimate(counts, now);
        let ratio = estimate / f64::from(limit);
        Ok((ratio >= 1.0).then_some(ratio))
    }

    /// 429 when `bucket`/`parts` already reached `limit` (0: no limit). Counts nothing.
    pub async fn check(&self, bucket: Bucket, parts: &[&str], limit: u32) -> Result<(), AppError> {
        self.over(bucket, parts, limit).await.map_or(Ok(()), Err)
    }

    /// The 429 for `bucket`/`parts` if it reached `limit`, else `None`. A bucket found at its limit
    /// is refused from memory for the rest of the window.
    pub async fn over(&self, bucket: Bucket, parts: &[&str], limit: u32) -> Option<AppError> {
        if limit == 0 {
            return None;
        }
        let now = now_ms();
        let key = Self::key(bucket, parts);
        if let Some(limited) = self.blocked(&key, now) {
            return Some(limited);
        }
        let counts = match self.store.rate_counts(&key).await {
            Ok(c) => c,
            Err(e) => return Some(AppError::db(e)),
        };
        let (estimate, retry) = self.estimate(counts, now);
        if estimate < f64::from(limit) {
            return None;
        }
        self.block(key, now);
        Some(limited(retry))
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
        if self.seen.until(&key, now_ms()).is_some() {
            self.check(bucket, parts, limit).await?;
        }
        Ok(())
    }

    /// Counts one event in `bucket`/`parts`; 429 when the count is then past `limit` (0: never). A
    /// bucket already known to be at its limit is not written again (its refusals cost no write).
    pub async fn record(&self, bucket: Bucket, parts: &[&str], limit: u32) -> Result<(), AppError> {
        let now = now_ms();
        let key = Self::key(bucket, parts);
        if limit > 0 {
            if let Some(limited) = self.blocked(&key, now) {
                return Err(limited);
            }
        }
        let start = now - now.rem_euclid(self.window_ms);
        let counts = self
            .store
            .rate_increment(&key, start, self.window_ms)
            .await
            .map_err(AppError::db)?;
        self.seen.insert(key.clone(), now + 2 * self.window_ms, now);
        let (estimate, retry) = self.estimate(Some(counts), now);
        if limit > 0 && estimate >= f64::from(limit) {
            self.block(key, now);
        }
        if limit > 0 && estimate > f64::from(limit) {
            return Err(limited(retry));
        }
        Ok(())
    }

    /// One attempt in `bucket`/`parts`: refused with 429 — without any write — when the bucket already
    /// reached `limit`; else counted and allowed (0: counts nothing, no limit). Across instances sharing
    /// a database the limit holds up to the attempts that pass their check at the same moment.
    pub async fn attempt(
        &self,
        bucket: Bucket,
        parts: &[&str],
        limit: u32,
    ) -> Result<(), AppError> {
        if limit == 0 {
            return Ok(());
        }
        self.check(bucket, parts, limit).await?;
        self.record(bucket, parts, 0).await
    }
}

fn limited(retry: u64) -> AppError {
    AppError::too_many_requests(retry, "too many attempts; retry later")
}

/// A per-instance ceiling of events per key and window, counted in memory only (no database access): for
/// events that succeed and happen often — successful logins of one subject from one client — where a
/// shared counter would cost a write per event. Across N instances the ceiling is N times as high.
#[derive(Debug)]
pub struct LocalLimit {
    window_ms: i64,
    /// Key → (window start, count in it).
    counts: std::sync::Mutex<std::collections::HashMap<String, (i64, u32)>>,
}

impl LocalLimit {
    /// A ceiling over windows of `window`.
    pub fn new(window: Duration) -> Self {
        LocalLimit {
            window_ms: (window.as_millis() as i64).max(1),
            counts: Default::default(),
        }
    }

    /// Counts one event of `parts`; 429 once more than `limit` (0: none) happened in this window.
    pub fn attempt(&self, parts: &[&str], limit: u32) -> Result<(), AppError> {
        if limit == 0 {
            return Ok(());
        }
        let now = now_ms();
        let start = now - now.rem_euclid(self.window_ms);
        let key = parts.join("\0");
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= MAX_ENTRIES && !counts.contains_key(&key) {
            counts.retain(|_, (at, _)| *at == start);
            if counts.len() >= MAX_ENTRIES {
                counts.clear();
            }
        }
        let entry = counts.entry(key).or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        if entry.1 >= limit {
            let retry = ((start + self.window_ms - now) as u64)
                .div_ceil(1000)
                .max(1);
            return Err(limited(retry));
        }
        entry.1 += 1;
        Ok(())
    }
}
