//! The flags of authentication events delivered as webhooks (issue 31) and the configuration they make.
//! The signing secret comes from a private file, never from the command line.

use std::{path::PathBuf, time::Duration};

use appkeys_server::config::WebhookConfig;
use appkeys_server::crypto::secrets;
use appkeys_server::db::webhooks::{EVENT_TYPES, LOGGED_IN};
use appkeys_server::service::outbound::checked_url;

/// Shortest signing secret.
const MIN_SECRET: usize = 32;

#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Webhooks (authentication events)")]
pub(crate) struct WebhookArgs {
    /// Your endpoint for authentication events (users created, deleted, disabled, enabled, password
    /// resets, identities linked, API keys created, disabled, enabled, deleted, rolled; logins with
    /// --webhook-events), posted in the Standard Webhooks format. Needs --webhook-secret-file.
    #[arg(long, value_name = "URL", env = "APPKEYS_WEBHOOK_URL")]
    pub(crate) webhook_url: Option<String>,

    /// File holding the secret that signs the events (private; a `whsec_…` secret or any string of at
    /// least 32 bytes).
    #[arg(long, value_name = "PATH", env = "APPKEYS_WEBHOOK_SECRET_FILE")]
    pub(crate) webhook_secret_file: Option<PathBuf>,

    /// The event types delivered (repeatable; the env twin is comma-separated; `all` for every type,
    /// `user.logged_in` included) [default: every type but user.logged_in].
    #[arg(
        long = "webhook-events",
        value_name = "TYPE",
        env = "APPKEYS_WEBHOOK_EVENTS",
        value_delimiter = ','
    )]
    pub(crate) webhook_events: Vec<String>,

    /// How long an event is retried (exponential backoff from 1 s to an hour) before it fails and waits
    /// for `webhooks retry`.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_WEBHOOK_RETRY_FOR",
        default_value_t = 3 * 24 * 3600,
        value_parser = clap::value_parser!(u64).range(1..=30 * 24 * 3600)
    )]
    pub(crate) webhook_retry_for: u64,

    /// The longest one delivery may take (connection, answer).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_WEBHOOK_TIMEOUT",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=60)
    )]
    pub(crate) webhook_timeout: u64,
}

impl WebhookArgs {
    /// The webhook settings; incomplete or wrong ones refuse to start, naming the flag.
    pub(crate) fn config(&self) -> Result<Option<WebhookConfig>, String> {
        let (url, path) = match (&self.webhook_url, &self.webhook_secret_file) {
            (None, None) if self.webhook_events.is_empty() => return Ok(None),
            (Some(url), Some(path)) => (url.trim(), path),
            (None, _) => {
                return Err(
                    "--webhook-secret-file and --webhook-events need --webhook-url".to_owned(),
                )
            }
            (Some(_), None) => return Err("--webhook-url needs --webhook-secret-file".to_owned()),
        };
        checked_url("--webhook-url", url)?;
        let flag = "--webhook-secret-file";
        let lines = secrets::read_private_lines(path)
            .map_err(|e| format!("{flag} {}: {e}", path.display()))?;
        let [secret] = lines.as_slice() else {
            return Err(format!(
                "{flag} {}: expected exactly one secret line",
                path.display()
            ));
        };
        if secret.len() < MIN_SECRET && !secret.starts_with("whsec_") {
            return Err(format!(
                "{flag} {}: the secret is shorter than {MIN_SECRET} bytes",
                path.display()
            ));
        }
        Ok(Some(WebhookConfig {
            url: url.to_owned(),
            secret: secret.clone(),
            events: events(&self.webhook_events)?,
            retry_for: Duration::from_secs(self.webhook_retry_for),
            timeout: Duration::from_secs(self.webhook_timeout),
        }))
    }
}

/// The event types of `--webhook-events` (checked against the known ones).
fn events(given: &[String]) -> Result<Vec<String>, String> {
    let given: Vec<&str> = given
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .collect();
    if given.is_empty() {
        return Ok(EVENT_TYPES
            .iter()
            .filter(|e| **e != LOGGED_IN)
            .map(|e| e.to_string())
            .collect());
    }
    if given.contains(&"all") {
        return Ok(EVENT_TYPES.iter().map(|e| e.to_string()).collect());
    }
    given
        .into_iter()
        .map(|e| match EVENT_TYPES.contains(&e) {
            true => Ok(e.to_owned()),
            false => Err(format!(
                "--webhook-events {e}: not an event type (one of: all, {})",
                EVENT_TYPES.join(", ")
            )),
        })
        .collect()
}
