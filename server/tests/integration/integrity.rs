//! Account integrity (issue 21), against real server processes: a reset or a disable ends every
//! credential the old state produced, logins racing them included (both backends; two instances on
//! PostgreSQL); a reset takes the account's API keys back; a key session cannot delete its owner; a
//! stranger cannot void or block the owner's links; nothing public tells known from unknown addresses;
//! secrets are not cached or sniffed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use crate::email::{Mail, RESET_URL};
use crate::support::*;

fn userpass(action: &str) -> String {
    format!("{P}/app/{APP}/auth/providers/local-userpass/{action}")
}

/// A server with email into `dir` (lettre's file transport) and trusted X-Forwarded-For from loopback.
fn mail_server(dir: &Path, db_url: &str, extra: &[&str]) -> ServerProcess {
    let dir = dir.display().to_string();
    let mut args = vec![
        "--mail-dir",
        dir.as_str(),
        "--reset-url",
        RESET_URL,
        "--trust-proxy",
        "127.0.0.1",
        "--login-failures-per-account",
        "0",
        "--login-failures-per-ip",
        "0",
    ];
    args.extend_from_slice(extra);
    ServerProcess::start(&args, db_url, &[])
}

fn mails(dir: &Path) -> Vec<(PathBuf, Mail)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| {
            let mail = Mail::parse(&std::fs::read(&p).unwrap());
            (p, mail)
        })
        .collect()
}

/// Waits for a new reset email (one not in `seen`) and returns its `(token, tokenId)`.
async fn next_reset_link(dir: &Path, seen: &mut Vec<PathBuf>) -> (String, String) {
    for _ in 0..250 {
        for (path, mail) in mails(dir) {
            if !seen.contains(&path) && mail.subject.contains("Reset") {
                seen.push(path);
                let (_, token, id) = mail.link();
                return (token, id);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no new reset email in {dir:?}");
}

/// Logins with `password` in a loop on each server until `stop`; the refresh tokens of every login
/// that succeeded.
fn login_loops(
    clients: Vec<Arc<Client>>,
    email: &'static str,
    password: &'static str,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    clients
        .into_iter()
        .flat_map(|c| std::iter::repeat_n(c, 4))
        .map(|c| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut opened = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let r = c.password_login(email, password).await;
                    if r.status == StatusCode::OK {
                        opened.push(Tokens::from(&r).refresh);
                    }
                }
                opened
            })
        })
        .collect()
}

/// Servers of one test: one, or two instances on PostgreSQL.
fn instances(dir: &Path, db_url: &str) -> Vec<ServerProcess> {
    let n = if is_postgres() { 2 } else { 1 };
    (0..n).map(|_| mail_server(dir, db_url, &[])).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_ends_the_sessions_of_logins_racing_it() {
    let (db, dir) = (fresh_db().await, tempfile::tempdir().unwrap());
    let servers = instances(dir.path(), &db.url);
    let email = "raced-reset@example.com";
    let owner = Client::new(&servers[0], "127.0.0.1");
    assert_eq!(owner.register(email).await.status, StatusCode::CREATED);
    let clients: Vec<Arc<Client>> = servers
        .iter()
        .map(|s| Arc::new(Client::new(s, "127.0.0.2")))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = login_loops(clients.clone(), email, PASSWORD, stop.clone());
    let r = owner
        .post(&userpass("reset/send"), json!({ "email": email }))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let (token, id) = next_reset_link(dir.path(), &mut Vec::new()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The attacker keeps logging in with the old password while the reset runs; any login that
    // succeeds checked the old password (after the reset it is wrong), so none may leave a session.
    let r = owner
        .post(
            &userpass("reset"),
            json!({ "token": token, "tokenId": id, "password": "the owner's new one" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let mut opened = Vec::new();
    for loop_ in attacker {
        opened.extend(loop_.await.unwrap());
    }
    assert!(
        opened.len() > 4,
        "the attacker logged in before the reset ({})",
        opened.len()
    );
    let mut live = 0;
    for refresh in &opened {
        for c in &clients {
            if c.refresh(refresh).await.status == StatusCode::OK {
                live += 1;
            }
        }
    }
    assert_eq!(
        live, 0,
        "{live} sessions of the old password survived the reset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disable_then_enable_revives_no_session_of_logins_racing_it() {
    let (db, dir) = (fresh_db().await, tempfile::tempdir().unwrap());
    let servers = instances(dir.path(), &db.url);
    let email = "raced-disable@example.com";
    let owner = Client::new(&servers[0], "127.0.0.1");
    assert_eq!(owner.register(email).await.status, StatusCode::CREATED);
    let user = Tokens::from(&owner.password_login(email, PASSWORD).await).user_id;
    let clients: Vec<Arc<Client>> = servers
        .iter()
        .map(|s| Arc::new(Client::new(s, "127.0.0.2")))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = login_loops(clients.clone(), email, PASSWORD, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let admin = |action: &str| {
        let out = std::process::Command::new(BIN)
            .args(["users", action, "--database-url", &db.url, &user])
            .env_remove("APPKEYS_DATABASE_URL")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    admin("disable");
    admin("enable");
    let mut opened = Vec::new();
    for loop_ in attacker {
        opened.extend(loop_.await.unwrap());
    }
    assert!(
        opened.len() > 4,
        "logins before the disable ({})",
        opened.len()
    );
    let mut live = 0;
    for refresh in &opened {
        if clients[0].refresh(refresh).await.status == StatusCode::OK {
            live += 1;
        }
    }
    assert_eq!(
        live, 0,
        "{live} sessions opened before the disable work after the enable"
    );
    // The account itself works again.
    assert_eq!(
        owner.password_login(email, PASSWORD).await.status,
        StatusCode::OK
    );
}

/// Pre-hijacking: a stranger registers the owner's address first and makes a key; the owner recovers the
/// account with "forgot password"; the stranger's key and sessions stop working.
#[tokio::test]
async fn recovering_a_pre_registered_account_takes_back_its_keys() {
    let (db, dir) = (fresh_db().await, tempfile::tempdir().unwrap());
    let server = mail_server(dir.path(), &db.url, &[]);
    let (stranger, owner) = (
        Client::new(&server, "127.0.0.2"),
        Client::new(&server, "127.0.0.1"),
    );
    let email = "victim@company.example";
    assert_eq!(stranger.register(email).await.status, StatusCode::CREATED);
    let hijacker = Tokens::from(&stranger.password_login(email, PASSWORD).await);
    let (_, key) = stranger.create_key(&hijacker.refresh, "backdoor").await;
    let key_session = Tokens::from(&stranger.key_login(&key).await);
    owner
        .register(email)
        .await
        .assert_error(409, "AccountNameInUse");
    let mut seen: Vec<PathBuf> = mails(dir.path()).into_iter().map(|(p, _)| p).collect();
    owner
        .post(&userpass("reset/send"), json!({ "email": email }))
        .await;
    let (token, id) = next_reset_link(dir.path(), &mut seen).await;
    let r = owner
        .post(
            &userpass("reset"),
            json!({ "token": token, "tokenId": id, "password": "mine, really" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    stranger
        .key_login(&key)
        .await
        .assert_error(401, "AuthError");
    stranger
        .refresh(&key_session.refresh)
        .await
        .assert_error(401, "InvalidSession");
    stranger
        .refresh(&hijacker.refresh)
        .await
        .assert_error(401, "InvalidSession");
    // The owner sees the key (disabled) and decides.
    let mine = Tokens::from(&owner.password_login(email, "mine, really").await);
    let keys = owner
        .http
        .request(
            "GET",
            &format!("{}{}", owner.url, keys_path()),
            &[("authorization", &format!("Bearer {}", mine.refresh))],
            None,
        )
        .await
        .json();
    assert_eq!(
        (keys[0]["name"].as_str(), keys[0]["disabled"].as_bool()),
        (Some("backdoor"), Some(true))
    );
}

#[tokio::test]
async fn a_key_session_cannot_delete_its_owner() {
    let t = TestApp::new().await;
    let owner = t.user("kept@example.com").await;
    let (_, key) = t.new_key(&owner.refresh, "svc").await;
    let service = Tokens::from(&t.key_login(&key).await);
    let r = t
        .call(
            "DELETE",
            &format!("{P}/auth/delete"),
            Some(&service.access),
            None,
        )
        .await;
    r.assert_error(403, "APIKeyManagementForbidden");
    // Nothing happened: the owner, the key and the service's session are all there.
    assert_eq!(t.profile(&owner.access).await.status, StatusCode::OK);
    assert_eq!(t.key_login(&key).await.status, StatusCode::OK);
    assert_eq!(t.refresh(&service.refresh).await.status, StatusCode::OK);
    // The owner's own session still can.
    t.call(
        "DELETE",
        &format!("{P}/auth/delete"),
        Some(&owner.access),
        None,
    )
    .await
    .assert_no_content();
}

#[tokio::test]
async fn a_stranger_cannot_void_or_block_the_owners_link() {
    let (db, dir) = (fresh_db().await, tempfile::tempdir().unwrap());
    let server = mail_server(dir.path(), &db.url, &[]);
    let (stranger, owner) = (
        Client::new(&server, "127.0.0.2"),
        Client::new(&server, "127.0.0.1"),
    );
    let email = "flooded@example.com";
    owner.register(email).await;
    let mut seen = Vec::new();
    owner
        .post(&userpass("reset/send"), json!({ "email": email }))
        .await;
    let (token, id) = next_reset_link(dir.path(), &mut seen).await;
    // The stranger floods the address until refused.
    let mut limited = false;
    for _ in 0..6 {
        let r = stranger
            .post(&userpass("reset/send"), json!({ "email": email }))
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
        }
    }
    assert!(limited, "the stranger was limited");
    // The owner can still ask (not 429) …
    let r = owner
        .post(&userpass("reset/send"), json!({ "email": email }))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    // … and the link the owner received first still works; once used, the others are void.
    let r = owner
        .post(
            &userpass("reset"),
            json!({ "token": token, "tokenId": id, "password": "fresh and mine" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let (other, other_id) = next_reset_link(dir.path(), &mut seen).await;
    owner
        .post(
            &userpass("reset"),
            json!({ "token": other, "tokenId": other_id, "password": "another one" }),
        )
        .await
        .assert_error(400, "UserpassTokenInvalid");
    // Unknown addresses get exactly the same answers.
    let unknown = "nobody-here@example.com";
    for _ in 0..3 {
        let r = stranger
            .post(&userpass("reset/send"), json!({ "email": unknown }))
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
    stranger
        .post(&userpass("reset/send"), json!({ "email": unknown }))
        .await
        .assert_error(429, "TooManyRequests");
}

/// The public `/metrics` (and every other unauthenticated answer) reads the same whether the address
/// asked about has an account or not; a scrape is cheap.
#[tokio::test]
async fn public_metrics_do_not_tell_which_addresses_have_an_account() {
    let (db, dir) = (fresh_db().await, tempfile::tempdir().unwrap());
    let server = mail_server(dir.path(), &db.url, &[]);
    let c = Client::new(&server, "127.0.0.1");
    c.register("known@example.com").await;
    let scrape = || async {
        HttpClient::new()
            .request("GET", &format!("{}/metrics", server.url), &[], None)
            .await
            .text()
            .lines()
            .filter(|l| {
                !l.starts_with('#') && !l.contains("appkeys_http_") && !l.contains("db_pool")
            })
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let mut answers = Vec::new();
    for email in ["known@example.com", "unknown@example.com"] {
        let before = scrape().await;
        let r = c
            .post(&userpass("reset/send"), json!({ "email": email }))
            .await;
        answers.push((
            r.status,
            r.body.clone(),
            r.headers.get("content-type").cloned(),
        ));
        // Give the email (if any) time to be sent and counted.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            scrape().await,
            before,
            "a scrape moved after reset/send for {email}"
        );
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(
        mails(dir.path()).len(),
        1,
        "the known address got its email"
    );
    // Failed logins read the same too (unknown accounts cost a dummy hash).
    let known = c
        .password_login("known@example.com", "wrong password")
        .await;
    let unknown = c
        .password_login("unknown@example.com", "wrong password")
        .await;
    assert_eq!((known.status, known.body), (unknown.status, unknown.body));
}

#[tokio::test]
async fn secrets_are_not_cached_and_nothing_is_sniffed() {
    let t = TestApp::new().await;
    let u = t.user("headers@example.com").await;
    let login = t
        .login(
            "local-userpass",
            json!({"username": "headers@example.com", "password": "pass-phrase-1"}),
        )
        .await;
    let created = t.create_key(&u.refresh, "svc").await;
    let refreshed = t.refresh(&u.refresh).await;
    for (what, r) in [
        ("login", &login),
        ("create key", &created),
        ("refresh", &refreshed),
    ] {
        assert_eq!(r.headers["cache-control"], "no-store", "{what}");
        assert_eq!(r.headers["x-content-type-options"], "nosniff", "{what}");
    }
    for path in [
        "/healthz",
        "/nowhere",
        "/openapi.json",
        "/.well-known/jwks.json",
    ] {
        let r = t.call("GET", path, None, None).await;
        assert_eq!(r.headers["x-content-type-options"], "nosniff", "{path}");
    }
    let preflight = t
        .send(
            axum::http::Request::builder()
                .method("OPTIONS")
                .uri(format!("{P}/auth/session"))
                .header("origin", "https://app.example")
                .header("access-control-request-method", "POST")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(preflight.headers["x-content-type-options"], "nosniff");
}
