//! Key lifecycle (issue 13): optional expiry, a maximum lifetime, and disabling unused keys — against
//! real `appkeys-server` processes.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A logged-in user: (client, refresh token).
async fn owner(server: &ServerProcess, email: &str) -> (Client, String) {
    let c = Client::new(server, "127.0.0.1");
    assert_eq!(c.register(email).await.status, StatusCode::CREATED);
    let t = Tokens::from(&c.password_login(email, PASSWORD).await);
    (c, t.refresh)
}

async fn create(c: &Client, refresh: &str, body_value: Value) -> Resp {
    c.http
        .request(
            "POST",
            &format!("{}{}", c.url, keys_path()),
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {refresh}")),
            ],
            body(body_value),
        )
        .await
}

async fn fetch(c: &Client, refresh: &str, id: &str) -> Value {
    c.http
        .request(
            "GET",
            &format!("{}{}", c.url, key_path(id)),
            &[("authorization", &format!("Bearer {refresh}"))],
            None,
        )
        .await
        .json()
}

#[tokio::test]
async fn keys_expire_and_their_sessions_end() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&[], &db.url, &[]);
    let (c, refresh) = owner(&server, "expiry@example.com").await;
    // Without expiresAt: never (null), as App Services keys.
    let forever = create(&c, &refresh, json!({"name": "forever"})).await;
    assert_eq!(forever.status, StatusCode::CREATED);
    assert!(forever.json()["expiresAt"].is_null());
    // In the past or not a number: 400.
    create(
        &c,
        &refresh,
        json!({"name": "past", "expiresAt": now_ms() - 1000}),
    )
    .await
    .assert_error(400, "InvalidParameter");
    create(
        &c,
        &refresh,
        json!({"name": "text", "expiresAt": "tomorrow"}),
    )
    .await
    .assert_error(400, "InvalidParameter");
    // Expiring in 2 s: logs in, then is refused with APIKeyExpired, and its session ends.
    let at = now_ms() + 2000;
    let r = create(&c, &refresh, json!({"name": "soon", "expiresAt": at})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let key = r.json();
    assert_eq!(key["expiresAt"], at);
    let secret = key["key"].as_str().unwrap();
    let session = Tokens::from(&c.key_login(secret).await);
    assert_eq!(c.refresh(&session.refresh).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis((at - now_ms() + 300).max(0) as u64)).await;
    c.key_login(secret).await.assert_error(401, "APIKeyExpired");
    c.refresh(&session.refresh)
        .await
        .assert_error(401, "InvalidSession");
    // Still listed, with its expiry, until deleted.
    let id = key["_id"].as_str().unwrap();
    assert_eq!(fetch(&c, &refresh, id).await["expiresAt"], at);
}

#[tokio::test]
async fn a_maximum_lifetime_applies_by_default_and_refuses_longer() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&["--max-key-lifetime-days", "30"], &db.url, &[]);
    let (c, refresh) = owner(&server, "policy@example.com").await;
    let before = now_ms();
    let r = create(&c, &refresh, json!({"name": "default"})).await;
    let at = r.json()["expiresAt"]
        .as_i64()
        .expect("the default lifetime applies");
    let thirty_days = 30 * 86_400_000;
    assert!(
        (before + thirty_days..=now_ms() + thirty_days).contains(&at),
        "{at}"
    );
    let ok = create(
        &c,
        &refresh,
        json!({"name": "shorter", "expiresAt": now_ms() + 86_400_000}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    create(
        &c,
        &refresh,
        json!({"name": "longer", "expiresAt": now_ms() + 31 * 86_400_000}),
    )
    .await
    .assert_error(400, "InvalidParameter");
}

#[tokio::test]
async fn the_sweep_disables_unused_keys_and_keeps_used_ones() {
    let db = fresh_db().await;
    // 0.00004 days = 3.5 s.
    let server = ServerProcess::start(
        &[
            "--disable-unused-keys-after-days",
            "0.00004",
            "--sweep-interval",
            "1",
            "--last-used-interval",
            "1",
        ],
        &db.url,
        &[],
    );
    let (c, refresh) = owner(&server, "stale@example.com").await;
    let (stale, _) = c.create_key(&refresh, "stale").await;
    let (used, used_secret) = c.create_key(&refresh, "used").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        assert_eq!(c.key_login(&used_secret).await.status, StatusCode::OK);
        if fetch(&c, &refresh, &stale).await["disabled"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "the unused key was not disabled");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        fetch(&c, &refresh, &used).await["disabled"],
        false,
        "a used key stays enabled"
    );
    let audit = std::process::Command::new(BIN)
        .args([
            "audit",
            "--database-url",
            &db.url,
            "--json",
            "--key",
            &stale,
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&audit.stdout);
    assert!(
        out.lines()
            .any(|l| l.contains("\"key.disabled\"") && l.contains("\"unused\"")),
        "{out}"
    );
}
