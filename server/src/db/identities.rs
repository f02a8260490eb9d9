//! Identities: what each user can log in as (`anon-user`, `local-userpass`, `custom-token` subjects, a
//! server key's `api-key`, identities imported from App Services), unique per app. Custom-token logins,
//! and account linking, which moves an identity onto the user that links it.

use sqlx::Row;

use super::{is_unique_violation, Backend, Store};
use crate::model::Event;
use crate::util::now_ms;

/// One identity of a user, as the profile lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Provider type (`local-userpass`, `custom-token`, …).
    pub provider_type: String,
    /// The identity's id (a custom JWT's `sub`).
    pub id: String,
    /// Metadata fields (a JSON object) the identity's last login carried.
    pub data: Option<String>,
}

/// Adds an identity of `user_id` inside a transaction.
pub(super) async fn insert(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    app_id: &str,
    provider_type: &str,
    identity_id: &str,
    user_id: &str,
    data: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO identities (app_id, provider_type, identity_id, user_id, created_at, data) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(app_id)
    .bind(provider_type)
    .bind(identity_id)
    .bind(user_id)
    .bind(now_ms())
    .bind(data.map(str::to_owned))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What linking an identity did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The identity is now the user's.
    Linked,
    /// It was the user's already.
    AlreadyLinked,
    /// It belongs to another user.
    Taken,
    /// The user already has an identity of that provider.
    ProviderTaken,
    /// The email/password account's password changed (or it was disabled) since it was checked.
    Changed,
    /// The email/password account's address was never proven by an emailed link.
    Unproven,
}

/// What removing an identity did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// It is gone, with the sessions opened with its provider.
    Removed,
    /// The user has no such identity.
    NotFound,
    /// It is the user's only identity: an account keeps one.
    Last,
}

/// Takes every identity of `user_id` but those of provider `keep` away inside `tx`; returns them.
pub(super) async fn remove_all_but(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: &str,
    keep: &str,
) -> Result<Vec<Identity>, sqlx::Error> {
    let rows = sqlx::query(
        "DELETE FROM identities WHERE user_id = $1 AND provider_type <> $2 \
         RETURNING provider_type, identity_id, data",
    )
    .bind(user_id)
    .bind(keep)
    .fetch_all(&mut **tx)
    .await?;
    let mut removed: Vec<Identity> = rows.iter().map(identity_of).collect::<Result<_, _>>()?;
    removed.sort_by(|a, b| (&a.provider_type, &a.id).cmp(&(&b.provider_type, &b.id)));
    Ok(removed)
}

fn identity_of(r: &sqlx::any::AnyRow) -> Result<Identity, sqlx::Error> {
    Ok(Identity {
        provider_type: r.try_get(0)?,
        id: r.try_get(1)?,
        data: r.try_get(2)?,
    })
}

impl Store {
    /// The identities of a user, in the order they were added.
    pub async fn identities(&self, user_id: &str) -> Result<Vec<Identity>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT provider_type, identity_id, data FROM identities WHERE user_id = $1 \
             ORDER BY created_at, provider_type, identity_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(identity_of).collect()
    }

    /// On PostgreSQL, locks the rows of these users until `tx` ends (in id order, so two transactions
    /// locking the same users never deadlock): concurrent links, joins and removals of one user run one
    /// after the other. SQLite's write transactions are serialised already.
    async fn lock_users(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        ids: &[&str],
    ) -> Result<(), sqlx::Error> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        for id in ids {
            sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Links identity `(provider_type, identity_id)` of `app_id` (with its metadata `data`) to
    /// `user_id`, with the `audit` row. An anonymous user becomes a user of that provider (and is no
    /// longer swept as anonymous).
    pub async fn link_identity(
        &self,
        user_id: &str,
        app_id: &str,
        (provider_type, identity_id): (&str, &str),
        data: Option<&str>,
        audit: &Event,
    ) -> Result<Link, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        self.lock_users(&mut tx, &[user_id]).await?;
        let owner = sqlx::query(
            "SELECT user_id FROM identities WHERE app_id = $1 AND provider_type = $2 AND identity_id = $3",
        )
        .bind(app_id)
        .bind(provider_type)
        .bind(identity_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = owner {
            let owner: String = row.try_get(0)?;
            tx.rollback().await?;
            return Ok(if owner == user_id {
                Link::AlreadyLinked
            } else {
                Link::Taken
            });
        }
        if has_provider(&mut tx, user_id, provider_type).await? {
            tx.rollback().await?;
            return Ok(Link::ProviderTaken);
        }
        match insert(&mut tx, app_id, provider_type, identity_id, user_id, data).await {
            Err(e) if is_unique_violation(&e) => return Ok(Link::Taken),
            other => other?,
        }
        sqlx::query("UPDATE users SET provider = $2 WHERE id = $1 AND provider = 'anon-user'")
            .bind(user_id)
            .bind(provider_type)
            .execute(&mut *tx)
            .await?;
        self.audited(&mut tx, &audit.clone().user(user_id)).await?;
        tx.commit().await?;
        Ok(Link::Linked)
    }

    /// Moves the email/password account `account` (registered, never logged in, its `auth_epoch` still
    /// `epoch`) onto `user_id`: the user gets its identity, email, password and confirmation, and the
    /// account's own row goes — as App Services created a user only at its first login. An account
    /// that has logged in is a user of its own ([`Link::Taken`]).
    pub async fn join_userpass_account(
        &self,
        user_id: &str,
        account: &str,
        epoch: i64,
        audit: &Event,
    ) -> Result<Link, sqlx::Error> {
        if account == user_id {
            return Ok(Link::AlreadyLinked);
        }
        let mut tx = self.write_tx().await?;
        self.lock_users(&mut tx, &[user_id, account]).await?;
        if has_provider(&mut tx, user_id, "local-userpass").await? {
            tx.rollback().await?;
            return Ok(Link::ProviderTaken);
        }
        let row = sqlx::query(
            "SELECT email, password_hash, first_login_at, auth_epoch, CASE WHEN disabled THEN 1 ELSE 0 END, \
             email_verified_at FROM users WHERE id = $1 AND provider = 'local-userpass'",
        )
        .bind(account)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(Link::Changed);
        };
        let (email, hash, first_login, current, disabled, verified): (
            Option<String>,
            Option<String>,
            Option<i64>,
            i64,
            i64,
            Option<i64>,
        ) = (
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
            row.try_get(4)?,
            row.try_get(5)?,
        );
        if first_login.is_some() {
            tx.rollback().await?;
            return Ok(Link::Taken);
        }
        // Registering someone's address is easy; opening a link sent to it is not: only a proven
        // address joins another user (else anyone could pre-register a victim's address, link it to
        // an identity of their own, and keep that identity once the victim starts using the account).
        if verified.is_none() {
            tx.rollback().await?;
            return Ok(Link::Unproven);
        }
        if current != epoch || disabled != 0 {
            tx.rollback().await?;
            return Ok(Link::Changed);
        }
        // Added to the user now (the profile lists identities in the order they were added).
        sqlx::query("UPDATE identities SET user_id = $2, created_at = $3 WHERE user_id = $1")
            .bind(account)
            .bind(user_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(account)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE users SET email = $2, password_hash = $3, confirmed = TRUE, email_verified_at = $4, \
             provider = CASE WHEN provider = 'anon-user' THEN 'local-userpass' ELSE provider END \
             WHERE id = $1",
        )
        .bind(user_id)
        .bind(email)
        .bind(hash)
        .bind(verified)
        .execute(&mut *tx)
        .await?;
        self.audited(&mut tx, &audit.clone().user(user_id)).await?;
        tx.commit().await?;
        Ok(Link::Linked)
    }
}

impl Store {
    /// Takes identity `(provider_type, identity_id)` away from `user_id` (the owner's own choice), with
    /// the `audit` row: the sessions opened with that provider end, an email/password identity takes the
    /// address and password with it, and the user's kind becomes that of its oldest remaining identity.
    pub async fn remove_identity(
        &self,
        user_id: &str,
        (provider_type, identity_id): (&str, &str),
        audit: &Event,
    ) -> Result<Removal, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        self.lock_users(&mut tx, &[user_id]).await?;
        let left: i64 = sqlx::query("SELECT COUNT(*) FROM identities WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let gone = sqlx::query(
            "DELETE FROM identities WHERE user_id = $1 AND provider_type = $2 AND identity_id = $3",
        )
        .bind(user_id)
        .bind(provider_type)
        .bind(identity_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if gone == 0 || left <= 1 {
            tx.rollback().await?;
            return Ok(if gone == 0 {
                Removal::NotFound
            } else {
                Removal::Last
            });
        }
        if !has_provider(&mut tx, user_id, provider_type).await? {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND provider = $2")
                .bind(user_id)
                .bind(provider_type)
                .execute(&mut *tx)
                .await?;
        }
        if provider_type == "local-userpass" {
            sqlx::query(
                "UPDATE users SET email = NULL, password_hash = NULL, email_verified_at = NULL \
                 WHERE id = $1",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM userpass_tokens WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE users SET provider = (SELECT provider_type FROM identities WHERE user_id = $1 \
             ORDER BY created_at, provider_type, identity_id LIMIT 1) \
             WHERE id = $1 AND provider = $2",
        )
        .bind(user_id)
        .bind(provider_type)
        .execute(&mut *tx)
        .await?;
        self.audited(&mut tx, &audit.clone().user(user_id)).await?;
        tx.commit().await?;
        Ok(Removal::Removed)
    }
}

/// Whether `user_id` has an identity of `provider_type`.
async fn has_provider(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: &str,
    provider_type: &str,
) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("SELECT 1 FROM identities WHERE user_id = $1 AND provider_type = $2")
            .bind(user_id)
            .bind(provider_type)
            .fetch_optional(&mut **tx)
            .await?
            .is_some(),
    )
}
