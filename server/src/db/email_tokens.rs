//! Confirmation and password-reset tokens (only their SHA-256 is stored): issuing, checking, using one
//! up with the change it allows (confirming, setting the new password), and the sweep of expired ones.

use sqlx::Row;

use super::identities::{self, Identity};
use super::Store;
use crate::model::{Event, Purpose};
use crate::util::now_ms;

/// A confirmation or password-reset token to store (only its hash is kept).
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    /// The public token id (`tokenId` of the link).
    pub id: &'a str,
    /// What it is for.
    pub purpose: Purpose,
    /// SHA-256 hex of the secret token.
    pub hash: &'a str,
    /// Expiry (ms since the epoch).
    pub expires_at: i64,
}

/// Inserts a confirmation or reset token row inside `tx`.
pub(super) async fn insert_token(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: &str,
    token: NewToken<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO userpass_tokens (id, user_id, purpose, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token.id)
    .bind(user_id)
    .bind(token.purpose.as_str())
    .bind(token.hash)
    .bind(now_ms())
    .bind(token.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Stores a new token for `user_id`. Earlier links of the same purpose keep working until one of
    /// them is used (which voids all of them) or they expire: a stranger asking for a link cannot void
    /// the one the owner received. Their number is bounded by the per-address sending limit times the
    /// token lifetime.
    pub async fn issue_token(&self, user_id: &str, token: NewToken<'_>) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        insert_token(&mut tx, user_id, token).await?;
        tx.commit().await
    }

    /// The user of an unexpired token (`id` with that hash and purpose), without using it up.
    pub async fn token_user(
        &self,
        id: &str,
        purpose: Purpose,
        hash: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT user_id FROM userpass_tokens \
             WHERE id = $1 AND purpose = $2 AND token_hash = $3 AND expires_at > $4",
        )
        .bind(id)
        .bind(purpose.as_str())
        .bind(hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get(0)).transpose()
    }

    /// Uses up an unexpired token inside `tx`: deletes it and returns its user, or `None` when the
    /// token is wrong, used or expired (so two requests with one token cannot both succeed).
    async fn take_token(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        id: &str,
        purpose: Purpose,
        hash: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query(
            "DELETE FROM userpass_tokens \
             WHERE id = $1 AND purpose = $2 AND token_hash = $3 AND expires_at > $4 RETURNING user_id",
        )
        .bind(id)
        .bind(purpose.as_str())
        .bind(hash)
        .bind(now_ms())
        .fetch_optional(&mut **tx)
        .await?;
        row.map(|r| r.try_get(0)).transpose()
    }

    /// Confirms the account of a confirmation token (using the token up), with a `user.confirmed`
    /// audit row. `None`: the token is wrong, used or expired.
    pub async fn confirm_user(
        &self,
        id: &str,
        hash: &str,
        audit: &Event,
    ) -> Result<Option<String>, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let Some(user_id) = Self::take_token(&mut tx, id, Purpose::Confirm, hash).await? else {
            return Ok(None);
        };
        // The link proved the mailbox.
        sqlx::query(
            "UPDATE users SET confirmed = TRUE, email_verified_at = COALESCE(email_verified_at, $2) \
             WHERE id = $1",
        )
        .bind(&user_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM userpass_tokens WHERE user_id = $1 AND purpose = 'confirm'")
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
        self.audited(&mut tx, &audit.clone().user(&user_id)).await?;
        tx.commit().await?;
        Ok(Some(user_id))
    }

    /// Sets a new password with a reset token (using it and the user's other reset tokens up), marks
    /// the account confirmed and its address proven (the link proved the mailbox), takes every
    /// identity other than the email/password one away, ends every session of the user, disables
    /// every API key of the user and writes a `password.reset` audit row, in one transaction. `None`:
    /// the token is wrong, used or expired; else the user and the identities taken away.
    pub async fn reset_password(
        &self,
        id: &str,
        hash: &str,
        password_hash: &str,
        audit: &Event,
    ) -> Result<Option<(String, Vec<Identity>)>, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let Some(user_id) = Self::take_token(&mut tx, id, Purpose::Reset, hash).await? else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE users SET password_hash = $2, confirmed = TRUE, auth_epoch = auth_epoch + 1, \
             email_verified_at = COALESCE(email_verified_at, $3), provider = 'local-userpass' \
             WHERE id = $1",
        )
        .bind(&user_id)
        .bind(password_hash)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        // Whoever linked an identity of their own to this account (a pre-hijack: registering the
        // owner's address and linking it before the owner used it) loses it with the reset.
        let removed = identities::remove_all_but(&mut tx, &user_id, "local-userpass").await?;
        // The account is taken back whole: every emailed link, every session (also those of logins
        // that checked the old password and have not written yet: the epoch moved on) and every API key
        // — disabled, still listed, so that the owner re-enables the ones that are theirs.
        for sql in [
            "DELETE FROM userpass_tokens WHERE user_id = $1 AND purpose = 'reset'",
            "DELETE FROM sessions WHERE user_id = $1",
            "UPDATE api_keys SET disabled = TRUE WHERE user_id = $1",
        ] {
            sqlx::query(sql).bind(&user_id).execute(&mut *tx).await?;
        }
        self.audited(&mut tx, &audit.clone().user(&user_id)).await?;
        tx.commit().await?;
        Ok(Some((user_id, removed)))
    }

    /// Deletes up to `batch` tokens that expired before `cutoff` (ms).
    pub async fn sweep_tokens(&self, cutoff: i64, batch: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM userpass_tokens WHERE id IN \
             (SELECT id FROM userpass_tokens WHERE expires_at < $1 LIMIT $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }
}
