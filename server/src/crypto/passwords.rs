//! Argon2id password hashing, bounded: at most `concurrency` hashes run at once (each takes 19 MiB
//! and a core for tens of milliseconds), at most `queue` requests wait for a slot — shared fairly among
//! the clients waiting right now — and the rest are answered at once with 503 and `Retry-After`, never
//! queued without bound.

use std::collections::{HashMap, VecDeque};

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use tokio::sync::oneshot;

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
    concurrency: usize,
    queue: usize,
    state: std::sync::Mutex<Queue>,
    /// A hash of a random password: unknown accounts are verified against it, so they cost the
    /// same time as known ones.
    dummy: String,
}

/// Who hashes now and who waits. Fair queueing: a freed slot goes to the next client in turn (round
/// robin over the clients waiting right now), never to whoever queued most; when every place is taken,
/// a newcomer takes the newest place of the client that holds the most, if that client holds more than
/// one more than the newcomer. So however many connections a few clients open, another client waits
/// behind at most one hash of each of them.
#[derive(Debug, Default)]
struct Queue {
    running: usize,
    waiting: usize,
    /// Each waiting client's waiters, oldest first (`true` sent: the slot is yours; `false`: busy).
    clients: HashMap<String, VecDeque<oneshot::Sender<bool>>>,
    /// The clients with waiters, in turn.
    turn: VecDeque<String>,
}

impl Queue {
    /// Takes the newest waiter of the client with the most waiters, if it has more than `than` + 1.
    fn evict_for(&mut self, than: usize) -> bool {
        let Some((client, n)) = self
            .clients
            .iter()
            .map(|(c, w)| (c, w.len()))
            .max_by_key(|(_, n)| *n)
        else {
            return false;
        };
        if n <= than + 1 {
            return false;
        }
        let client = client.clone();
        if let Some(waiter) = self.clients.get_mut(&client).and_then(VecDeque::pop_back) {
            let _ = waiter.send(false);
            self.waiting -= 1;
        }
        self.forget_if_idle(&client);
        true
    }

    fn forget_if_idle(&mut self, client: &str) {
        if self.clients.get(client).is_some_and(VecDeque::is_empty) {
            self.clients.remove(client);
            self.turn.retain(|c| c != client);
        }
    }

    /// Hands a freed slot to the next waiter in turn; `false` when nobody waits (the slot is free).
    fn hand_over(&mut self) -> bool {
        while let Some(client) = self.turn.pop_front() {
            let Some(waiters) = self.clients.get_mut(&client) else {
                continue;
            };
            let Some(waiter) = waiters.pop_front() else {
                self.clients.remove(&client);
                continue;
            };
            self.waiting -= 1;
            if waiters.is_empty() {
                self.clients.remove(&client);
            } else {
                self.turn.push_back(client);
            }
            // A waiter that gave up (its request went away) passes the slot on.
            if waiter.send(true).is_ok() {
                return true;
            }
        }
        false
    }
}

/// A running hash's slot, handed on (or freed) when dropped.
struct Slot<'a>(&'a Hasher);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut q = self.0.lock();
        if !q.hand_over() {
            q.running -= 1;
        }
    }
}

/// A waiter's place in the queue. Dropped while still waiting (the request went away), it takes a
/// slot that was handed to it meanwhile and hands it on, so no slot is ever lost.
struct Ticket<'a> {
    hasher: &'a Hasher,
    rx: Option<oneshot::Receiver<bool>>,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if let Ok(true) = rx.try_recv() {
                drop(Slot(self.hasher));
            }
        }
    }
}

impl Hasher {
    /// A hasher with these bounds (at least one slot).
    pub fn new(limits: HashLimits) -> Result<Hasher, String> {
        Ok(Hasher {
            concurrency: limits.concurrency.max(1),
            queue: limits.queue,
            state: Default::default(),
            dummy: hash_now("appkeys-dummy-password")?,
        })
    }

    fn busy() -> AppError {
        AppError::unavailable(
            BUSY_RETRY_AFTER_SECS,
            "too many password checks at once; retry shortly",
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for `client`: at once when one is free and nobody waits, else in turn; 503 when every
    /// place is taken and no client holds more than its fair share of them.
    async fn slot(&self, client: &str) -> Result<Slot<'_>, AppError> {
        let ticket = {
            let mut q = self.lock();
            if q.running < self.concurrency && q.waiting == 0 {
                q.running += 1;
                return Ok(Slot(self));
            }
            let mine = q.clients.get(client).map_or(0, VecDeque::len);
            if q.waiting >= self.queue && !q.evict_for(mine) {
                return Err(Self::busy());
            }
            let (tx, rx) = oneshot::channel();
            let waiters = q.clients.entry(client.to_owned()).or_default();
            waiters.push_back(tx);
            if waiters.len() == 1 {
                q.turn.push_back(client.to_owned());
            }
            q.waiting += 1;
            rx
        };
        let mut ticket = Ticket {
            hasher: self,
            rx: Some(ticket),
        };
        let handed = match ticket.rx.as_mut() {
            Some(rx) => rx.await,
            None => Ok(false),
        };
        // Received: from here the slot belongs to the `Slot` (or nobody, when busy).
        ticket.rx = None;
        match handed {
            Ok(true) => Ok(Slot(self)),
            _ => Err(Self::busy()),
        }
    }

    /// Runs `f` on a blocking thread once `client` has a slot; 503 when the queue is full.
    async fn run<T: Send + 'static>(
        &self,
        client: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let slot = self.slot(client).await?;
        let result = tokio::task::spawn_blocking(f)
            .await
            .map_err(AppError::internal);
        drop(slot);
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
    async fn a_lone_flooder_uses_every_place_and_another_client_still_gets_in() {
        // 2 slots + 6 waiting = 8 places. Issue 29 replaced the fixed quarter per client with fair
        // queueing: alone, a client may use every place; a newcomer takes one of its places and is
        // served next in turn.
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
            (12..=13).contains(&refused),
            "the flooder used the 8 places, gave one up: {refused} of 20 refused"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn five_flooding_clients_cannot_keep_a_sixth_out() {
        // 1 slot + 8 waiting: five clients with ten requests each take every place; a sixth client
        // arriving after them is served, ahead of most of them.
        let hasher = std::sync::Arc::new(
            Hasher::new(HashLimits {
                concurrency: 1,
                queue: 8,
            })
            .unwrap(),
        );
        let phc = hasher.hash("sixth", "pw-pw-pw".to_owned()).await.unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let flood: Vec<_> = (0..50)
            .map(|i| {
                let (h, phc, done) = (hasher.clone(), phc.clone(), done.clone());
                let client = format!("flooder-{}", i % 5);
                tokio::spawn(async move {
                    let r = h.verify(&client, "wrong".into(), Some(phc)).await;
                    if r.is_ok() {
                        done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    r
                })
            })
            .collect();
        while hasher.lock().waiting < 8 {
            tokio::task::yield_now().await;
        }
        let sixth = hasher.verify("sixth", "pw-pw-pw".into(), Some(phc)).await;
        let served_before = done.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(sixth.ok(), Some(true), "the sixth client was refused");
        // In turn behind at most one hash of each flooder (and the one running when it came).
        assert!(served_before <= 6, "{served_before} flood hashes ran first");
        futures_refused(flood).await;
        let q = hasher.lock();
        assert_eq!((q.running, q.waiting, q.clients.len()), (0, 0, 0));
    }

    #[test]
    fn a_waiter_that_goes_away_never_takes_a_slot_with_it() {
        use std::future::Future;
        let hasher = Hasher::new(HashLimits {
            concurrency: 1,
            queue: 4,
        })
        .unwrap();
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let mut first = Box::pin(hasher.slot("a"));
        let std::task::Poll::Ready(Ok(running)) = first.as_mut().poll(&mut cx) else {
            panic!("a free slot is taken at once");
        };
        let mut waiting = Box::pin(hasher.slot("b"));
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        // The running hash ends: its slot is handed to the waiter, whose request then goes away
        // before it ever runs.
        drop(running);
        drop(waiting);
        let q = hasher.lock();
        assert_eq!((q.running, q.waiting), (0, 0), "the slot was lost");
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
