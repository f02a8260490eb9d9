//! Group commit for API-key logins (see [`Store::key_login`]).

use sqlx::{AnyPool, Row};

use crate::util::now_ms;

/// One API-key login waiting for its batch.
#[derive(Debug)]
pub(super) struct PendingLogin {
    pub(super) session_id: String,
    pub(super) app_id: String,
    pub(super) device_id: String,
    pub(super) key_hash: String,
}

pub(super) type LoginResult = Result<Option<(String, String, String)>, sqlx::Error>;

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

    pub(super) fn spawn(pool: AnyPool) -> std::sync::Arc<LoginBatcher> {
        let (queue, mut rx) = tokio::sync::mpsc::channel(Self::QUEUE);
        tokio::spawn(async move {
            let mut batch: Vec<(PendingLogin, tokio::sync::oneshot::Sender<LoginResult>)> =
                Vec::with_capacity(Self::MAX_BATCH);
            while rx.recv_many(&mut batch, Self::MAX_BATCH).await > 0 {
                let (logins, waiters): (Vec<PendingLogin>, Vec<_>) = batch.drain(..).unzip();
                let results = Self::answer(&pool, &logins).await;
                for (result, waiter) in results.into_iter().zip(waiters) {
                    let _ = waiter.send(result);
                }
            }
        });
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
    /// whole statement fails), each login runs again on its own, so that only the logins of what was
    /// deleted fail — as an invalid key, which by then it is.
    async fn answer(pool: &AnyPool, logins: &[PendingLogin]) -> Vec<LoginResult> {
        let opened_by = |opened: &[(String, String, String)], login: &PendingLogin| {
            opened
                .iter()
                .find(|(session, _, _)| *session == login.session_id)
                .map(|(session, user, key)| (user.clone(), session.clone(), key.clone()))
        };
        match Self::run(pool, logins).await {
            Ok(opened) => logins.iter().map(|l| Ok(opened_by(&opened, l))).collect(),
            Err(e) if is_foreign_key_violation(&e) => {
                let mut results = Vec::with_capacity(logins.len());
                for login in logins {
                    results.push(match Self::run(pool, std::slice::from_ref(login)).await {
                        Ok(opened) => Ok(opened_by(&opened, login)),
                        Err(e) if is_foreign_key_violation(&e) => Ok(None),
                        Err(e) => Err(e),
                    });
                }
                results
            }
            Err(e) => logins.iter().map(|_| Err(copy_error(&e))).collect(),
        }
    }

    /// The sessions opened: `(session id, user id, key id)`.
    async fn run(
        pool: &AnyPool,
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
             INSERT INTO sessions (id, user_id, app_id, provider, api_key_id, device_id, created_at, \
             auth_epoch) SELECT v.sid, k.user_id, v.app, 'api-key', k.id, v.dev, ${}, u.auth_epoch \
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
        // One autocommitted statement: no BEGIN/COMMIT round trips (the audit rows of key logins are
        // written in aggregate elsewhere). On SQLite the pool is the one writer connection.
        let rows = query.bind(now_ms()).fetch_all(pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
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
