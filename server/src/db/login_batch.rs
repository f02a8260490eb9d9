//! Group commit for API-key logins (see [`Store::key_login`]).

use sqlx::{AnyPool, Row};

use super::{is_conflict, retry_conflicts, Backend};

use crate::util::now_ms;

/// One API-key login waiting for its batch.
#[derive(Debug)]
pub(super) struct PendingLogin {
    pub(super) session_id: String,
    pub(super) app_id: String,
    pub(super) device_id: String,
    pub(super) key_hash: String,
    /// The client's address ([`crate::model::network::ip_key`] form), for keys with an allow-list.
    pub(super) ip_key: String,
}

/// A session a key login opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySession {
    /// The key's owner.
    pub user_id: String,
    /// The new session.
    pub session_id: String,
    /// The key.
    pub key_id: String,
    /// The key's scopes (space-separated), if it has any.
    pub scope: Option<String>,
}

pub(super) type LoginResult = Result<Option<KeySession>, sqlx::Error>;

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

    /// Starts `workers` batch tasks on one queue. Each takes the logins waiting when it is free, so
    /// with more than one, a batch runs while the one before waits for its commit to be flushed
    /// (PostgreSQL: commits in flight together share their WAL flush). SQLite has one writer, so one.
    pub(super) fn spawn(
        pool: AnyPool,
        backend: Backend,
        workers: usize,
    ) -> std::sync::Arc<LoginBatcher> {
        let (queue, rx) = tokio::sync::mpsc::channel(Self::QUEUE);
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..workers.max(1) {
            let (pool, rx) = (pool.clone(), rx.clone());
            tokio::spawn(async move {
                let mut batch: Vec<(PendingLogin, tokio::sync::oneshot::Sender<LoginResult>)> =
                    Vec::with_capacity(Self::MAX_BATCH);
                loop {
                    // The queue is held only while taking a batch, not while running it.
                    let taken = rx.lock().await.recv_many(&mut batch, Self::MAX_BATCH).await;
                    if taken == 0 {
                        return;
                    }
                    let (logins, waiters): (Vec<PendingLogin>, Vec<_>) = batch.drain(..).unzip();
                    let results = Self::answer(&pool, backend, &logins).await;
                    for (result, waiter) in results.into_iter().zip(waiters) {
                        let _ = waiter.send(result);
                    }
                }
            });
        }
        std::sync::Arc::new(LoginBatcher { queue })
    }

    pub(super) async fn login(&self, login: PendingLogin) -> LoginResult {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.queue
            .send((login, tx))
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        rx.await.map_err(|_| sqlx::Error::PoolClosed)?
    }

    /// One answer per login of a batch. When a key or user named by the batch was deleted while its
    /// statement ran (PostgreSQL: the new session's foreign key finds its key or user gone, and the
    /// whole statement fails), or PostgreSQL aborted it to break a lock cycle with a delete, each login
    /// runs again on its own, so that only the logins of what was deleted fail — as an invalid key,
    /// which by then it is.
    async fn answer(pool: &AnyPool, backend: Backend, logins: &[PendingLogin]) -> Vec<LoginResult> {
        let opened_by = |opened: &[KeySession], login: &PendingLogin| {
            opened
                .iter()
                .find(|s| s.session_id == login.session_id)
                .cloned()
        };
        match Self::run(pool, backend, logins).await {
            Ok(opened) => logins.iter().map(|l| Ok(opened_by(&opened, l))).collect(),
            Err(e) if is_foreign_key_violation(&e) || is_conflict(&e) => {
                let mut results = Vec::with_capacity(logins.len());
                for login in logins {
                    let one = std::slice::from_ref(login);
                    results.push(
                        match retry_conflicts(|| Self::run(pool, backend, one)).await {
                            Ok(opened) => Ok(opened_by(&opened, login)),
                            Err(e) if is_foreign_key_violation(&e) => Ok(None),
                            Err(e) => Err(e),
                        },
                    );
                }
                results
            }
            Err(e) => logins.iter().map(|_| Err(copy_error(&e))).collect(),
        }
    }

    /// The sessions opened.
    async fn run(
        pool: &AnyPool,
        backend: Backend,
        logins: &[PendingLogin],
    ) -> Result<Vec<KeySession>, sqlx::Error> {
        let values: Vec<String> = (0..logins.len())
            .map(|i| {
                let n = i * 5;
                format!(
                    "(${}, ${}, ${}, ${}, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5
                )
            })
            .collect();
        let now = logins.len() * 5 + 1;
        // A key matches by its current hash, or by the hash it had before its last roll until that one's
        // deadline; a key with an allow-list only from an address inside one of its networks (text
        // comparison of fixed-width hex: see `model::network`).
        let allowed = "(NOT k.ip_restricted OR EXISTS (SELECT 1 FROM api_key_networks n \
                       WHERE n.key_id = k.id AND n.first_ip <= v.ip AND v.ip <= n.last_ip))";
        // Both backends look each key up by its unique hash and its owner by primary key. PostgreSQL
        // is told so with LATERAL: left to plan a join, it chose from the statistics of the moment, and
        // before the tables were first analysed (a fresh database) it scanned every user of the app and
        // all their keys for each batch — a third of the throughput. SQLite (no LATERAL) probes the
        // indexes for this join by itself.
        let lookup = match backend {
            Backend::Postgres => format!(
                "FROM v CROSS JOIN LATERAL (SELECT k.id, k.user_id, k.scopes FROM api_keys k \
                 WHERE k.key_hash = v.hash AND NOT k.disabled \
                 AND (k.expires_at IS NULL OR k.expires_at > ${now}) AND {allowed} \
                 UNION ALL SELECT k.id, k.user_id, k.scopes FROM api_keys k \
                 WHERE k.prev_key_hash = v.hash AND k.prev_expires_at > ${now} AND NOT k.disabled \
                 AND (k.expires_at IS NULL OR k.expires_at > ${now}) AND {allowed} OFFSET 0) k \
                 CROSS JOIN LATERAL (SELECT u.auth_epoch FROM users u WHERE u.id = k.user_id \
                 AND u.app_id = v.app AND NOT u.disabled OFFSET 0) u"
            ),
            Backend::Sqlite => format!(
                "FROM v JOIN api_keys k ON (k.key_hash = v.hash \
                 OR (k.prev_key_hash = v.hash AND k.prev_expires_at > ${now})) \
                 JOIN users u ON u.id = k.user_id AND u.app_id = v.app AND NOT u.disabled \
                 WHERE NOT k.disabled AND (k.expires_at IS NULL OR k.expires_at > ${now}) AND {allowed}"
            ),
        };
        let sql = format!(
            "WITH v (sid, app, dev, hash, ip) AS (VALUES {}) \
             INSERT INTO sessions (id, user_id, app_id, provider, api_key_id, device_id, created_at, \
             auth_epoch, scope) SELECT v.sid, k.user_id, v.app, 'api-key', k.id, v.dev, ${now}, \
             u.auth_epoch, k.scopes {lookup} RETURNING id, user_id, api_key_id, scope",
            values.join(", "),
        );
        let mut query = sqlx::query(&sql);
        for l in logins {
            query = query
                .bind(l.session_id.as_str())
                .bind(l.app_id.as_str())
                .bind(l.device_id.as_str())
                .bind(l.key_hash.as_str())
                .bind(l.ip_key.as_str());
        }
        // One autocommitted statement: no BEGIN/COMMIT round trips (the audit rows of key logins are
        // written in aggregate elsewhere). On SQLite the pool is the one writer connection.
        let rows = query.bind(now_ms()).fetch_all(pool).await?;
        rows.iter()
            .map(|r| {
                Ok(KeySession {
                    session_id: r.try_get(0)?,
                    user_id: r.try_get(1)?,
                    key_id: r.try_get(2)?,
                    scope: r.try_get(3)?,
                })
            })
            .collect()
    }
}

/// Whether `e` is a foreign-key violation (SQLSTATE 23503; SQLite's constraint errors never reach here:
/// its one writer serialises the logins with the deletes).
fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation()
        || d.code().as_deref() == Some("23503"))
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
