//! The web redirect flows under way (migration 12): started by `GET …/login?redirect=…`, used up by the
//! provider's callback, swept after [`FLOW_TTL_MS`].

use sqlx::Row;

use super::Store;
use crate::util::now_ms;

/// How long a flow may take, from its start to the provider's callback.
pub const FLOW_TTL_MS: i64 = 10 * 60 * 1000;

/// A flow under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// SHA-256 hex of the `state` sent to the provider.
    pub id: String,
    /// App id.
    pub app_id: String,
    /// The provider (`oauth2-google`).
    pub provider: String,
    /// The app page the result goes to (allow-listed).
    pub redirect: String,
    /// The app's own `state` (realm-web's), given back with the result.
    pub client_state: String,
    /// The device id of the session to open.
    pub device_id: String,
    /// The PKCE S256 challenge of the browser's verifier.
    pub challenge: String,
}

impl Store {
    /// Records a flow that starts now.
    pub async fn insert_flow(&self, f: &Flow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO oauth_flows (id, app_id, provider, redirect, client_state, device_id, challenge, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&f.id)
        .bind(&f.app_id)
        .bind(&f.provider)
        .bind(&f.redirect)
        .bind(&f.client_state)
        .bind(&f.device_id)
        .bind(&f.challenge)
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Uses up the flow `id` if it started less than [`FLOW_TTL_MS`] ago (a second callback finds none).
    pub async fn take_flow(&self, id: &str) -> Result<Option<Flow>, sqlx::Error> {
        let row = sqlx::query(
            "DELETE FROM oauth_flows WHERE id = $1 AND created_at > $2 \
             RETURNING id, app_id, provider, redirect, client_state, device_id, challenge",
        )
        .bind(id)
        .bind(now_ms() - FLOW_TTL_MS)
        .fetch_optional(&self.writer)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(Flow {
            id: r.try_get(0)?,
            app_id: r.try_get(1)?,
            provider: r.try_get(2)?,
            redirect: r.try_get(3)?,
            client_state: r.try_get(4)?,
            device_id: r.try_get(5)?,
            challenge: r.try_get(6)?,
        }))
    }

    /// Deletes up to `batch` flows that started before `cutoff` (ms).
    pub async fn sweep_flows(&self, cutoff: i64, batch: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM oauth_flows WHERE id IN \
             (SELECT id FROM oauth_flows WHERE created_at < $1 LIMIT $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(&self.writer)
        .await?
        .rows_affected())
    }
}
