//! Accounts: what makes a user — its row, its first identity and, for a login that creates it, its first
//! session — inserted together in one transaction. Registration, anonymous logins and custom-token logins
//! (which create their user at its first login). The rows themselves are written by their entity's file
//! ([`super::users`], [`super::identities`], [`super::sessions`]); this module only composes them, so
//! those files never need each other.

use sqlx::Row;

use super::email_tokens::{insert_token, NewToken};
use super::identities;
use super::sessions::{self, NewSession};
use super::users::{self, insert_user, CreateUserError, NewUser, User};
use super::{is_unique_violation, Store};
use crate::model::Event;
use crate::util::{new_id, now_ms};

impl Store {
    /// Inserts a user row and its first identity `(provider type, identity id)` (with its metadata
    /// `data`) inside `tx`, with the `user.created` webhook event; returns the creation time (ms).
    pub(super) async fn insert_account(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        user: &NewUser<'_>,
        (provider_type, identity_id): (&str, &str),
        data: Option<&str>,
    ) -> Result<i64, sqlx::Error> {
        let now = insert_user(tx, user).await?;
        identities::insert(tx, user.app_id, provider_type, identity_id, user.id, data).await?;
        let created = Event::new("user.created", "success")
            .app(user.app_id)
            .user(user.id)
            .provider(provider_type);
        self.write_webhook(&mut **tx, "user.created", &created)
            .await?;
        Ok(now)
    }
}

/// What a login with an external identity (custom JWT, Google, Apple, Facebook, function) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomLogin {
    /// A session of the subject's user: `(user id, session id, the user is new)`.
    Opened(String, String, bool),
    /// The subject's user is disabled: no session.
    Disabled(String),
}

impl Store {
    /// Creates a user (with its `user.registered` audit row, in one transaction). With
    /// `confirmation`, the user is unconfirmed and the token is stored with it.
    pub async fn create_user(
        &self,
        app_id: &str,
        provider: &str,
        email: Option<&str>,
        password_hash: Option<&str>,
        confirmation: Option<NewToken<'_>>,
        audit: &Event,
    ) -> Result<User, CreateUserError> {
        let mut user = User {
            id: new_id(),
            app_id: app_id.to_owned(),
            provider: provider.to_owned(),
            email: email.map(str::to_owned),
            password_hash: password_hash.map(str::to_owned),
            disabled: false,
            confirmed: confirmation.is_none(),
            created_at: 0,
            auth_epoch: 0,
            email_verified: false,
        };
        let result = async {
            let mut tx = self.write_tx().await?;
            let new = NewUser {
                id: &user.id,
                app_id,
                provider,
                email,
                password_hash,
                confirmed: user.confirmed,
                logged_in: false,
            };
            user.created_at = self
                .insert_account(&mut tx, &new, (provider, &new_id()), None)
                .await?;
            if let Some(token) = confirmation {
                insert_token(&mut tx, &user.id, token).await?;
            }
            self.audited(&mut tx, &audit.clone().user(&user.id)).await?;
            tx.commit().await
        }
        .await;
        match result {
            Ok(_) => Ok(user),
            Err(e) if is_unique_violation(&e) => Err(CreateUserError::EmailTaken),
            Err(e) => Err(CreateUserError::Db(e)),
        }
    }

    /// A new anonymous user of `app_id` with its first session, in one transaction (no user is ever
    /// left without a session by a failure in between). Returns `(user id, session id)`.
    pub async fn anonymous_login(
        &self,
        app_id: &str,
        device_id: &str,
        audit: &Event,
    ) -> Result<(String, String), sqlx::Error> {
        let user_id = new_id();
        let mut tx = self.write_tx().await?;
        let new = NewUser {
            id: &user_id,
            app_id,
            provider: "anon-user",
            email: None,
            password_hash: None,
            confirmed: true,
            logged_in: true,
        };
        let now = self
            .insert_account(&mut tx, &new, ("anon-user", &new_id()), None)
            .await?;
        let session = NewSession {
            user_id: &user_id,
            app_id,
            provider: "anon-user",
            device_id,
            auth_epoch: 0,
        };
        let session_id = sessions::insert(&mut tx, &session, now).await?;
        self.audited(&mut tx, &audit.clone().user(&user_id)).await?;
        tx.commit().await?;
        Ok((user_id, session_id))
    }

    /// Logs in the user of identity `(provider_type, id)` — a custom JWT's `sub`, a Google or Apple
    /// ID token's `sub`, a Facebook user id, the authentication function's user id — creating the user
    /// at its first login, and stores the identity's metadata fields `data` — one transaction (the
    /// login is audited in aggregate by the caller).
    pub async fn identity_login(
        &self,
        app_id: &str,
        identity: (&str, &str),
        data: Option<&str>,
        device_id: &str,
    ) -> Result<CustomLogin, sqlx::Error> {
        // Two first logins of one identity at once (PostgreSQL): the loser's insert violates the
        // identity's key; run again, it finds the winner's user.
        match self
            .identity_login_once(app_id, identity, data, device_id)
            .await
        {
            Err(e) if is_unique_violation(&e) => {
                self.identity_login_once(app_id, identity, data, device_id)
                    .await
            }
            other => other,
        }
    }

    async fn identity_login_once(
        &self,
        app_id: &str,
        (provider, sub): (&str, &str),
        data: Option<&str>,
        device_id: &str,
    ) -> Result<CustomLogin, sqlx::Error> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let found = sqlx::query(
            "SELECT u.id, CASE WHEN u.disabled THEN 1 ELSE 0 END, u.auth_epoch, i.data FROM identities i \
             JOIN users u ON u.id = i.user_id \
             WHERE i.app_id = $1 AND i.provider_type = $3 AND i.identity_id = $2",
        )
        .bind(app_id)
        .bind(sub)
        .bind(provider)
        .fetch_optional(&mut *tx)
        .await?;
        let (user_id, epoch, created) = match found {
            Some(row) => {
                let (id, disabled, epoch, stored): (String, i64, i64, Option<String>) = (
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                );
                if disabled != 0 {
                    tx.rollback().await?;
                    return Ok(CustomLogin::Disabled(id));
                }
                if stored.as_deref() != data {
                    sqlx::query(
                        "UPDATE identities SET data = $3 WHERE app_id = $1 \
                         AND provider_type = $4 AND identity_id = $2",
                    )
                    .bind(app_id)
                    .bind(sub)
                    .bind(data.map(str::to_owned))
                    .bind(provider)
                    .execute(&mut *tx)
                    .await?;
                }
                (id, epoch, false)
            }
            None => {
                let id = new_id();
                self.insert_account(
                    &mut tx,
                    &NewUser {
                        id: &id,
                        app_id,
                        provider,
                        email: None,
                        password_hash: None,
                        confirmed: true,
                        logged_in: true,
                    },
                    (provider, sub),
                    data,
                )
                .await?;
                (id, 0, true)
            }
        };
        let new = NewSession {
            user_id: &user_id,
            app_id,
            provider,
            device_id,
            auth_epoch: epoch,
        };
        let session = sessions::insert(&mut tx, &new, now).await?;
        users::mark_logged_in(&mut tx, &user_id).await?;
        tx.commit().await?;
        Ok(CustomLogin::Opened(user_id, session, created))
    }
}
