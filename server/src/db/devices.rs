//! Devices that logged in to an account with its password (only the SHA-256 of the device id): the
//! owner's way in while the account is throttled by failed logins from elsewhere.

use sha2::{Digest, Sha256};

use super::Store;
use crate::util::now_ms;

fn device_hash(device_id: &str) -> String {
    hex::encode(Sha256::digest(device_id.as_bytes()))
}

/// Remembers `device_id` for `user_id` inside a login's transaction.
pub(super) async fn remember(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: &str,
    device_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO user_devices (user_id, device_hash, last_seen) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, device_hash) DO UPDATE SET last_seen = $3",
    )
    .bind(user_id)
    .bind(device_hash(device_id))
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Whether `device_id` logged in to `user_id` with its password before.
    pub async fn knows_device(&self, user_id: &str, device_id: &str) -> Result<bool, sqlx::Error> {
        let row = sqlx::query("SELECT 1 FROM user_devices WHERE user_id = $1 AND device_hash = $2")
            .bind(user_id)
            .bind(device_hash(device_id))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }
}
