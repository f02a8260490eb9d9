//! Sessions: opening, the live-session lookup of every authenticated request, ending, and the sweep of
//! expired ones.

use sqlx::Row;

use super::Store;
use crate::model::Event;
use crate::util::{new_id, now_ms};

/// A session row joined with its user's provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Session id.
    pub id: String,
    /// User id.
    pub user_id: String,
    /// App id.
    pub app_id: String,
    /// Provider used to open the session.
    pub provider: String,
    /// Key used to open the session, if any.
    pub api_key_id: Option<String>,
    /// Device id.
    pub device_id: String,
    /// The user's own provider (`anon-user` for anonymous users).
    pub user_provider: String,
    /// When the session was opened (ms since the epoch).
    pub created_at: i64,
    /// The scopes of the key that opened it (space-separated), if it has any.
    pub scope: Option<String>,
}

/// What a new session needs.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    /// User id.
    pub user_id: &'a str,
    /// App id.
    pub app_id: &'a str,
    /// Login provider.
    pub provider: &'a str,
    /// Device id.
    pub device_id: &'a str,
    /// The user's `auth_epoch` when its password was checked.
    pub auth_epoch: i64,
}

/// Whose sessions [`Store::trim_sessions`] trims.
#[derive(Debug, Clone, Copy)]
pub enum SessionOwner<'a> {
    /// The sessions opened with this key.
    Key(&'a str),
    /// All sessions of this user.
    User(&'a str),
}

/// Inserts a session of `s` opened at `at` (ms) inside the transaction of a login that has just read
/// (or made) the user and its `auth_epoch`; returns the new session id.
pub(super) async fn insert(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    s: &NewSession<'_>,
    at: i64,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO sessions (id, user_id, app_id, provider, api_key_id, device_id, created_at, \
         auth_epoch) VALUES ($1, $2, $3, $4, NULL, $5, $6, $7)",
    )
    .bind(&id)
    .bind(s.user_id)
    .bind(s.app_id)
    .bind(s.provider)
    .bind(s.device_id)
    .bind(at)
    .bind(s.auth_epoch)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

impl Store {
    /// Opens a password session for a user and remembers the device holding `device_secret` (its
    /// `login.succeeded` is audited in aggregate by the caller). `None`: the user's credentials changed
    /// since they were checked (`auth_epoch` moved on: a password reset, a disable or `sessions revoke`
    /// committed while the password was being verified), or the user is disabled — no session is opened.
    pub async fn create_session(
        &self,
        s: NewSession<'_>,
        device_secret: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let id = new_id();
        let mut tx = self.write_tx().await?;
        let opened = sqlx::query(
            "INSERT INTO sessions (id, user_id, app_id, provider, api_key_id, device_id, created_at, \
             auth_epoch) SELECT $1, u.id, $3, $4, NULL, $5, $6, u.auth_epoch FROM users u \
             WHERE u.id = $2 AND u.auth_epoch = $7 AND NOT u.disabled",
        )
        .bind(&id)
        .bind(s.user_id)
        .bind(s.app_id)
        .bind(s.provider)
        .bind(s.device_id)
        .bind(now_ms())
        .bind(s.auth_epoch)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if opened == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        super::devices::remember(&mut tx, s.user_id, device_secret).await?;
        super::users::mark_logged_in(&mut tx, s.user_id).await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// A live session by id.
    /// A session opened with a key that is disabled (or gone) is not live, even if a login that
    /// raced the disable inserted it after the disable deleted the key's sessions.
    pub async fn session(&self, id: &str) -> Result<Option<Session>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT s.id, s.user_id, s.app_id, s.provider, s.api_key_id, s.device_id, u.provider, \
             s.created_at, s.scope FROM sessions s JOIN users u ON u.id = s.user_id AND NOT u.disabled \
             AND u.auth_epoch = s.auth_epoch \
             LEFT JOIN api_keys k ON k.id = s.api_key_id \
             WHERE s.id = $1 AND (s.api_key_id IS NULL OR (k.id IS NOT NULL AND NOT k.disabled \
               AND (k.expires_at IS NULL OR k.expires_at > $2)))",
        )
        .bind(id)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Session {
            id: row.try_get(0)?,
            user_id: row.try_get(1)?,
            app_id: row.try_get(2)?,
            provider: row.try_get(3)?,
            api_key_id: row.try_get(4)?,
            device_id: row.try_get(5)?,
            user_provider: row.try_get(6)?,
            created_at: row.try_get(7)?,
            scope: row.try_get(8)?,
        }))
    }

    /// Ends a session (no error if it does not exist).
    /// (With a `session.revoked` audit row when there was one.)
    pub async fn delete_session(&self, id: &str, audit: &Event) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let row =
            sqlx::query("DELETE FROM sessions WHERE id = $1 RETURNING user_id, app_id, api_key_id")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(row) = row {
            let mut event = audit.clone().user(row.try_get::<String, _>(0)?.as_str());
            event.app = Some(row.try_get(1)?);
            event.key_id = row.try_get(2)?;
            self.audited(&mut tx, &event).await?;
        }
        tx.commit().await
    }

    /// How many sessions a user has.
    pub async fn count_user_sessions(&self, user_id: &str) -> Result<i64, sqlx::Error> {
        sqlx::query("SELECT COUNT(*) FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)
    }

    /// Ends the oldest sessions of key `key_id` (or of user `user_id`) beyond the newest `cap`; returns
    /// how many.
    pub async fn trim_sessions(
        &self,
        owner: SessionOwner<'_>,
        cap: u64,
    ) -> Result<u64, sqlx::Error> {
        let (column, id) = match owner {
            SessionOwner::Key(id) => ("api_key_id", id),
            SessionOwner::User(id) => ("user_id", id),
        };
        let sql = format!(
            "DELETE FROM sessions WHERE {column} = $1 AND id NOT IN \
             (SELECT id FROM sessions WHERE {column} = $1 ORDER BY created_at DESC, id DESC LIMIT $2)"
        );
        Ok(sqlx::query(&sql)
            .bind(id)
            .bind(i64::try_from(cap).unwrap_or(i64::MAX))
            .execute(&self.writer)
            .await?
            .rows_affected())
    }

    /// Ends every session of a user (with a `session.revoked` audit row); returns how many.
    pub async fn delete_user_sessions(
        &self,
        user_id: &str,
        audit: &Event,
    ) -> Result<u64, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        // Also kills the sessions of logins racing this (opened under the old epoch).
        sqlx::query("UPDATE users SET auth_epoch = auth_epoch + 1 WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        self.audited(&mut tx, &audit.clone().user(user_id)).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Deletes up to `batch` sessions opened before `cutoff` (ms); returns how many.
    pub async fn sweep_sessions(&self, cutoff: i64, batch: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM sessions WHERE id IN \
             (SELECT id FROM sessions WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }
}
