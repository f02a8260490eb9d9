//! Devices that logged in to an account with its password, each known by a secret it was given at that
//! login (only the secret's SHA-256 is stored; migration 11): the owner's way in while the account is
//! throttled by failed logins from elsewhere. Not the device id: every access token shows that one.
//! At most [`MAX_DEVICES_PER_USER`] per user (the most recently used), swept after a time unused.

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::Store;
use crate::util::now_ms;

/// Known devices kept per user: a new one past this ends the least recently used.
pub const MAX_DEVICES_PER_USER: i64 = 20;

/// The SHA-256 hex of a device secret (what is stored and compared).
fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Remembers the device with `secret` for `user_id` (or notes its use again) inside a login's
/// transaction; a new device past [`MAX_DEVICES_PER_USER`] ends the least recently used one.
pub(super) async fn remember(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: &str,
    secret: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO user_devices (user_id, device_hash, last_seen) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, device_hash) DO UPDATE SET last_seen = $3",
    )
    .bind(user_id)
    .bind(secret_hash(secret))
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    let known: i64 = sqlx::query("SELECT COUNT(*) FROM user_devices WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
    if known > MAX_DEVICES_PER_USER {
        sqlx::query(
            "DELETE FROM user_devices WHERE user_id = $1 AND device_hash NOT IN \
             (SELECT device_hash FROM user_devices WHERE user_id = $1 \
              ORDER BY last_seen DESC, device_hash LIMIT $2)",
        )
        .bind(user_id)
        .bind(MAX_DEVICES_PER_USER)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Whether the device holding `secret` logged in to `user_id` with its password before.
    pub async fn knows_device(&self, user_id: &str, secret: &str) -> Result<bool, sqlx::Error> {
        let row = sqlx::query("SELECT 1 FROM user_devices WHERE user_id = $1 AND device_hash = $2")
            .bind(user_id)
            .bind(secret_hash(secret))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Forgets up to `batch` devices last used before `cutoff` (ms); returns how many.
    pub async fn sweep_devices(&self, cutoff: i64, batch: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM user_devices WHERE (user_id, device_hash) IN \
             (SELECT user_id, device_hash FROM user_devices WHERE last_seen < $1 LIMIT $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }
}
