//! Issue 29, findings 2 and 3: the owner is never kept out by someone else's failures (a completed reset
//! lets its client in, known devices are proven by a secret), and every successful login is bounded
//! (aggregated audit, a ceiling per user and client, known devices capped and swept, the per-key
//! session cap checked at a tenth of itself).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use crate::customjwt::{hs256, hs256_provider, now, SECRET_A};
use crate::email::Mail;
use crate::support::*;

/// The newest message to `to` in the server's mail directory whose subject starts with `subject`, once
/// there are `n` of them.
async fn nth_mail(dir: &Path, to: &str, subject: &str, n: usize) -> Mail {
    for _ in 0..250 {
        let mut found: Vec<(std::time::SystemTime, Mail)> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                    .map(|p| {
                        let at = std::fs::metadata(&p).unwrap().modified().unwrap();
                        (at, Mail::parse(&std::fs::read(&p).unwrap()))
                    })
                    .filter(|(_, m)| m.to == to && m.subject.starts_with(subject))
                    .collect()
            })
            .unwrap_or_default();
        found.sort_by_key(|(at, _)| *at);
        if found.len() >= n {
            return found.swap_remove(n - 1).1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no {n} '{subject}' messages to {to}");
}

/// The measurement of finding 2: an attacker fails on the account without pause, from ever new
/// addresses, past the per-minute and the hourly limits. Each round the owner, from a client and device
/// the server has never seen, is refused, resets the password through the inbox, and logs in at once —
/// every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_owner_gets_in_after_a_reset_while_an_attacker_keeps_failing() {
    let db = fresh_db().await;
    let mail = tempfile::tempdir().unwrap();
    let mail_dir = mail.path().join("out");
    let server = ServerProcess::start(
        &[
            "--trust-proxy",
            "127.0.0.1",
            "--mail-dir",
            mail_dir.to_str().unwrap(),
            "--reset-url",
            "https://keys.example.com/reset",
            "--login-failures-per-account-hour",
            "12",
        ],
        &db.url,
        &[],
    );
    let email = "besieged@example.com";
    let setup = Client::new(&server, "203.0.113.1");
    assert_eq!(setup.register(email).await.status, StatusCode::CREATED);

    // Four attackers, each from ever new addresses, without pause.
    let stop = Arc::new(AtomicBool::new(false));
    let counters: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
    const CHECKED: usize = 0;
    const REFUSED: usize = 1;
    const GOT_IN: usize = 2;
    let attackers: Vec<_> = (0..4u32)
        .map(|a| {
            let (stop, counters) = (stop.clone(), counters.clone());
            let url = server.url.clone();
            tokio::spawn(async move {
                let http = Arc::new(HttpClient::new());
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let ip = format!("198.{}.{}.{}", 51 + a, 100 + n / 250, n % 250 + 1);
                    let guesser = Client {
                        http: http.clone(),
                        url: url.clone(),
                        ip: Box::leak(ip.into_boxed_str()),
                    };
                    let r = guesser.password_login(email, "not-the-password").await;
                    let outcome = match r.status {
                        StatusCode::OK => GOT_IN,
                        StatusCode::UNAUTHORIZED => CHECKED,
                        _ => REFUSED,
                    };
                    counters[outcome].fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    // Past the hourly limit (12 failed checks): from now on a new device of anyone gets 429.
    let started = Instant::now();
    while counters[CHECKED].load(Ordering::Relaxed) < 12 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the account never got throttled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut password = PASSWORD.to_owned();
    for round in 1..=3usize {
        let ip: &'static str = Box::leak(format!("203.0.113.{}", 10 + round).into_boxed_str());
        let owner = Client::new(&server, ip);
        owner
            .password_login(email, &password)
            .await
            .assert_error(429, "TooManyRequests");
        let path = format!("{P}/app/{APP}/auth/providers/local-userpass/reset/send");
        let r = owner.post(&path, json!({ "email": email })).await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        let (_, token, token_id) = nth_mail(&mail_dir, email, "Reset", round).await.link();
        password = format!("owner-round-{round}");
        let path = format!("{P}/app/{APP}/auth/providers/local-userpass/reset");
        let body = json!({"token": token, "tokenId": token_id, "password": password});
        assert_eq!(owner.post(&path, body).await.status, StatusCode::NO_CONTENT);
        // The client that completed the reset is the owner: in at once, and its device gets a secret
        // that proves it from anywhere afterwards.
        let t0 = Instant::now();
        let secret = owner.device_secret(email, &password).await;
        assert!(
            t0.elapsed() < Duration::from_millis(900),
            "round {round}: waited"
        );
        let elsewhere = Client::new(&server, "192.0.2.77");
        let r = elsewhere
            .password_login_with(email, &password, &secret)
            .await;
        assert_eq!(r.status, StatusCode::OK, "round {round}: {}", r.text());
        // Anyone else on a new device is still refused.
        Client::new(&server, "192.0.2.78")
            .password_login(email, &password)
            .await
            .assert_error(429, "TooManyRequests");
    }
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.await.unwrap();
    }
    let [checked, refused, got_in] =
        [CHECKED, REFUSED, GOT_IN].map(|i| counters[i].load(Ordering::Relaxed));
    eprintln!("attackers: {checked} password checks, {refused} refused, {got_in} logins");
    assert_eq!(got_in, 0);
    // (Attempts that passed their check at the same moment as the 12th failure may be checked too:
    // at most one per attacker.)
    assert!(
        checked <= 12 + 4,
        "{checked} guesses checked past the hourly limit of 12"
    );
    assert!(
        refused > 100,
        "the attackers barely ran: {refused} refusals"
    );
}

async fn jwt_app(config: appkeys_server::Config) -> TestApp {
    TestApp::with_config(appkeys_server::Config {
        custom_jwt: Some(hs256_provider(&[])),
        ..config
    })
    .await
}

#[tokio::test]
async fn successful_logins_are_audited_in_aggregate_and_capped_per_user_and_client() {
    let mut base = config();
    base.limits.logins_per_user_per_client = 3;
    let t = jwt_app(base).await;
    let user = t.user("often@example.com").await;
    let password = json!({"username": "often@example.com", "password": "pass-phrase-1"});
    let token = hs256(
        SECRET_A,
        &json!({"sub": "idp|often", "aud": APP, "exp": now() + 600}),
    );
    for _ in 0..2 {
        assert_eq!(
            t.login("local-userpass", password.clone()).await.status,
            StatusCode::OK
        );
    }
    for _ in 0..3 {
        let r = t.login("custom-token", json!({ "token": token })).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    // The fourth of each within the window (t.user logged in once already): 429, no session.
    let sessions = "SELECT COUNT(*) FROM sessions";
    let before = t.state.store().count(sessions).await.unwrap();
    t.login("local-userpass", password.clone())
        .await
        .assert_error(429, "TooManyRequests");
    t.login("custom-token", json!({ "token": token }))
        .await
        .assert_error(429, "TooManyRequests");
    assert_eq!(t.state.store().count(sessions).await.unwrap(), before);
    // No audit row of its own per login: one per user, provider, client and interval, with a count.
    t.state.flush_audit().await.unwrap();
    let rows = t
        .state
        .store()
        .audit_entries(Some(&user.user_id), None, None)
        .await
        .unwrap();
    let succeeded: Vec<_> = rows
        .iter()
        .filter(|e| e.event == "login.succeeded")
        .map(|e| (e.provider.clone().unwrap_or_default(), e.count))
        .collect();
    assert_eq!(succeeded, [("local-userpass".to_owned(), 3)], "{rows:?}");
    let all = t
        .state
        .store()
        .count("SELECT COUNT(*) FROM audit WHERE event = 'login.succeeded' AND provider = 'custom-token'")
        .await
        .unwrap();
    let counted = t
        .state
        .store()
        .count("SELECT CAST(SUM(count) AS BIGINT) FROM audit WHERE event = 'login.succeeded' AND provider = 'custom-token'")
        .await
        .unwrap();
    assert_eq!((all, counted), (1, 3));
}

#[tokio::test]
async fn known_devices_are_capped_per_user_and_swept_when_unused() {
    let t = TestApp::new().await;
    t.user("many-phones@example.com").await;
    let password = json!({"username": "many-phones@example.com", "password": "pass-phrase-1"});
    let mut secrets = Vec::new();
    for _ in 0..24 {
        let r = t.login("local-userpass", password.clone()).await;
        secrets.push(r.json()["device_secret"].as_str().unwrap().to_owned());
        // A device that sends its secret back is not given another one.
        let mut again = password.clone();
        again["device_secret"] = json!(secrets.last().unwrap());
        let r = t.login("local-userpass", again).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.json().get("device_secret").is_none());
    }
    let store = t.state.store();
    let kept = store
        .count("SELECT COUNT(*) FROM user_devices")
        .await
        .unwrap();
    assert_eq!(kept, 20);
    let user = store
        .user_by_email(APP, "many-phones@example.com")
        .await
        .unwrap()
        .unwrap();
    // The most recently used are kept; the first ones are forgotten.
    assert!(store.knows_device(&user.id, &secrets[23]).await.unwrap());
    assert!(!store.knows_device(&user.id, &secrets[0]).await.unwrap());
    // Only hashes are stored.
    let stored = store
        .count(&format!(
            "SELECT COUNT(*) FROM user_devices WHERE device_hash = '{}'",
            secrets[23]
        ))
        .await
        .unwrap();
    assert_eq!(stored, 0);
    // Unused for 90 days: swept.
    let old = appkeys_server::util::now_ms() - appkeys_server::jobs::DEVICE_UNUSED_MS - 1;
    store
        .count(&format!(
            "UPDATE user_devices SET last_seen = {old} RETURNING 1"
        ))
        .await
        .unwrap();
    let swept = appkeys_server::jobs::sweep_once(&t.state).await.unwrap();
    assert_eq!(swept.devices, 20);
    assert_eq!(
        store
            .count("SELECT COUNT(*) FROM user_devices")
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_key_never_has_more_than_a_tenth_over_its_session_cap() {
    let t = TestApp::with_config(appkeys_server::Config {
        max_sessions_per_key: 30,
        ..config()
    })
    .await;
    let user = t.user("busy-key@example.com").await;
    let (key_id, key) = t.new_key(&user.refresh, "service").await;
    let count = format!("SELECT COUNT(*) FROM sessions WHERE api_key_id = '{key_id}'");
    let mut most = 0;
    for _ in 0..90 {
        assert_eq!(t.key_login(&key).await.status, StatusCode::OK);
        // The trims run in the background: give each a moment.
        tokio::time::sleep(Duration::from_millis(5)).await;
        most = most.max(t.state.store().count(&count).await.unwrap());
    }
    for _ in 0..100 {
        if t.state.store().count(&count).await.unwrap() <= 30 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(most <= 34, "the key had {most} sessions (cap 30)");
    assert!(t.state.store().count(&count).await.unwrap() <= 30);
}

/// Finding 4 against a real server: five clients flooding the password checks from 12 connections each
/// cannot take them from a sixth — every one of its logins is served (no 503), while the flooders get
/// 503s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_clients_cannot_take_the_password_checks_from_a_sixth() {
    let db = fresh_db().await;
    let server = ServerProcess::start(
        &[
            "--trust-proxy",
            "127.0.0.1",
            "--hash-concurrency",
            "1",
            "--hash-queue",
            "8",
            "--login-failures-per-ip",
            "0",
            "--login-failures-per-account",
            "0",
            "--login-failures-per-account-hour",
            "0",
        ],
        &db.url,
        &[],
    );
    let sixth = Client::new(&server, "203.0.113.66");
    assert_eq!(
        sixth.register("sixth@example.com").await.status,
        StatusCode::CREATED
    );
    let stop = Arc::new(AtomicBool::new(false));
    let busy = Arc::new(AtomicUsize::new(0));
    let flood: Vec<_> = (0..5 * 12)
        .map(|i| {
            let (stop, busy) = (stop.clone(), busy.clone());
            let ip: &'static str = Box::leak(format!("198.51.100.{}", i % 5 + 1).into_boxed_str());
            let flooder = Client::new(&server, ip);
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = flooder
                        .password_login("nobody@example.com", "wrong-wrong")
                        .await;
                    if r.status == StatusCode::SERVICE_UNAVAILABLE {
                        busy.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    while busy.load(Ordering::Relaxed) < 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..5 {
        let r = sixth.password_login("sixth@example.com", PASSWORD).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "login {i} of the sixth client: {}",
            r.text()
        );
    }
    stop.store(true, Ordering::Relaxed);
    for f in flood {
        f.await.unwrap();
    }
    eprintln!(
        "flooders were answered 503 {} times",
        busy.load(Ordering::Relaxed)
    );
}
