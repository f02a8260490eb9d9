//! `appkeys-server webhooks list|retry|purge`: the webhook outbox for operators.

use std::io::Write;

use appkeys_server::util::rfc3339;
use appkeys_server::Store;

use crate::cli::WebhooksAction;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Runs one `webhooks` action.
pub(crate) async fn webhooks(
    store: &Store,
    action: WebhooksAction,
    out: &mut impl Write,
) -> Result {
    match action {
        WebhooksAction::List { state, limit } => {
            writeln!(out, "id\ttype\tstate\tattempts\twritten\tlast error")?;
            for e in store
                .webhook_entries(state.as_deref(), limit.max(1))
                .await?
            {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    e.id,
                    e.event,
                    e.status,
                    e.attempts,
                    rfc3339(e.created_at),
                    e.last_error.as_deref().unwrap_or("-")
                )?;
            }
        }
        WebhooksAction::Retry { id, all_failed } => {
            let n = store
                .retry_webhooks(if all_failed { None } else { id.as_deref() })
                .await?;
            if n == 0 && !all_failed {
                return Err(format!("no failed event with id {}", id.unwrap_or_default()).into());
            }
            writeln!(out, "{n} failed events are due again")?;
        }
        WebhooksAction::Purge {
            older_than_days,
            failed,
        } => {
            let before =
                appkeys_server::util::now_ms() - i64::from(older_than_days) * 24 * 3600 * 1000;
            let n = store.purge_webhooks(before, failed).await?;
            writeln!(out, "deleted {}", crate::words::count(n, "event", "events"))?;
        }
    }
    Ok(())
}
