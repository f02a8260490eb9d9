//! Account confirmation and password reset (issue 14): the routes in-process with lettre's file
//! transport (`--mail-dir`), and a real server process whose SMTP server is away. The flows through a
//! real SMTP server, with realm-web and the SDK, are in `tests/email/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use appkeys_server::config::{EmailConfig, MailTransport};
use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

const CONFIRM_URL: &str = "https://keys.example.com/confirm";
pub(crate) const RESET_URL: &str = "https://keys.example.com/reset?from=mail";

fn userpass(action: &str) -> String {
    format!("{P}/app/{APP}/auth/providers/local-userpass/{action}")
}

/// `POST local-userpass/{action}` with a JSON body.
async fn post(app: &TestApp, action: &str, body: serde_json::Value) -> Resp {
    app.call("POST", &userpass(action), None, Some(&body.to_string()))
        .await
}

/// A server writing its emails into a temporary directory.
pub(crate) struct MailApp {
    pub(crate) app: TestApp,
    dir: tempfile::TempDir,
}

impl std::ops::Deref for MailApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

fn email_config(dir: &Path, confirmation: bool, token_ttl: Duration) -> EmailConfig {
    EmailConfig {
        transport: Some(MailTransport::Dir(dir.to_owned())),
        confirm_url: Some(CONFIRM_URL.to_owned()),
        reset_url: Some(RESET_URL.to_owned()),
        confirmation,
        token_ttl,
        ..EmailConfig::default()
    }
}

impl MailApp {
    async fn new(confirmation: bool) -> MailApp {
        MailApp::with_ttl(confirmation, Duration::from_secs(1800)).await
    }

    async fn with_ttl(confirmation: bool, ttl: Duration) -> MailApp {
        MailApp::with(config(), confirmation, ttl).await
    }

    /// A server of `base` settings whose emails go to a temporary directory.
    pub(crate) async fn with(
        base: appkeys_server::Config,
        confirmation: bool,
        ttl: Duration,
    ) -> MailApp {
        let dir = tempfile::tempdir().unwrap();
        let config = appkeys_server::Config {
            email: email_config(&dir.path().join("mail"), confirmation, ttl),
            ..base
        };
        MailApp {
            app: TestApp::with_config(config).await,
            dir,
        }
    }

    /// Proves `email`'s address: asks for a confirmation email and opens its link.
    pub(crate) async fn prove(&self, email: &str) {
        let before = self.mails_to(email).len();
        let r = self.post("confirm/send", json!({ "email": email })).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
        let mail = self.wait_to(email, before + 1).await;
        let (_, token, token_id) = mail.link();
        let r = self
            .post("confirm", json!({ "token": token, "tokenId": token_id }))
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    }

    /// The messages to `email` so far.
    pub(crate) fn mails_to(&self, email: &str) -> Vec<Mail> {
        let mut mails: Vec<Mail> = self
            .messages()
            .into_iter()
            .filter(|m| m.to == email)
            .collect();
        mails.sort_by_key(|m| m.written);
        mails
    }

    /// Waits (at most 5 s) for the `n`th message to `email`; returns it.
    pub(crate) async fn wait_to(&self, email: &str, n: usize) -> Mail {
        for _ in 0..250 {
            let mails = self.mails_to(email);
            if mails.len() >= n {
                return mails[n - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no {n} messages to {email} in {:?}", self.mail_dir());
    }

    fn mail_dir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    pub(crate) async fn post(&self, action: &str, body: serde_json::Value) -> Resp {
        post(&self.app, action, body).await
    }

    async fn password_login(&self, email: &str, password: &str) -> Resp {
        self.app
            .login(
                "local-userpass",
                json!({ "username": email, "password": password }),
            )
            .await
    }

    /// The messages written so far.
    fn messages(&self) -> Vec<Mail> {
        let Ok(entries) = std::fs::read_dir(self.mail_dir()) else {
            return Vec::new();
        };
        // lettre writes a file in place: one still being written (changed in the last 100 ms, or without its
        // blank line after the headers yet) is left for the next look.
        entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .filter_map(|p| {
                let written = std::fs::metadata(&p).ok()?.modified().ok()?;
                let settled = written
                    .elapsed()
                    .is_ok_and(|age| age >= Duration::from_millis(100));
                let raw = std::fs::read(&p).ok()?;
                let complete = raw.windows(4).any(|w| w == b"\r\n\r\n");
                (settled && complete).then(|| Mail {
                    written,
                    ..Mail::parse(&raw)
                })
            })
            .collect()
    }

    /// Waits (at most 5 s) until `n` messages were written; returns them.
    async fn wait_for(&self, n: usize) -> Vec<Mail> {
        for _ in 0..250 {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no {n} messages in {:?}", self.mail_dir());
    }
}

/// An email as written by lettre.
#[derive(Debug, Clone)]
pub(crate) struct Mail {
    /// When the file was written (the directory transport); the epoch for parsed text.
    pub(crate) written: std::time::SystemTime,
    pub(crate) to: String,
    pub(crate) subject: String,
    pub(crate) text: String,
}

impl Mail {
    pub(crate) fn parse(raw: &[u8]) -> Mail {
        let raw = String::from_utf8(raw.to_vec()).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").expect("headers and body");
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .unwrap_or_else(|| panic!("no {name} header in {head}"))
                .to_owned()
        };
        let text = match header("Content-Transfer-Encoding").as_str() {
            "quoted-printable" => String::from_utf8(
                quoted_printable::decode(body, quoted_printable::ParseMode::Strict).unwrap(),
            )
            .unwrap(),
            "7bit" => body.to_owned(),
            other => panic!("unexpected encoding {other}"),
        };
        Mail {
            written: std::time::UNIX_EPOCH,
            to: header("To"),
            subject: header("Subject"),
            text,
        }
    }

    /// The link of the message and its `(token, tokenId)`.
    pub(crate) fn link(&self) -> (String, String, String) {
        let link = self
            .text
            .split_whitespace()
            .find(|w| w.starts_with("https://"))
            .expect("a link")
            .to_owned();
        let url = url::Url::parse(&link).unwrap();
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| panic!("no {name} in {link}"))
        };
        let (token, id) = (param("token"), param("tokenId"));
        (link, token, id)
    }
}

#[tokio::test]
async fn confirmation_is_required_when_on_and_the_emailed_link_confirms() {
    let m = MailApp::new(true).await;
    let email = "new-user@example.com";
    let r = m.app.register(email, "pass-phrase-1").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    m.password_login(email, "pass-phrase-1")
        .await
        .assert_error(401, "UserNotConfirmed");
    // A wrong password is still just a wrong password (nothing about the account's state).
    m.password_login(email, "password2")
        .await
        .assert_error(401, "InvalidPassword");

    let mail = m.wait_for(1).await.remove(0);
    assert_eq!(mail.to, email);
    assert!(mail.subject.contains("Confirm"), "{}", mail.subject);
    let (link, token, id) = mail.link();
    assert!(link.starts_with(&format!("{CONFIRM_URL}?token=")), "{link}");
    assert_eq!(token.len(), 64);
    assert_eq!(id.len(), 24);

    // Only the hash of the token is stored.
    let stored = m
        .app
        .state
        .store()
        .count(&format!(
            "SELECT COUNT(*) FROM userpass_tokens WHERE token_hash = '{}'",
            appkeys_server::crypto::apikey::hash(&token)
        ))
        .await
        .unwrap();
    assert_eq!(stored, 1);
    let in_clear = m
        .app
        .state
        .store()
        .count(&format!(
            "SELECT COUNT(*) FROM userpass_tokens WHERE token_hash = '{token}' OR id = '{token}'"
        ))
        .await
        .unwrap();
    assert_eq!(in_clear, 0);

    m.post("confirm", json!({ "token": token, "tokenId": id }))
        .await
        .assert_no_content();
    let r = m.password_login(email, "pass-phrase-1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Single use.
    m.post("confirm", json!({ "token": token, "tokenId": id }))
        .await
        .assert_error(400, "UserpassTokenInvalid");
    // A confirmed account gets no new confirmation email, with the same answer.
    let r = m.post("confirm/send", json!({ "email": email })).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(m.messages().len(), 1);

    let audit = m
        .app
        .state
        .store()
        .audit_entries(None, None, None)
        .await
        .unwrap();
    let events: Vec<_> = audit
        .iter()
        .map(|e| (e.event.as_str(), e.outcome.as_str()))
        .collect();
    assert!(
        events.contains(&("user.confirmed", "success")),
        "{events:?}"
    );
    assert!(
        events.contains(&("login.failed", "unconfirmed")),
        "{events:?}"
    );
}

#[tokio::test]
async fn resending_the_confirmation_keeps_earlier_links_until_one_is_used() {
    // Issue 21 changed this: a new link no longer voids the earlier ones (a stranger asking for one
    // must not void the link its owner received); using any voids all of them.
    let m = MailApp::new(true).await;
    let email = "resend@example.com";
    assert_eq!(
        m.app.register(email, "pass-phrase-1").await.status,
        StatusCode::CREATED
    );
    let first = m.wait_for(1).await.remove(0).link();
    let r = m.post("confirm/send", json!({ "email": email })).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let mails = m.wait_for(2).await;
    let second = mails
        .iter()
        .map(Mail::link)
        .find(|l| l.2 != first.2)
        .expect("a second link");
    // The first link still works; once used, the second one does not.
    m.post("confirm", json!({ "token": first.1, "tokenId": first.2 }))
        .await
        .assert_no_content();
    m.post("confirm", json!({ "token": second.1, "tokenId": second.2 }))
        .await
        .assert_error(400, "UserpassTokenInvalid");
    let r = m.password_login(email, "pass-phrase-1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn reset_sets_the_password_ends_sessions_and_is_single_use() {
    let m = MailApp::new(false).await;
    let email = "forgetful@example.com";
    let tokens = m.app.user(email).await;
    let (_, key) = m.app.new_key(&tokens.refresh, "backup").await;
    let key_session = Tokens::from(&m.app.key_login(&key).await);

    let r = m.post("reset/send", json!({ "email": email })).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    assert!(r.body.is_empty());
    // The first message is the notice of the key created above (issue 21).
    let mail = m
        .wait_for(2)
        .await
        .into_iter()
        .find(|m| m.subject.contains("Reset"))
        .expect("the reset email");
    let (link, token, id) = mail.link();
    assert!(link.starts_with(&format!("{RESET_URL}&token=")), "{link}");

    // The password rules of registration; a refused password does not use the token up.
    m.post(
        "reset",
        json!({ "token": token, "tokenId": id, "password": "short" }),
    )
    .await
    .assert_error(400, "InvalidParameter");
    m.post(
        "reset",
        json!({ "token": "ab".repeat(32), "tokenId": id, "password": "new-password" }),
    )
    .await
    .assert_error(400, "UserpassTokenInvalid");
    m.post("reset", json!({ "token": token, "tokenId": id }))
        .await
        .assert_error(400, "MissingParameter");
    m.post("confirm", json!({ "tokenId": id }))
        .await
        .assert_error(400, "MissingParameter");
    m.post("confirm", json!({ "token": 5, "tokenId": id }))
        .await
        .assert_error(400, "InvalidParameter");
    m.post(
        "reset",
        json!({ "token": token, "tokenId": id, "password": "new-password" }),
    )
    .await
    .assert_no_content();

    m.password_login(email, "pass-phrase-1")
        .await
        .assert_error(401, "InvalidPassword");
    let r = m.password_login(email, "new-password").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Every earlier session ended (the password session and the key session).
    m.app
        .refresh(&tokens.refresh)
        .await
        .assert_error(401, "InvalidSession");
    m.app
        .refresh(&key_session.refresh)
        .await
        .assert_error(401, "InvalidSession");
    m.app
        .profile(&tokens.access)
        .await
        .assert_error(401, "InvalidSession");
    // Issue 21 changed this: the reset takes the keys back too — disabled, still listed, so that the
    // owner re-enables the ones that are theirs (an attacker's key stops working).
    m.app.key_login(&key).await.assert_error(401, "AuthError");
    let owner = Tokens::from(&r);
    let keys = m
        .app
        .call("GET", &keys_path(), Some(&owner.refresh), None)
        .await
        .json();
    assert_eq!(keys[0]["disabled"], true, "{keys}");
    let id_of_key = keys[0]["_id"].as_str().unwrap().to_owned();
    m.app
        .call(
            "PUT",
            &format!("{}/enable", key_path(&id_of_key)),
            Some(&owner.refresh),
            None,
        )
        .await
        .assert_no_content();
    assert_eq!(m.app.key_login(&key).await.status, StatusCode::OK);
    // The owner was told: the reset (with what it did to keys and sessions) and the re-enabled key.
    let mails = m.wait_for(4).await;
    let notice = |subject: &str| {
        mails
            .iter()
            .find(|m| m.subject.contains(subject))
            .unwrap_or_else(|| panic!("no '{subject}' notice in {mails:?}"))
            .clone()
    };
    let reset_notice = notice("Your password was reset");
    assert!(
        reset_notice
            .text
            .contains("every API key of the account was disabled"),
        "{}",
        reset_notice.text
    );
    assert!(notice("An API key was re-enabled")
        .text
        .contains("\"backup\""));
    // The token cannot be used twice.
    m.post(
        "reset",
        json!({ "token": token, "tokenId": id, "password": "third-password" }),
    )
    .await
    .assert_error(400, "UserpassTokenInvalid");

    let audit = m
        .app
        .state
        .store()
        .audit_entries(Some(&tokens.user_id), None, None)
        .await
        .unwrap();
    let events: Vec<_> = audit.iter().map(|e| e.event.as_str()).collect();
    assert!(events.contains(&"password.reset_requested"), "{events:?}");
    assert!(events.contains(&"password.reset"), "{events:?}");
}

#[tokio::test]
async fn unknown_addresses_get_the_same_answer_and_no_email() {
    let m = MailApp::new(true).await;
    let known = "known@example.com";
    assert_eq!(
        m.app.register(known, "pass-phrase-1").await.status,
        StatusCode::CREATED
    );
    m.wait_for(1).await;
    for action in ["reset/send", "confirm/send"] {
        let unknown = m
            .post(action, json!({ "email": "nobody@example.com" }))
            .await;
        let existing = m.post(action, json!({ "email": known })).await;
        assert_eq!(unknown.status, StatusCode::ACCEPTED, "{}", unknown.text());
        assert_eq!(unknown.status, existing.status);
        assert_eq!(unknown.body, existing.body);
        assert_eq!(unknown.content_type(), existing.content_type());
    }
    // The registration's mail, then one reset and one confirmation for the known address only.
    let mails = m.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mails_now = m.messages();
    assert_eq!(mails_now.len(), 3, "{mails:?}");
    assert!(
        mails_now.iter().all(|mail| mail.to == known),
        "{mails_now:?}"
    );
    // Not an address at all: a plain 400.
    m.post("reset/send", json!({ "email": "not an address" }))
        .await
        .assert_error(400, "InvalidParameter");
    m.post("reset/send", json!({}))
        .await
        .assert_error(400, "MissingParameter");
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let m = MailApp::with_ttl(false, Duration::from_millis(300)).await;
    let email = "slow@example.com";
    m.app.user(email).await;
    m.post("reset/send", json!({ "email": email })).await;
    let (_, token, id) = m.wait_for(1).await.remove(0).link();
    tokio::time::sleep(Duration::from_millis(400)).await;
    m.post(
        "reset",
        json!({ "token": token, "tokenId": id, "password": "new-password" }),
    )
    .await
    .assert_error(400, "UserpassTokenInvalid");
    let r = m.password_login(email, "pass-phrase-1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // The sweep deletes expired tokens.
    let swept = appkeys_server::jobs::sweep_once(&m.app.state)
        .await
        .unwrap();
    assert_eq!(swept.tokens, 1);
}

#[tokio::test]
async fn email_requests_are_rate_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config();
    config.email = email_config(dir.path(), false, Duration::from_secs(1800));
    config.limits.emails_per_address = 2;
    let app = TestApp::with_config(config).await;
    app.user("limited@example.com").await;
    for email in ["limited@example.com", "unknown@example.com"] {
        for _ in 0..2 {
            let r = post(&app, "reset/send", json!({ "email": email })).await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
        }
        let r = post(&app, "reset/send", json!({ "email": email })).await;
        r.assert_error(429, "TooManyRequests");
        assert!(r.headers.contains_key("retry-after"));
    }
}

#[tokio::test]
async fn without_email_the_routes_say_so_and_custom_functions_are_refused() {
    let app = TestApp::new().await;
    app.user("plain@example.com").await;
    for action in ["reset/send", "confirm/send"] {
        let r = post(&app, action, json!({ "email": "plain@example.com" })).await;
        let message = r.assert_error(400, "EmailNotConfigured");
        assert!(message.contains("email is not configured"), "{message}");
    }
    let r = post(&app, "confirm", json!({ "token": "x", "tokenId": "y" })).await;
    r.assert_error(400, "UserpassTokenInvalid");
    for (action, body) in [
        ("confirm/call", json!({ "email": "plain@example.com" })),
        (
            "reset/call",
            json!({ "email": "plain@example.com", "password": "password2", "arguments": [] }),
        ),
    ] {
        let r = post(&app, action, body).await;
        r.assert_error(400, "CustomFunctionNotSupported");
    }
    // An unknown app is still an unknown app.
    let r = app
        .call(
            "POST",
            &format!("{P}/app/nope/auth/providers/local-userpass/reset/send"),
            None,
            Some(&json!({ "email": "plain@example.com" }).to_string()),
        )
        .await;
    r.assert_error(404, "AppNotFound");
}

#[tokio::test]
async fn bad_email_settings_stop_the_server_at_start() {
    let db = fresh_db().await;
    for (args, expected) in [
        (vec!["--email-confirmation"], "--smtp-url or --mail-dir"),
        (vec!["--mail-dir", "/tmp/appkeys-mail-never"], "--reset-url"),
        (
            vec![
                "--mail-dir",
                "/tmp/appkeys-mail-never",
                "--reset-url",
                "ftp://x/reset",
            ],
            "http:// or https://",
        ),
        (
            vec![
                "--smtp-url",
                "smtp://127.0.0.1:1",
                "--mail-dir",
                "/tmp/x",
                "--reset-url",
                RESET_URL,
            ],
            "cannot be used with",
        ),
    ] {
        let Err((status, stderr)) = ServerProcess::try_start(&args, &db.url, &[]) else {
            panic!("{args:?} started");
        };
        assert!(!status.success());
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn smtp_failures_are_logged_without_secrets_and_counted() {
    // A port nothing listens on: every send fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let db = fresh_db().await;
    let smtp = format!("smtp://127.0.0.1:{port}");
    let metrics_addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    let server = ServerProcess::start(
        &[
            "--smtp-url",
            &smtp,
            "--reset-url",
            RESET_URL,
            "--email-send-timeout",
            "2",
            "--trust-proxy",
            "127.0.0.1",
            "--metrics-listen",
            &metrics_addr,
        ],
        &db.url,
        &[
            ("RUST_LOG", "debug"),
            ("APPKEYS_SMTP_PASSWORD", "smtp-password-never-logged"),
            ("APPKEYS_SMTP_USERNAME", "mailer"),
        ],
    );
    // The email counters are on the private metrics listener only (issue 21: on the public one they
    // would tell which addresses have an account).
    let c = Client::new(&server, "127.0.0.1");
    let email = "smtp-down@example.com";
    c.register(email).await;
    let r = c
        .post(&userpass("reset/send"), json!({ "email": email }))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let http = HttpClient::new();
    let mut failed = false;
    for _ in 0..100 {
        let metrics = http
            .request("GET", &format!("http://{metrics_addr}/metrics"), &[], None)
            .await
            .text();
        if metrics.contains(r#"appkeys_emails_total{kind="reset",outcome="failed"} 1"#) {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(failed, "no failed email counted");
    let logs = server.stderr();
    assert!(logs.contains("sending an email failed"), "{logs}");
    for secret in [
        "smtp-password-never-logged",
        "token=",
        "tokenId",
        PASSWORD,
        email,
    ] {
        assert!(!logs.contains(secret), "{secret:?} in the logs:\n{logs}");
    }
}

#[tokio::test]
async fn bad_tokens_are_rate_limited_per_client() {
    let mut config = config();
    config.limits.login_failures_per_ip = 3;
    let app = TestApp::with_config(config).await;
    let bad = json!({ "token": "ab".repeat(32), "tokenId": "0123456789abcdef01234567" });
    for _ in 0..3 {
        post(&app, "confirm", bad.clone())
            .await
            .assert_error(400, "UserpassTokenInvalid");
    }
    let r = post(&app, "confirm", bad).await;
    r.assert_error(429, "TooManyRequests");
    assert!(r.headers.contains_key("retry-after"));
    // Refusals are audited in aggregate (issue 22): written by the flush job.
    app.state.flush_audit().await.unwrap();
    let audit = app
        .state
        .store()
        .audit_entries(None, None, None)
        .await
        .unwrap();
    // Three bad tokens counted; the fourth refused before any lookup.
    let count = |event: &str| audit.iter().filter(|e| e.event == event).count();
    assert_eq!((count("token.failed"), count("rate_limited")), (3, 1));
}
