//! Confirmation and password-reset email, sent with `lettre` off the request path.
//!
//! A route composes the message and puts it in a bounded queue ([`Mailer::send`] never waits);
//! a worker hands each message to the SMTP server (or writes it to the mail directory), a few at a
//! time, each within `send_timeout`. A full queue drops the message. Failures and drops are logged
//! — never with the message, the link or the token — and counted in `/metrics`
//! (`appkeys_emails_total{kind, outcome}`).

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};
use std::time::Duration;

use lettre::{
    message::{header::ContentType, Mailbox},
    transport::smtp::authentication::Credentials,
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use tokio::sync::{mpsc, Semaphore};
use url::Url;

use crate::config::{EmailConfig, MailTransport};
use crate::model::Purpose;
use crate::service::metrics::Metrics;
use crate::util::create_private_dir;

/// Messages handed to the transport at once.
const SENDS_AT_ONCE: usize = 4;

/// Longest accepted `--confirm-url` / `--reset-url` (the link must fit on one line of the message).
const MAX_LINK_BASE_LEN: usize = 800;

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Dir(AsyncFileTransport<Tokio1Executor>),
}

impl Transport {
    async fn send(&self, message: Message) -> Result<(), String> {
        match self {
            Transport::Smtp(t) => t.send(message).await.map(drop).map_err(|e| e.to_string()),
            Transport::Dir(t) => t.send(message).await.map(drop).map_err(|e| e.to_string()),
        }
    }
}

struct Outgoing {
    /// The metrics label: `confirm`, `reset` or `notice`.
    kind: &'static str,
    message: Message,
}

/// The email sender: message templates, links and the queue.
pub struct Mailer {
    queue: mpsc::Sender<Outgoing>,
    from: Mailbox,
    confirm_url: Option<Url>,
    reset_url: Url,
    token_ttl: Duration,
    metrics: Metrics,
    /// Messages queued or being sent.
    pending: Arc<AtomicUsize>,
}

fn link_base(flag: &str, url: &str) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| format!("{flag} {url}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(format!("{flag} {url}: expected an http:// or https:// URL"));
    }
    if url.len() > MAX_LINK_BASE_LEN {
        return Err(format!("{flag}: at most {MAX_LINK_BASE_LEN} characters"));
    }
    Ok(parsed)
}

impl Mailer {
    /// The mailer of `config`, or `None` when no transport is configured. Checks the settings:
    /// confirmation needs a transport and `--confirm-url`, a transport needs `--reset-url`.
    pub fn new(config: &EmailConfig, metrics: Metrics) -> Result<Option<Mailer>, String> {
        let Some(transport) = &config.transport else {
            if config.confirmation {
                return Err(
                    "--email-confirmation needs email: set --smtp-url or --mail-dir".to_owned(),
                );
            }
            return Ok(None);
        };
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("--mail-from {}: {e}", config.from))?;
        let Some(reset_url) = &config.reset_url else {
            return Err("email is configured: set --reset-url too".to_owned());
        };
        let reset_url = link_base("--reset-url", reset_url)?;
        let confirm_url = match &config.confirm_url {
            Some(url) => Some(link_base("--confirm-url", url)?),
            None if config.confirmation => {
                return Err("--email-confirmation needs --confirm-url".to_owned())
            }
            None => None,
        };
        let transport = match transport {
            MailTransport::Smtp {
                url,
                username,
                password,
            } => {
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| format!("--smtp-url: {e}"))?
                    .timeout(Some(config.send_timeout));
                if let (Some(user), Some(password)) = (username, password) {
                    builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
                }
                Transport::Smtp(builder.build())
            }
            MailTransport::Dir(dir) => {
                create_private_dir(dir)
                    .map_err(|e| format!("--mail-dir {}: {e}", dir.display()))?;
                Transport::Dir(AsyncFileTransport::new(dir))
            }
        };
        let (queue, receiver) = mpsc::channel(config.queue.max(1));
        let pending = Arc::new(AtomicUsize::new(0));
        tokio::spawn(run(
            Arc::new(transport),
            receiver,
            metrics.clone(),
            config.send_timeout,
            pending.clone(),
        ));
        Ok(Some(Mailer {
            queue,
            from,
            confirm_url,
            reset_url,
            token_ttl: config.token_ttl,
            metrics,
            pending,
        }))
    }

    /// Whether confirmation links can be sent (`--confirm-url` is set).
    pub fn confirms(&self) -> bool {
        self.confirm_url.is_some()
    }

    /// Queues the email with the link for a `purpose` token to `to` (an address registration
    /// accepted). Never waits: a full queue drops the message (logged and counted).
    pub fn send(&self, purpose: Purpose, app_id: &str, to: &str, token_id: &str, token: &str) {
        let base = match purpose {
            Purpose::Confirm => self.confirm_url.as_ref(),
            Purpose::Reset => Some(&self.reset_url),
        };
        let Some(base) = base else {
            return;
        };
        let mut link = base.clone();
        link.query_pairs_mut()
            .append_pair("token", token)
            .append_pair("tokenId", token_id);
        let minutes = self.token_ttl.as_secs().div_ceil(60);
        let (subject, body) = match purpose {
            Purpose::Confirm => (
                format!("Confirm your account for {app_id}"),
                format!(
                    "Someone created an account for {app_id} with this address ({to}).\n\n\
                     To confirm it, open this link within {minutes} minutes:\n\n{link}\n\n\
                     If it was not you, ignore this email and do not open the link: the account stays \
                     unconfirmed, and nobody can log in to it. (Someone who set its password could if \
                     you confirmed it; to take such an account over, use \"forgot password\" instead.)\n"
                ),
            ),
            Purpose::Reset => (
                format!("Reset your password for {app_id}"),
                format!(
                    "Someone asked to reset the password of the account {to} for {app_id}.\n\n\
                     To choose a new password, open this link within {minutes} minutes:\n\n{link}\n\n\
                     Resetting the password signs you out everywhere, disables every API key of the \
                     account (they stay listed: re-enable the ones that are yours) and removes every \
                     other way to sign in to it (the notice after the reset names them). If you did not \
                     ask for it, ignore this email: your password stays as it is.\n"
                ),
            ),
        };
        self.enqueue(purpose.as_str(), to, subject, body);
    }

    /// Queues the email of a user imported from App Services: the account moved here, choose a password
    /// with the link (the reset link of a `reset` token).
    pub fn send_import_reset(&self, app_id: &str, to: &str, token_id: &str, token: &str) {
        let mut link = self.reset_url.clone();
        link.query_pairs_mut()
            .append_pair("token", token)
            .append_pair("tokenId", token_id);
        let minutes = self.token_ttl.as_secs().div_ceil(60);
        let body = format!(
            "Your account {to} for {app_id} has moved to a new sign-in service. Your account, its id and your \
             data stay as they were, but its password could not be moved.\n\nTo keep using it, choose a \
             password within {minutes} minutes:\n\n{link}\n\nIf the link has expired, use \"forgot password\" \
             in the app to get a new one.\n"
        );
        self.enqueue("reset", to, format!("Choose a password for {app_id}"), body);
    }

    /// Queues a notice to the owner of an account about something that happened to it (a password
    /// reset, a new or re-enabled API key). Plain text, never a secret.
    pub fn notify(&self, app_id: &str, to: &str, subject: &str, body: &str) {
        let body = format!(
            "{body}\n\nIf this was not you, reset your password for {app_id} now: resetting it ends every \
             session and disables every API key of the account.\n"
        );
        self.enqueue("notice", to, format!("{subject} ({app_id})"), body);
    }

    /// Composes a plain-text message to `to` and queues it without waiting: a full queue drops it
    /// (logged and counted).
    fn enqueue(&self, kind: &'static str, to: &str, subject: String, body: String) {
        let message = to
            .parse::<Mailbox>()
            .map_err(|e| e.to_string())
            .and_then(|to| {
                Message::builder()
                    .from(self.from.clone())
                    .to(to)
                    .subject(subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(body)
                    .map_err(|e| e.to_string())
            });
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(kind, error = %e, "could not compose an email");
                self.metrics.email(kind, "failed");
                return;
            }
        };
        self.pending.fetch_add(1, Ordering::SeqCst);
        if self.queue.try_send(Outgoing { kind, message }).is_err() {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(kind, "email queue full: message dropped");
            self.metrics.email(kind, "dropped");
        }
    }

    /// Waits until every queued message was sent (or failed), at most `deadline` (shutdown).
    pub async fn drain(&self, deadline: Duration) {
        let until = tokio::time::Instant::now() + deadline;
        while self.pending.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn run(
    transport: Arc<Transport>,
    mut receiver: mpsc::Receiver<Outgoing>,
    metrics: Metrics,
    timeout: Duration,
    pending: Arc<AtomicUsize>,
) {
    let slots = Arc::new(Semaphore::new(SENDS_AT_ONCE));
    while let Some(Outgoing { kind, message }) = receiver.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (transport, metrics, pending) = (transport.clone(), metrics.clone(), pending.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(timeout, transport.send(message)).await {
                Ok(Ok(())) => {
                    tracing::debug!(kind, "email sent");
                    metrics.email(kind, "sent");
                }
                Ok(Err(e)) => {
                    tracing::warn!(kind, error = %e, "sending an email failed");
                    metrics.email(kind, "failed");
                }
                Err(_) => {
                    tracing::warn!(kind, timeout = ?timeout, "sending an email timed out");
                    metrics.email(kind, "failed");
                }
            }
            pending.fetch_sub(1, Ordering::SeqCst);
            drop(slot);
        });
    }
}
