//! User API keys: create, list, fetch, enable/disable, delete, expiry, and key login (through the
//! batch of [`super::login_batch`]) with the coalesced `last_used_at` writes.

use sqlx::{any::AnyRow, Row};

use super::login_batch::{KeySession, PendingLogin};
use super::{is_unique_violation, Store};
use crate::model::network::Network;
use crate::model::Event;
use crate::util::{new_id, now_ms};

/// An API key row (without its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Key id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Disabled flag.
    pub disabled: bool,
    /// Non-secret prefix.
    pub start: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last key login (ms).
    pub last_used_at: Option<i64>,
    /// Expiry (ms), if any.
    pub expires_at: Option<i64>,
    /// Scopes (none: the key acts as its owner).
    pub scopes: Option<Vec<String>>,
    /// The networks it may log in from (empty: anywhere).
    pub allowed_ips: Vec<String>,
    /// Until when the secret before the last roll logs in (ms), if it still does.
    pub previous_expires_at: Option<i64>,
    /// Whether it has an allow-list (its networks are read separately).
    pub ip_restricted: bool,
}

/// A key to create.
#[derive(Debug, Clone, Copy)]
pub struct NewKey<'a> {
    /// Owner.
    pub user_id: &'a str,
    /// Name.
    pub name: &'a str,
    /// SHA-256 hex of the secret.
    pub key_hash: &'a str,
    /// Non-secret prefix.
    pub start: &'a str,
    /// Expiry (ms), if any.
    pub expires_at: Option<i64>,
    /// Scopes, space-separated (none: the key acts as its owner).
    pub scopes: Option<&'a str>,
    /// The networks it may log in from (empty: anywhere).
    pub networks: &'a [Network],
}

/// Why a key could not be created.
#[derive(Debug)]
pub enum CreateKeyError {
    /// The user already holds the maximum number of keys.
    LimitReached,
    /// The user already has a key of that name.
    NameTaken,
    /// The database failed.
    Db(sqlx::Error),
}

impl Store {
    const KEY_COLUMNS: &'static str = "id, name, CASE WHEN disabled THEN 1 ELSE 0 END, start, \
         created_at, last_used_at, expires_at, scopes, prev_expires_at, \
         CASE WHEN ip_restricted THEN 1 ELSE 0 END";

    /// [`Self::KEY_COLUMNS`] of a query that names the key table `k`.
    pub(super) const KEY_COLUMNS_OF_K: &'static str = "k.id, k.name, \
         CASE WHEN k.disabled THEN 1 ELSE 0 END, k.start, k.created_at, k.last_used_at, k.expires_at, \
         k.scopes, k.prev_expires_at, CASE WHEN k.ip_restricted THEN 1 ELSE 0 END";

    /// How many columns [`Self::KEY_COLUMNS_OF_K`] names (a query's own columns come after them).
    pub(super) const KEY_COLUMN_COUNT: usize = 10;

    pub(super) fn key_from_row(row: &AnyRow) -> Result<ApiKey, sqlx::Error> {
        let scopes: Option<String> = row.try_get(7)?;
        let previous: Option<i64> = row.try_get(8)?;
        Ok(ApiKey {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            disabled: row.try_get::<i64, _>(2)? != 0,
            start: row.try_get(3)?,
            created_at: row.try_get(4)?,
            last_used_at: row.try_get(5)?,
            expires_at: row.try_get(6)?,
            scopes: scopes.map(|s| s.split(' ').map(str::to_owned).collect()),
            allowed_ips: Vec::new(),
            previous_expires_at: previous.filter(|at| *at > now_ms()),
            ip_restricted: row.try_get::<i64, _>(9)? != 0,
        })
    }

    /// `keys` with the networks of those that have an allow-list.
    async fn with_networks(&self, mut keys: Vec<ApiKey>) -> Result<Vec<ApiKey>, sqlx::Error> {
        for key in keys.iter_mut().filter(|k| k.ip_restricted) {
            let rows = sqlx::query(
                "SELECT network FROM api_key_networks WHERE key_id = $1 ORDER BY first_ip, network",
            )
            .bind(&key.id)
            .fetch_all(&self.pool)
            .await?;
            key.allowed_ips = rows
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
        }
        Ok(keys)
    }

    /// Creates a key for a user, enforcing the per-user limit and name uniqueness atomically.
    pub async fn create_key(
        &self,
        new: NewKey<'_>,
        limit: i64,
        audit: &Event,
    ) -> Result<ApiKey, CreateKeyError> {
        let NewKey {
            user_id,
            name,
            key_hash,
            start,
            expires_at,
            scopes,
            networks,
        } = new;
        let result = async {
            let mut tx = self.write_tx().await?;
            let seq = sqlx::query(
                "UPDATE users SET key_count = key_count + 1, key_seq = key_seq + 1 \
                 WHERE id = $1 AND key_count < $2 RETURNING key_seq",
            )
            .bind(user_id)
            .bind(limit)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(seq) = seq else {
                tx.rollback().await?;
                return Ok(None);
            };
            let seq: i64 = seq.try_get(0)?;
            let key = ApiKey {
                id: new_id(),
                name: name.to_owned(),
                disabled: false,
                start: start.to_owned(),
                created_at: now_ms(),
                last_used_at: None,
                expires_at,
                scopes: scopes.map(|s| s.split(' ').map(str::to_owned).collect()),
                allowed_ips: networks.iter().map(|n| n.text.clone()).collect(),
                previous_expires_at: None,
                ip_restricted: !networks.is_empty(),
            };
            sqlx::query(
                "INSERT INTO api_keys (id, user_id, name, key_hash, start, disabled, seq, created_at, \
                 last_used_at, expires_at, scopes, ip_restricted) \
                 VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7, NULL, $8, $9, $10)",
            )
            .bind(&key.id)
            .bind(user_id)
            .bind(name)
            .bind(key_hash)
            .bind(start)
            .bind(seq)
            .bind(key.created_at)
            .bind(expires_at)
            .bind(scopes)
            .bind(key.ip_restricted)
            .execute(&mut *tx)
            .await?;
            insert_networks(&mut tx, &key.id, networks).await?;
            self.audited(&mut tx, &audit.clone().user(user_id).key(&key.id)).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Some(key))
        }
        .await;
        match result {
            Ok(Some(key)) => Ok(key),
            Ok(None) => Err(CreateKeyError::LimitReached),
            Err(e) if is_unique_violation(&e) => Err(CreateKeyError::NameTaken),
            Err(e) => Err(CreateKeyError::Db(e)),
        }
    }

    /// A user's keys in creation order.
    pub async fn list_keys(&self, user_id: &str) -> Result<Vec<ApiKey>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM api_keys WHERE user_id = $1 ORDER BY seq, created_at, id",
            Self::KEY_COLUMNS
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let keys = rows
            .iter()
            .map(Self::key_from_row)
            .collect::<Result<_, _>>()?;
        self.with_networks(keys).await
    }

    /// One of a user's keys.
    pub async fn key(&self, user_id: &str, id: &str) -> Result<Option<ApiKey>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM api_keys WHERE user_id = $1 AND id = $2",
            Self::KEY_COLUMNS
        ))
        .bind(user_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(key) = row.as_ref().map(Self::key_from_row).transpose()? else {
            return Ok(None);
        };
        Ok(self.with_networks(vec![key]).await?.pop())
    }

    /// Enables or disables one of a user's keys; disabling ends the sessions opened with it.
    /// Returns whether the key exists.
    pub async fn set_key_disabled(
        &self,
        user_id: &str,
        id: &str,
        disabled: bool,
        audit: &Event,
    ) -> Result<bool, sqlx::Error> {
        super::retry_conflicts(|| self.set_key_disabled_once(user_id, id, disabled, audit)).await
    }

    /// One attempt of [`Self::set_key_disabled`].
    async fn set_key_disabled_once(
        &self,
        user_id: &str,
        id: &str,
        disabled: bool,
        audit: &Event,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let sql = if disabled {
            "UPDATE api_keys SET disabled = TRUE WHERE user_id = $1 AND id = $2"
        } else {
            "UPDATE api_keys SET disabled = FALSE WHERE user_id = $1 AND id = $2"
        };
        let n = sqlx::query(sql)
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 && disabled {
            sqlx::query("DELETE FROM sessions WHERE api_key_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if n > 0 {
            self.audited(&mut tx, &audit.clone().user(user_id).key(id))
                .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Whether the key with hash `key_hash` of a user of `app_id` exists, is enabled, and has expired
    /// (why a key login failed, for the `APIKeyExpired` answer).
    pub async fn key_expired(&self, app_id: &str, key_hash: &str) -> Result<bool, sqlx::Error> {
        let row = sqlx::query(
            "SELECT 1 FROM api_keys k JOIN users u ON u.id = k.user_id \
             WHERE k.key_hash = $1 AND u.app_id = $2 AND NOT k.disabled AND NOT u.disabled \
             AND k.expires_at IS NOT NULL AND k.expires_at <= $3",
        )
        .bind(key_hash)
        .bind(app_id)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Keys (enabled) whose last use — or creation, if never used — is before `cutoff` (ms):
    /// `(key id, user id)`, at most `batch`.
    pub async fn unused_keys(
        &self,
        cutoff: i64,
        batch: i64,
    ) -> Result<Vec<(String, String)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, user_id FROM api_keys WHERE NOT disabled \
             AND COALESCE(last_used_at, created_at) < $1 ORDER BY created_at LIMIT $2",
        )
        .bind(cutoff)
        .bind(batch)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Deletes the sessions of key `id` if the key is (still) disabled.
    pub async fn delete_sessions_of_disabled_key(&self, id: &str) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM sessions WHERE api_key_id = $1 AND EXISTS \
             (SELECT 1 FROM api_keys WHERE id = $1 AND disabled)",
        )
        .bind(id)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }

    /// Deletes one of a user's keys and the sessions opened with it. Returns whether it existed.
    pub async fn delete_key(
        &self,
        user_id: &str,
        id: &str,
        audit: &Event,
    ) -> Result<bool, sqlx::Error> {
        super::retry_conflicts(|| self.delete_key_once(user_id, id, audit)).await
    }

    /// One attempt of [`Self::delete_key`].
    async fn delete_key_once(
        &self,
        user_id: &str,
        id: &str,
        audit: &Event,
    ) -> Result<bool, sqlx::Error> {
        // First, on its own, what stops new key logins with it: a login's session insert holds a
        // key-share lock on the key (its foreign key) that the delete must wait for, and a login
        // batch may hold other such locks too; once the key no longer matches, no new login takes
        // one, and a lock cycle with a batch already running is broken by running this again.
        sqlx::query("UPDATE api_keys SET disabled = TRUE WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .execute(&self.writer)
            .await?;
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("DELETE FROM api_keys WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            sqlx::query("DELETE FROM sessions WHERE api_key_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE users SET key_count = key_count - 1 WHERE id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            self.audited(&mut tx, &audit.clone().user(user_id).key(id))
                .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The owner of key `id`, if the key exists.
    pub async fn key_owner(&self, id: &str) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query("SELECT user_id FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get(0)).transpose()
    }

    /// Logs in with the key whose hash is `key_hash`, for `app_id`: if the key exists, belongs to a
    /// user of that app and is enabled, opens a session. The login joins the batch of key logins in
    /// flight ([`LoginBatcher`]): one statement does the indexed lookups and the inserts of the whole
    /// batch, inserting only for enabled keys, and nothing locks or writes the key row, so logins with
    /// one hot key do not serialise. A login that races a disable (read the key before the disable
    /// committed, inserted after it deleted the key's sessions) leaves a session that
    /// [`Store::session`] refuses, because its key is disabled: revocation stays immediate. The answer
    /// comes after the statement committed. `last_used_at` is not written here (see
    /// [`Store::touch_keys`]).
    /// A key that was rolled also logs in with its previous secret until that one's deadline; a key with
    /// an allow-list only from a client address (`ip_key`, see [`crate::model::network::ip_key`]) inside
    /// it. Successful key logins are audited in aggregate (`service::audit_batch`), not here.
    pub async fn key_login(
        &self,
        app_id: &str,
        key_hash: &str,
        device_id: &str,
        ip_key: &str,
    ) -> Result<Option<KeySession>, sqlx::Error> {
        let login = PendingLogin {
            session_id: new_id(),
            app_id: app_id.to_owned(),
            device_id: device_id.to_owned(),
            key_hash: key_hash.to_owned(),
            ip_key: ip_key.to_owned(),
        };
        self.logins.login(login).await
    }

    /// Records the last use of keys: `(key id, ms)` pairs, each only moving `last_used_at` forward.
    /// One transaction for the whole batch.
    pub async fn touch_keys(&self, uses: &[(String, i64)]) -> Result<(), sqlx::Error> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        for (id, at) in uses {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = $1 \
                 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
            )
            .bind(*at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }
}

/// Inserts the networks of key `key_id`.
async fn insert_networks(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    key_id: &str,
    networks: &[Network],
) -> Result<(), sqlx::Error> {
    for n in networks {
        sqlx::query(
            "INSERT INTO api_key_networks (key_id, network, first_ip, last_ip) VALUES ($1, $2, $3, $4)",
        )
        .bind(key_id)
        .bind(&n.text)
        .bind(&n.first)
        .bind(&n.last)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Gives key `id` of `user_id` the secret of hash `key_hash` (non-secret prefix `start`); the secret it
    /// had logs in until `grace_ms` from now (0: not at all), and a secret kept from an earlier roll stops
    /// at once. Audited with `audit` (`key.rolled`). Returns the key, if the user has it.
    pub async fn roll_key(
        &self,
        user_id: &str,
        id: &str,
        (key_hash, start): (&str, &str),
        grace_ms: i64,
        audit: &Event,
    ) -> Result<Option<ApiKey>, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let until = (grace_ms > 0).then(|| now_ms() + grace_ms);
        let n = sqlx::query(
            "UPDATE api_keys SET prev_key_hash = CASE WHEN $1 IS NULL THEN NULL ELSE key_hash END, \
             prev_expires_at = $1, key_hash = $2, start = $3 WHERE user_id = $4 AND id = $5",
        )
        .bind(until)
        .bind(key_hash)
        .bind(start)
        .bind(user_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        self.audited(&mut tx, &audit.clone().user(user_id).key(id))
            .await?;
        tx.commit().await?;
        self.key(user_id, id).await
    }

    /// Replaces the allow-list of key `id` of `user_id` (empty: anywhere), audited. Returns whether the key
    /// exists.
    pub async fn set_key_networks(
        &self,
        user_id: &str,
        id: &str,
        networks: &[Network],
        audit: &Event,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let n =
            sqlx::query("UPDATE api_keys SET ip_restricted = $1 WHERE user_id = $2 AND id = $3")
                .bind(!networks.is_empty())
                .bind(user_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM api_key_networks WHERE key_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_networks(&mut tx, id, networks).await?;
        self.audited(&mut tx, &audit.clone().user(user_id).key(id))
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Whether the key of hash `key_hash` (current, or a rolled one still valid) of a user of `app_id`
    /// would log in but for its allow-list, from the client `ip_key` (why a key login failed, for the
    /// `APIKeyAddressNotAllowed` answer).
    pub async fn key_address_refused(
        &self,
        app_id: &str,
        key_hash: &str,
        ip_key: &str,
    ) -> Result<bool, sqlx::Error> {
        let now = now_ms();
        let row = sqlx::query(
            "SELECT 1 FROM api_keys k JOIN users u ON u.id = k.user_id \
             WHERE (k.key_hash = $1 OR (k.prev_key_hash = $1 AND k.prev_expires_at > $3)) \
             AND u.app_id = $2 AND NOT k.disabled AND NOT u.disabled AND k.ip_restricted \
             AND (k.expires_at IS NULL OR k.expires_at > $3) AND NOT EXISTS (SELECT 1 FROM \
             api_key_networks n WHERE n.key_id = k.id AND n.first_ip <= $4 AND $4 <= n.last_ip)",
        )
        .bind(key_hash)
        .bind(app_id)
        .bind(now)
        .bind(ip_key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }
}
