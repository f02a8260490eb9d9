//! Issue 32 against a real server process (both backends): rolling a key with a grace period, scopes in the
//! access token and introspection, client-address allow-lists (IPv4, IPv6, behind a trusted proxy), and usage.

use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine;
use serde_json::{json, Value};

use crate::customjwt::secret_file;
use crate::support::*;

/// A key route call with the owner's refresh token, from `ip` (behind the trusted proxy).
async fn call(c: &Client, method: &str, path: &str, refresh: &str, body: Option<Value>) -> Resp {
    let auth = format!("Bearer {refresh}");
    let mut headers = vec![("authorization", auth.as_str()), ("x-forwarded-for", c.ip)];
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    c.http
        .request(
            method,
            &format!("{}{P}{path}", c.url),
            &headers,
            body.map(|b| b.to_string().into_bytes()),
        )
        .await
}

/// A key login from `ip`.
/// `POST auth/api_keys/{id}/roll` with `body` (`{expireOldAfter}`) as the owner of `refresh`.
async fn roll(c: &Client, id: &str, refresh: &str, body: Option<Value>) -> Resp {
    call(
        c,
        "POST",
        &format!("/auth/api_keys/{id}/roll"),
        refresh,
        body,
    )
    .await
}

async fn login_from(server: &ServerProcess, ip: &'static str, secret: &str) -> Resp {
    Client::new(server, ip).key_login(secret).await
}

/// An owner with a fresh email/password session: `(client, tokens)`.
async fn owner(server: &ServerProcess, email: &str) -> (Client, Tokens) {
    let c = Client::new(server, "127.0.0.1");
    c.register(email).await;
    let tokens = Tokens::from(&c.password_login(email, PASSWORD).await);
    (c, tokens)
}

#[tokio::test]
async fn a_rolled_key_keeps_its_id_and_the_old_secret_works_until_its_deadline() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&["--trust-proxy", "127.0.0.1"], &db.url, &[]);
    let (c, t) = owner(&server, "roll@example.com").await;
    let (id, s0) = c.create_key(&t.refresh, "service").await;
    assert_eq!(
        login_from(&server, "127.0.0.1", &s0).await.status,
        StatusCode::OK
    );
    // Roll with a minute of grace: both secrets log in as the same key.
    let r = roll(&c, &id, &t.refresh, Some(json!({"expireOldAfter": 60}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let rolled = r.json();
    let s1 = rolled["key"].as_str().unwrap().to_owned();
    assert_eq!(rolled["_id"], id.as_str());
    assert_eq!(rolled["name"], "service");
    assert!(rolled["previousKeyExpiresAt"].as_i64().unwrap() > crate::customjwt::now() * 1000);
    for secret in [&s0, &s1] {
        let r = login_from(&server, "127.0.0.1", secret).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(
            jwt_claims(r.json()["access_token"].as_str().unwrap())["api_key_id"],
            id.as_str()
        );
    }
    // Rolling again during the grace period ends the older secret at once.
    let r = roll(&c, &id, &t.refresh, Some(json!({"expireOldAfter": 60}))).await;
    let s2 = r.json()["key"].as_str().unwrap().to_owned();
    login_from(&server, "127.0.0.1", &s0)
        .await
        .assert_error(401, "AuthError");
    assert_eq!(
        login_from(&server, "127.0.0.1", &s1).await.status,
        StatusCode::OK
    );
    assert_eq!(
        login_from(&server, "127.0.0.1", &s2).await.status,
        StatusCode::OK
    );
    // A short grace: the old secret logs in until the deadline, then fails like a deleted key.
    let r = roll(&c, &id, &t.refresh, Some(json!({"expireOldAfter": 2}))).await;
    let s3 = r.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(
        login_from(&server, "127.0.0.1", &s2).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2300)).await;
    login_from(&server, "127.0.0.1", &s2)
        .await
        .assert_error(401, "AuthError");
    assert_eq!(
        login_from(&server, "127.0.0.1", &s3).await.status,
        StatusCode::OK
    );
    // 0 (the default): at once. Out of range: 400. Someone else's key: 404.
    let r = roll(&c, &id, &t.refresh, None).await;
    let s4 = r.json()["key"].as_str().unwrap().to_owned();
    login_from(&server, "127.0.0.1", &s3)
        .await
        .assert_error(401, "AuthError");
    assert_eq!(
        login_from(&server, "127.0.0.1", &s4).await.status,
        StatusCode::OK
    );
    roll(
        &c,
        &id,
        &t.refresh,
        Some(json!({"expireOldAfter": 2_592_001})),
    )
    .await
    .assert_error(400, "InvalidParameter");
    let (_, other) = owner(&server, "other-roller@example.com").await;
    roll(&c, &id, &other.refresh, None)
        .await
        .assert_error(404, "APIKeyNotFound");
    let store = appkeys_server::Store::connect(&db.url).await.unwrap();
    assert_eq!(
        store
            .count("SELECT COUNT(*) FROM audit WHERE event = 'key.rolled'")
            .await
            .unwrap(),
        4
    );

    // 16 login loops through a roll with grace lose no login.
    let server_url = server.url.clone();
    let loops: Vec<_> = (0..16)
        .map(|_| {
            let (url, secret) = (server_url.clone(), s4.clone());
            tokio::spawn(async move {
                let http = HttpClient::new();
                let mut failed = 0;
                for _ in 0..25 {
                    let r = http
                        .request(
                            "POST",
                            &format!("{url}{P}/app/{APP}/auth/providers/api-key/login"),
                            &[
                                ("content-type", "application/json"),
                                ("x-forwarded-for", "127.0.0.1"),
                            ],
                            Some(json!({"key": secret}).to_string().into_bytes()),
                        )
                        .await;
                    failed += usize::from(r.status != StatusCode::OK);
                }
                failed
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let r = roll(&c, &id, &t.refresh, Some(json!({"expireOldAfter": 120}))).await;
    let s5 = r.json()["key"].as_str().unwrap().to_owned();
    let mut failed = 0;
    for l in loops {
        failed += l.await.unwrap();
    }
    assert_eq!(failed, 0, "logins lost during the roll");
    assert_eq!(
        login_from(&server, "127.0.0.1", &s5).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn scopes_come_from_the_servers_list_and_reach_the_token_and_introspection() {
    let db = fresh_db().await;
    let dir = tempfile::tempdir().unwrap();
    let caller = "resource:an introspection secret of 32 bytes or more";
    let credentials = secret_file(dir.path(), &[caller], 0o600);
    let server = ServerProcess::start(
        &[
            "--api-key-scope",
            "orders:read=Read orders",
            "--api-key-scope",
            "orders:write=Change orders",
            "--introspection-credentials-file",
            &credentials,
        ],
        &db.url,
        &[],
    );
    let (c, t) = owner(&server, "scopes@example.com").await;
    let r = call(
        &c,
        "POST",
        "/auth/api_keys",
        &t.refresh,
        Some(json!({"name": "reader", "scopes": ["orders:read"]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["scopes"], json!(["orders:read"]));
    let secret = r.json()["key"].as_str().unwrap().to_owned();
    let id = r.json()["_id"].as_str().unwrap().to_owned();
    let session = Tokens::from(&c.key_login(&secret).await);
    assert_eq!(jwt_claims(&session.access)["scope"], "orders:read");
    // A refresh keeps the scope; introspection says it.
    let refreshed = c.refresh(&session.refresh).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(jwt_claims(&refreshed)["scope"], "orders:read");
    let basic = base64::engine::general_purpose::STANDARD.encode(caller);
    let r = HttpClient::new()
        .request(
            "POST",
            &format!("{}/oauth/introspect", server.url),
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", &format!("Basic {basic}")),
            ],
            Some(format!("token={refreshed}").into_bytes()),
        )
        .await;
    assert_eq!(r.json()["scope"], "orders:read", "{}", r.text());
    // fetch/fetchAll show it; a key without scopes acts as its owner (no claim).
    let r = call(&c, "GET", &format!("/auth/api_keys/{id}"), &t.refresh, None).await;
    assert_eq!(r.json()["scopes"], json!(["orders:read"]));
    let (_, plain) = c.create_key(&t.refresh, "owner-like").await;
    let plain_session = Tokens::from(&c.key_login(&plain).await);
    assert_eq!(jwt_claims(&plain_session.access)["scope"], Value::Null);
    // Unknown scope: 400 naming it, nothing created.
    let r = call(
        &c,
        "POST",
        "/auth/api_keys",
        &t.refresh,
        Some(json!({"name": "x", "scopes": ["orders:delete"]})),
    )
    .await;
    let message = r.assert_error(400, "InvalidParameter");
    assert!(message.contains("orders:delete"), "{message}");
    let list = call(&c, "GET", "/auth/api_keys", &t.refresh, None)
        .await
        .json();
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn allow_lists_admit_listed_networks_over_ipv4_and_ipv6_and_refuse_the_rest() {
    let db = fresh_db().await;
    let server = ServerProcess::start(
        &["--trust-proxy", "127.0.0.1", "--audit-interval", "1"],
        &db.url,
        &[],
    );
    let (c, t) = owner(&server, "allow@example.com").await;
    let r = call(
        &c,
        "POST",
        "/auth/api_keys",
        &t.refresh,
        Some(json!({"name": "office", "allowedIps": ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(
        r.json()["allowedIps"],
        json!(["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"])
    );
    let id = r.json()["_id"].as_str().unwrap().to_owned();
    let secret = r.json()["key"].as_str().unwrap().to_owned();
    let store = appkeys_server::Store::connect(&db.url).await.unwrap();
    let sessions = || store.count("SELECT COUNT(*) FROM sessions WHERE api_key_id IS NOT NULL");
    for ip in ["203.0.113.9", "2001:db8:1::5", "198.51.100.7"] {
        let r = login_from(&server, ip, &secret).await;
        assert_eq!(r.status, StatusCode::OK, "{ip}: {}", r.text());
    }
    let before = sessions().await.unwrap();
    for ip in ["198.51.100.8", "203.0.114.1", "2001:db9::1", "127.0.0.1"] {
        login_from(&server, ip, &secret)
            .await
            .assert_error(401, "APIKeyAddressNotAllowed");
    }
    assert_eq!(
        sessions().await.unwrap(),
        before,
        "a refused login writes no session"
    );
    // The refusals are audited (in aggregate) with the client address.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let n = store
            .count("SELECT COUNT(*) FROM audit WHERE outcome = 'address_not_allowed' AND ip = '198.51.100.8'")
            .await
            .unwrap();
        if n == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no audit row of the refusal"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Bad lists: 400, unchanged.
    for bad in [
        json!(["10.0.0.0/33"]),
        json!(["not an address"]),
        json!(vec!["10.0.0.1"; 33]),
    ] {
        call(
            &c,
            "PUT",
            &format!("/auth/api_keys/{id}/allowed_ips"),
            &t.refresh,
            Some(json!({"allowedIps": bad})),
        )
        .await
        .assert_error(400, "InvalidParameter");
    }
    login_from(&server, "192.0.2.1", &secret)
        .await
        .assert_error(401, "APIKeyAddressNotAllowed");
    // The update route: a new list, then anywhere again.
    call(
        &c,
        "PUT",
        &format!("/auth/api_keys/{id}/allowed_ips"),
        &t.refresh,
        Some(json!({"allowedIps": ["192.0.2.0/28"]})),
    )
    .await
    .assert_no_content();
    assert_eq!(
        login_from(&server, "192.0.2.1", &secret).await.status,
        StatusCode::OK
    );
    login_from(&server, "203.0.113.9", &secret)
        .await
        .assert_error(401, "APIKeyAddressNotAllowed");
    call(
        &c,
        "PUT",
        &format!("/auth/api_keys/{id}/allowed_ips"),
        &t.refresh,
        Some(json!({"allowedIps": []})),
    )
    .await
    .assert_no_content();
    assert_eq!(
        login_from(&server, "203.0.113.9", &secret).await.status,
        StatusCode::OK
    );
    let r = call(&c, "GET", &format!("/auth/api_keys/{id}"), &t.refresh, None).await;
    assert!(r.json().get("allowedIps").is_none(), "{}", r.text());
}

#[tokio::test]
async fn usage_counts_the_logins_per_day_and_the_last_address() {
    let db = fresh_db().await;
    let server = ServerProcess::start(
        &["--trust-proxy", "127.0.0.1", "--audit-interval", "1"],
        &db.url,
        &[],
    );
    let (c, t) = owner(&server, "usage@example.com").await;
    let (id, secret) = c.create_key(&t.refresh, "counted").await;
    for ip in [
        "192.0.2.10",
        "192.0.2.10",
        "192.0.2.11",
        "192.0.2.12",
        "192.0.2.12",
    ] {
        assert_eq!(
            login_from(&server, ip, &secret).await.status,
            StatusCode::OK
        );
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let usage = loop {
        let r = call(
            &c,
            "GET",
            &format!("/auth/api_keys/{id}/usage"),
            &t.refresh,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let usage = r.json();
        let total: i64 = usage["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["logins"].as_i64().unwrap())
            .sum();
        if total == 5 {
            break usage;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "usage never reached 5: {usage}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let days = usage["days"].as_array().unwrap();
    assert_eq!(days.len(), 90);
    assert_eq!(days[89]["logins"], 5, "today's");
    assert_eq!(usage["lastClientAddress"], "192.0.2.12");
    // fetch(id) carries the same.
    let fetched = call(&c, "GET", &format!("/auth/api_keys/{id}"), &t.refresh, None)
        .await
        .json();
    assert_eq!(fetched["usage"], usage);
}
