//! Argon2id password hashing, bounded: at most `concurrency` hashes run at once (each takes 19 MiB
//! and a core for tens of milliseconds), at most `queue` requests wait for a slot, and the rest are
//! answered at once with 503 and `Retry-After` — never queued without bound.

use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use tokio::sync::Semaphore;

use crate::config::HashLimits;
use crate::error::AppError;

/// `Retry-After` when the hashing queue is full.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19456, 2, 1, None).expect("valid argon2 params"),
    )
}

fn hash_now(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify_now(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// Makes glibc return the 19 MiB Argon2 blocks to the OS when a hash is done. By default glibc
/// raises its mmap threshold after the first large free, so later blocks come from (and stay in)
/// the heap arenas of the blocking threads: memory would grow with every burst and never shrink.
pub fn return_hash_memory_to_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; it is called before the runtime allocates much.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// The bounded hasher shared by all requests.
#[derive(Debug)]
pub struct Hasher {
    slots: Semaphore,
    waiting: AtomicUsize,
    queue: usize,
    /// A hash of a random password: unknown accounts are verified against it, so they cost the
    /// same time as known ones.
    dummy: String,
    /// Hashes running or waiting per client: no client holds more than `share` of them, so one client
    /// logging in over many connections cannot take every slot and place in the queue.
    per_client: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    share: usize,
}

/// One client's place among the hashes, given back when dropped.
struct Place<'a> {
    hasher: &'a Hasher,
    client: &'a str,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let mut map = self
            .hasher
            .per_client
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(self.client) {
            *n -= 1;
            if *n == 0 {
                map.remove(self.client);
            }
        }
    }
}

impl Hasher {
    /// A hasher with these bounds (at least one slot).
    pub fn new(limits: HashLimits) -> Result<Hasher, String> {
        Ok(Hasher {
            slots: Semaphore::new(limits.concurrency.max(1)),
            waiting: AtomicUsize::new(0),
            queue: limits.queue,
            dummy: hash_now("appkeys-dummy-password")?,
            per_client: Default::default(),
            // A quarter of all places (running and waiting), at least one.
            share: ((limits.concurrency.max(1) + limits.queue) / 4).max(1),
        })
    }

    fn busy() -> AppError {
        AppError::unavailable(
            BUSY_RETRY_AFTER_SECS,
            "too many password checks at once; retry shortly",
        )
    }

    /// A place for `client`, unless it already holds its share.
    fn place<'a>(&'a self, client: &'a str) -> Option<Place<'a>> {
        let mut map = self.per_client.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(client.to_owned()).or_insert(0);
        if *n >= self.share {
            return None;
        }
        *n += 1;
        Some(Place {
            hasher: self,
            client,
        })
    }

    /// Runs `f` on a blocking thread once a slot is free; 503 when the queue is full.
    async fn run<T: Send + 'static>(
        &self,
        client: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let Some(_place) = self.place(client) else {
            return Err(Self::busy());
        };
        let permit = match self.slots.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(Self::busy());
                }
                let permit = self.slots.acquire().await;
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                permit.map_err(AppError::internal)?
            }
        };
        let result = tokio::task::spawn_blocking(f)
            .await
            .map_err(AppError::internal);
        drop(permit);
        result
    }

    /// The PHC string of a new Argon2id hash of `password`.
    pub async fn hash(&self, client: &str, password: String) -> Result<String, AppError> {
        self.run(client, move || hash_now(&password))
            .await?
            .map_err(AppError::internal)
    }

    /// Whether `password` matches `phc`; with no hash (unknown account) the dummy hash is checked,
    /// so the answer takes as long and is `false`.
    pub async fn verify(
        &self,
        client: &str,
        password: String,
        phc: Option<String>,
    ) -> Result<bool, AppError> {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy.clone());
        let ok = self
            .run(client, move || verify_now(&password, &phc))
            .await?;
        Ok(ok && known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bounded_queue_answers_503_at_once() {
        let hasher = std::sync::Arc::new(
            Hasher::new(HashLimits {
                concurrency: 1,
                queue: 2,
            })
            .unwrap(),
        );
        let phc = hasher.hash("c", "pw-pw-pw".to_owned()).await.unwrap();
        assert!(hasher
            .verify("c", "pw-pw-pw".into(), Some(phc.clone()))
            .await
            .unwrap());
        assert!(!hasher.verify("c", "pw-pw-pw".into(), None).await.unwrap());
        let calls: Vec<_> = (0..10)
            .map(|i| {
                let (h, phc) = (hasher.clone(), phc.clone());
                // Ten clients: the per-client share does not apply here, the global bounds do.
                let client = format!("client-{i}");
                tokio::spawn(async move { h.verify(&client, "wrong".into(), Some(phc)).await })
            })
            .collect();
        let mut busy = 0;
        let mut checked = 0;
        for c in calls {
            match c.await.unwrap() {
                Ok(ok) => {
                    assert!(!ok);
                    checked += 1;
                }
                Err(e) => {
                    assert_eq!(e.code, appkeys_protocol::ErrorCode::ServiceUnavailable);
                    assert_eq!(e.retry_after, Some(1));
                    busy += 1;
                }
            }
        }
        // 1 running + 2 queued when all ten arrive within one hash; never unbounded.
        assert!(checked >= 1 && busy >= 1, "checked {checked}, busy {busy}");
        assert_eq!(busy + checked, 10);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_client_gets_its_share_and_another_still_gets_in() {
        // 2 slots + 6 waiting = 8 places; a client holds at most 2.
        let hasher = std::sync::Arc::new(
            Hasher::new(HashLimits {
                concurrency: 2,
                queue: 6,
            })
            .unwrap(),
        );
        let phc = hasher.hash("owner", "pw-pw-pw".to_owned()).await.unwrap();
        let flood: Vec<_> = (0..20)
            .map(|_| {
                let (h, phc) = (hasher.clone(), phc.clone());
                tokio::spawn(async move { h.verify("flooder", "pw-pw-pw".into(), Some(phc)).await })
            })
            .collect();
        tokio::task::yield_now().await;
        let other = hasher.verify("owner", "pw-pw-pw".into(), Some(phc)).await;
        assert_eq!(
            other.ok(),
            Some(true),
            "another client is served during the flood"
        );
        let refused = futures_refused(flood).await;
        assert!(
            refused >= 15,
            "the flooder held at most its share ({refused} of 20 refused)"
        );
    }

    async fn futures_refused(calls: Vec<tokio::task::JoinHandle<Result<bool, AppError>>>) -> usize {
        let mut refused = 0;
        for c in calls {
            if c.await.unwrap().is_err() {
                refused += 1;
            }
        }
        refused
    }
}
