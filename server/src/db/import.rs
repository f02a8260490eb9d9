//! Users brought over from App Services (`appkeys-server users import`): their rows with the ids, creation
//! times and disabled flags they had, their identities, and the reset emails asked for.

use sqlx::Row;

use super::Store;
use crate::util::now_ms;

/// A user to import, as the file described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedUser {
    /// The App Services user id (24 hex, kept).
    pub id: String,
    /// `local-userpass` for an email/password user, else the provider of its first kept identity.
    pub provider: String,
    /// The email (email/password users).
    pub email: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Disabled in App Services.
    pub disabled: bool,
    /// Its identities: `(provider_type, id)` (an email/password user's `local-userpass` one first).
    pub identities: Vec<(String, String)>,
}

/// A user already in the database, as an import compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingUser {
    /// Id.
    pub id: String,
    /// App id.
    pub app_id: String,
    /// Email.
    pub email: Option<String>,
    /// Provider.
    pub provider: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Disabled flag.
    pub disabled: bool,
}

/// Users per insert statement.
const CHUNK: usize = 400;

impl Store {
    /// Every user with one of these ids or (in `app_id`) one of these emails.
    pub async fn existing_users(&self) -> Result<Vec<ExistingUser>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, app_id, email, provider, created_at, CASE WHEN disabled THEN 1 ELSE 0 END \
             FROM users",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ExistingUser {
                    id: r.try_get(0)?,
                    app_id: r.try_get(1)?,
                    email: r.try_get(2)?,
                    provider: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                    disabled: r.try_get::<i64, _>(5)? != 0,
                })
            })
            .collect()
    }

    /// Every identity of `app_id`: `(provider_type, identity id) → user id`.
    pub async fn existing_identities(
        &self,
        app_id: &str,
    ) -> Result<std::collections::HashMap<(String, String), String>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT provider_type, identity_id, user_id FROM identities WHERE app_id = $1",
        )
        .bind(app_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(((r.try_get(0)?, r.try_get(1)?), r.try_get(2)?)))
            .collect()
    }

    /// Inserts `users` of `app_id` (without a password: they log in after a reset) with their
    /// identities, in one transaction, multi-row statements of [`CHUNK`] users.
    pub async fn import_users(
        &self,
        app_id: &str,
        users: &[ImportedUser],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        for chunk in users.chunks(CHUNK) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let n = i * 5;
                    format!(
                        "(${}, $1, ${}, ${}, NULL, ${}, ${}, TRUE, ${})",
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5,
                        n + 6,
                        n + 5
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO users (id, app_id, provider, email, password_hash, created_at, \
                 disabled, confirmed, first_login_at) VALUES {}",
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(app_id);
            for u in chunk {
                query = query
                    .bind(u.id.as_str())
                    .bind(u.provider.as_str())
                    .bind(u.email.clone())
                    .bind(u.created_at)
                    .bind(u.disabled);
            }
            query.execute(&mut *tx).await?;
        }
        let identities: Vec<(&str, &str, &str, i64)> = users
            .iter()
            .flat_map(|u| {
                u.identities
                    .iter()
                    .map(move |(t, id)| (u.id.as_str(), t.as_str(), id.as_str(), u.created_at))
            })
            .collect();
        for chunk in identities.chunks(CHUNK) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let n = i * 4;
                    format!("($1, ${}, ${}, ${}, ${})", n + 2, n + 3, n + 4, n + 5)
                })
                .collect();
            // An identity already in the app (listed twice in the file) stays with its first user.
            let sql = format!(
                "INSERT INTO identities (app_id, user_id, provider_type, identity_id, created_at) \
                 VALUES {} ON CONFLICT DO NOTHING",
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(app_id);
            for (user, t, id, at) in chunk {
                query = query.bind(*user).bind(*t).bind(*id).bind(*at);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    /// Sets the custom data of users (`(user id, JSON object text)`), in one transaction.
    pub async fn import_custom_data(
        &self,
        documents: &[(String, String)],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        for (user_id, data) in documents {
            sqlx::query("UPDATE users SET custom_data = $1 WHERE id = $2")
                .bind(data)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    /// Queues a reset email for each of `user_ids` that has none queued or sent (`resend`: also for those
    /// already sent). Returns how many were queued.
    pub async fn queue_resets(
        &self,
        user_ids: &[String],
        resend: bool,
    ) -> Result<u64, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let mut queued = 0;
        let now = now_ms();
        for chunk in user_ids.chunks(CHUNK) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, $1)", i + 2))
                .collect();
            let conflict = if resend {
                "DO UPDATE SET sent_at = NULL, queued_at = $1 WHERE pending_resets.sent_at IS NOT NULL"
            } else {
                "DO NOTHING"
            };
            let sql = format!(
                "INSERT INTO pending_resets (user_id, queued_at) VALUES {} ON CONFLICT (user_id) {conflict}",
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(now);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            queued += query.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(queued)
    }

    /// Claims up to `limit` queued reset emails (marking them sent, so no other instance sends them):
    /// `(user id, app id, email)` of enabled users with an email.
    pub async fn claim_resets(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, String, String)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT p.user_id, u.app_id, u.email FROM pending_resets p JOIN users u ON u.id = p.user_id \
             WHERE p.sent_at IS NULL AND NOT u.disabled AND u.email IS NOT NULL \
             ORDER BY p.queued_at, p.user_id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::new();
        for row in rows {
            let (user, app, email): (String, String, Option<String>) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            let won = sqlx::query(
                "UPDATE pending_resets SET sent_at = $2 WHERE user_id = $1 AND sent_at IS NULL",
            )
            .bind(&user)
            .bind(now_ms())
            .execute(&self.writer)
            .await?
            .rows_affected();
            if let (1, Some(email)) = (won, email) {
                claimed.push((user, app, email));
            }
        }
        Ok(claimed)
    }
}
