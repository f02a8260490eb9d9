//! Users: registration, lookups, disable/enable/confirm, deletion, anonymous users and their sweep.

use sqlx::{any::AnyRow, Row};

use super::Store;
use crate::model::Event;
use crate::util::now_ms;

/// A user row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub id: String,
    /// App id.
    pub app_id: String,
    /// The kind of account: `anon-user` (anonymous), `local-userpass`, `custom-token` (the provider
    /// of its first non-anonymous identity) or `server` (a server key's user).
    pub provider: String,
    /// Email (email/password users).
    pub email: Option<String>,
    /// Argon2id PHC string (email/password users).
    pub password_hash: Option<String>,
    /// Disabled by an operator: no login, no session.
    pub disabled: bool,
    /// Confirmed (always, unless registered while `--email-confirmation` was on and not confirmed yet).
    pub confirmed: bool,
    /// Creation time (ms since the epoch).
    pub created_at: i64,
    /// Moves on with every password reset, disable and `sessions revoke`: sessions opened under an
    /// earlier value are dead (see migration 7).
    pub auth_epoch: i64,
    /// A link emailed to the address was opened (confirmation or reset; migration 11): only then may
    /// the account join another user by linking.
    pub email_verified: bool,
}

/// A user row to insert (with [`insert_user`]).
pub(super) struct NewUser<'a> {
    pub(super) id: &'a str,
    pub(super) app_id: &'a str,
    pub(super) provider: &'a str,
    pub(super) email: Option<&'a str>,
    pub(super) password_hash: Option<&'a str>,
    pub(super) confirmed: bool,
    /// The user logs in now (every user but a registered email/password account).
    pub(super) logged_in: bool,
}

/// Inserts a user row inside a transaction (its identities are added by the caller).
pub(super) async fn insert_user(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    u: &NewUser<'_>,
) -> Result<i64, sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO users (id, app_id, provider, email, password_hash, created_at, confirmed, \
         first_login_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(u.id)
    .bind(u.app_id)
    .bind(u.provider)
    .bind(u.email.map(str::to_owned))
    .bind(u.password_hash.map(str::to_owned))
    .bind(now)
    .bind(u.confirmed)
    .bind(u.logged_in.then_some(now))
    .execute(&mut **tx)
    .await?;
    Ok(now)
}

/// Records that `user_id` has logged in (an email/password account is then a user of its own: linking
/// can no longer move it onto another user).
pub(super) async fn mark_logged_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET first_login_at = $2 WHERE id = $1 AND first_login_at IS NULL")
        .bind(user_id)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Why a user could not be created.
#[derive(Debug)]
pub enum CreateUserError {
    /// The email is already registered in this app.
    EmailTaken,
    /// The database failed.
    Db(sqlx::Error),
}

impl Store {
    fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
        Ok(User {
            id: row.try_get(0)?,
            app_id: row.try_get(1)?,
            provider: row.try_get(2)?,
            email: row.try_get(3)?,
            password_hash: row.try_get(4)?,
            disabled: row.try_get::<i64, _>(5)? != 0,
            created_at: row.try_get(6)?,
            confirmed: row.try_get::<i64, _>(7)? != 0,
            auth_epoch: row.try_get(8)?,
            email_verified: row.try_get::<i64, _>(9)? != 0,
        })
    }

    const USER_COLUMNS: &'static str = "id, app_id, provider, email, password_hash, \
         CASE WHEN disabled THEN 1 ELSE 0 END, created_at, CASE WHEN confirmed THEN 1 ELSE 0 END, auth_epoch, \
         CASE WHEN email_verified_at IS NULL THEN 0 ELSE 1 END";

    /// The email/password user of `app_id` with that (normalised) email.
    pub async fn user_by_email(
        &self,
        app_id: &str,
        email: &str,
    ) -> Result<Option<User>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM users WHERE app_id = $1 AND email = $2",
            Self::USER_COLUMNS
        ))
        .bind(app_id)
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::user_from_row).transpose()
    }

    /// A user by id.
    pub async fn user(&self, id: &str) -> Result<Option<User>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM users WHERE id = $1",
            Self::USER_COLUMNS
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::user_from_row).transpose()
    }

    /// Every user, oldest first (admin commands).
    pub async fn list_users(&self) -> Result<Vec<User>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM users ORDER BY created_at, id",
            Self::USER_COLUMNS
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::user_from_row).collect()
    }

    /// Disables (ending its sessions) or enables a user, with the `audit` row. Returns whether the
    /// user exists.
    pub async fn set_user_disabled(
        &self,
        id: &str,
        disabled: bool,
        audit: &Event,
    ) -> Result<bool, sqlx::Error> {
        super::retry_conflicts(|| self.set_user_disabled_once(id, disabled, audit)).await
    }

    /// One attempt of [`Self::set_user_disabled`].
    async fn set_user_disabled_once(
        &self,
        id: &str,
        disabled: bool,
        audit: &Event,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let sql = if disabled {
            "UPDATE users SET disabled = TRUE, auth_epoch = auth_epoch + 1 WHERE id = $1"
        } else {
            "UPDATE users SET disabled = FALSE WHERE id = $1"
        };
        let n = sqlx::query(sql)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 && disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if n > 0 {
            self.audited(&mut tx, &audit.clone().user(id)).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The custom data of user `id`: `None` for no such user, `Some(None)` for a user without any.
    pub async fn custom_data(&self, id: &str) -> Result<Option<Option<String>>, sqlx::Error> {
        let row = sqlx::query("SELECT custom_data FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get::<Option<String>, _>(0)).transpose()
    }

    /// Sets (`Some`, a JSON object's text) or clears (`None`) the custom data of user `id`, with the `audit`
    /// row. Returns whether the user exists.
    pub async fn set_custom_data(
        &self,
        id: &str,
        data: Option<&str>,
        audit: &Event,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("UPDATE users SET custom_data = $1 WHERE id = $2")
            .bind(data)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            self.audited(&mut tx, &audit.clone().user(id)).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Marks a user confirmed (admin command), with the `audit` row. Returns whether the user exists.
    pub async fn set_user_confirmed(&self, id: &str, audit: &Event) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("UPDATE users SET confirmed = TRUE WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM userpass_tokens WHERE user_id = $1 AND purpose = 'confirm'")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if n > 0 {
            self.audited(&mut tx, &audit.clone().user(id)).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Deletes a user with its sessions and keys (and a `user.deleted` audit row). Returns whether
    /// the user existed.
    pub async fn delete_user(&self, id: &str, audit: &Event) -> Result<bool, sqlx::Error> {
        super::retry_conflicts(|| self.delete_user_once(id, audit)).await
    }

    /// One attempt of [`Self::delete_user`].
    async fn delete_user_once(&self, id: &str, audit: &Event) -> Result<bool, sqlx::Error> {
        // First, on its own, what stops new logins of the user, so that no key login takes the
        // foreign-key locks on the user and its keys that the delete must wait for (as in
        // `delete_key`).
        sqlx::query("UPDATE users SET disabled = TRUE WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await?;
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM api_keys WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            self.audited(&mut tx, &audit.clone().user(id)).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Deletes up to `batch` anonymous users created before `cutoff` (ms) that have no session left.
    pub async fn sweep_anonymous_users(&self, cutoff: i64, batch: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM users WHERE id IN \
             (SELECT u.id FROM users u WHERE u.provider = 'anon-user' AND u.created_at < $1 \
              AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id) LIMIT $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }
}
