//! Server API keys: keys an operator creates for a backend service, owned by no person. Each has a user of
//! its own (provider `server`, no email or password) that its sessions belong to; the key itself is an
//! ordinary row of `api_keys`, so logging in, disabling, expiry, `lastUsedAt` and the audit log work as for
//! user keys.

use sqlx::Row;

use super::{ApiKey, CreateKeyError, Store};
use crate::model::Event;
use crate::util::new_id;

/// The provider of a server key's user.
pub const SERVER_PROVIDER: &str = "server";

/// A server key as listed: the key, its app and its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerKey {
    /// The key (never its secret).
    pub key: ApiKey,
    /// The app it logs in to.
    pub app_id: String,
    /// Its `server` user.
    pub user_id: String,
}

impl Store {
    /// Creates a server key named `name` for `app_id` with its `server` user, in one transaction (with
    /// the `key.created` audit row). `NameTaken` when the app has a server key of that name.
    pub async fn create_server_key(
        &self,
        app_id: &str,
        name: &str,
        key_hash: &str,
        start: &str,
        expires_at: Option<i64>,
        audit: &Event,
    ) -> Result<ServerKey, CreateKeyError> {
        let result = async {
            let mut tx = self.write_tx().await?;
            let taken = sqlx::query(
                "SELECT 1 FROM api_keys k JOIN users u ON u.id = k.user_id \
                 WHERE u.app_id = $1 AND u.provider = 'server' AND k.name = $2",
            )
            .bind(app_id)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            if taken.is_some() {
                tx.rollback().await?;
                return Ok(None);
            }
            let user_id = new_id();
            let new = super::users::NewUser {
                id: &user_id,
                app_id,
                provider: SERVER_PROVIDER,
                email: None,
                password_hash: None,
                confirmed: true,
                logged_in: true,
            };
            let now =
                self.insert_account(&mut tx, &new, ("api-key", &new_id()), None)
                    .await?;
            sqlx::query("UPDATE users SET key_count = 1, key_seq = 1 WHERE id = $1")
                .bind(&user_id)
                .execute(&mut *tx)
                .await?;
            let key = ApiKey {
                id: new_id(),
                name: name.to_owned(),
                disabled: false,
                start: start.to_owned(),
                created_at: now,
                last_used_at: None,
                expires_at,
                scopes: None,
                allowed_ips: Vec::new(),
                previous_expires_at: None,
                ip_restricted: false,
            };
            sqlx::query(
                "INSERT INTO api_keys (id, user_id, name, key_hash, start, disabled, seq, created_at, \
                 last_used_at, expires_at) VALUES ($1, $2, $3, $4, $5, FALSE, 1, $6, NULL, $7)",
            )
            .bind(&key.id)
            .bind(&user_id)
            .bind(name)
            .bind(key_hash)
            .bind(start)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            let event = audit.clone().app(app_id).user(&user_id).key(&key.id);
            self.audited(&mut tx, &event).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Some(ServerKey {
                key,
                app_id: app_id.to_owned(),
                user_id,
            }))
        }
        .await;
        match result {
            Ok(Some(key)) => Ok(key),
            Ok(None) => Err(CreateKeyError::NameTaken),
            Err(e) => Err(CreateKeyError::Db(e)),
        }
    }

    /// The server keys, of `app_id` or of every app, in creation order.
    pub async fn list_server_keys(
        &self,
        app_id: Option<&str>,
    ) -> Result<Vec<ServerKey>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {}, u.app_id, u.id FROM api_keys k JOIN users u ON u.id = k.user_id \
             WHERE u.provider = 'server' AND ($1 IS NULL OR u.app_id = $1) ORDER BY k.created_at, k.id",
            Self::KEY_COLUMNS_OF_K
        ))
        .bind(app_id.map(str::to_owned))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ServerKey {
                    key: Self::key_from_row(row)?,
                    app_id: row.try_get(Self::KEY_COLUMN_COUNT)?,
                    user_id: row.try_get(Self::KEY_COLUMN_COUNT + 1)?,
                })
            })
            .collect()
    }
}
