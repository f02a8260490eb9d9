//! API-key login at speed (issue 11) keeps its guarantees, against real `appkeys-server` processes:
//! distinct working sessions under concurrency, immediate revocation while logins are in flight,
//! `lastUsedAt` written off the login path but never ahead of the latest login, and no acknowledged
//! session lost on `kill -9`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;

use crate::support::*;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A registered user with one key: (client, refresh token, key id, key secret).
async fn user_with_key(server: &ServerProcess) -> (Client, String, String, String) {
    let c = Client::new(server, "127.0.0.1");
    let email = format!("k{}@example.com", now_ms());
    assert_eq!(c.register(&email).await.status, StatusCode::CREATED);
    let tokens = Tokens::from(&c.password_login(&email, PASSWORD).await);
    let (id, key) = c.create_key(&tokens.refresh, "svc").await;
    (c, tokens.refresh, id, key)
}

async fn key_json(c: &Client, refresh_token: &str, id: &str) -> serde_json::Value {
    c.http
        .request(
            "GET",
            &format!("{}{}", c.url, key_path(id)),
            &[("authorization", &format!("Bearer {refresh_token}"))],
            None,
        )
        .await
        .json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_key_logins_yield_distinct_working_sessions() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&[], &db.url, &[]);
    let (c, _, _, key) = user_with_key(&server).await;
    let c = Arc::new(c);
    let logins: Vec<_> = (0..64)
        .map(|_| {
            let (c, key) = (c.clone(), key.clone());
            tokio::spawn(async move { c.key_login(&key).await })
        })
        .collect();
    let mut refresh_tokens = std::collections::HashSet::new();
    for login in logins {
        let r = login.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        refresh_tokens.insert(Tokens::from(&r).refresh);
    }
    assert_eq!(refresh_tokens.len(), 64, "distinct sessions");
    let sessions: std::collections::HashSet<String> = refresh_tokens
        .iter()
        .map(|t| jwt_claims(t)["baas_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sessions.len(), 64, "distinct session ids");
    for token in &refresh_tokens {
        assert_eq!(c.refresh(token).await.status, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disabling_a_key_during_logins_refuses_later_ones_and_ends_earlier_sessions() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&["--key-login-failures-per-ip", "0"], &db.url, &[]);
    let (c, owner_refresh, key_id, key) = user_with_key(&server).await;
    let c = Arc::new(c);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (c, key, stop) = (c.clone(), key.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let started = Instant::now();
                    let r = c.key_login(&key).await;
                    let token = (r.status == StatusCode::OK).then(|| Tokens::from(&r).refresh);
                    seen.push((started, r.status, token));
                }
                seen
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = c
        .http
        .request(
            "PUT",
            &format!("{}{}/disable", c.url, key_path(&key_id)),
            &[("authorization", &format!("Bearer {owner_refresh}"))],
            None,
        )
        .await;
    r.assert_no_content();
    let disabled = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut before, mut after) = (0, 0);
    for worker in workers {
        for (started, status, token) in worker.await.unwrap() {
            if started > disabled {
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "a login that started after the disable"
                );
                after += 1;
            }
            if let Some(token) = token {
                before += 1;
                c.refresh(&token).await.assert_error(401, "InvalidSession");
            }
        }
    }
    assert!(
        before > 0 && after > 0,
        "{before} logins before, {after} after the disable"
    );
}

#[tokio::test]
async fn last_used_at_moves_forward_and_never_ahead_of_the_latest_login() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&["--last-used-interval", "1"], &db.url, &[]);
    let (c, owner_refresh, key_id, key) = user_with_key(&server).await;
    assert!(key_json(&c, &owner_refresh, &key_id).await["lastUsedAt"].is_null());
    let mut previous = 0;
    for _ in 0..2 {
        let before = now_ms();
        assert_eq!(c.key_login(&key).await.status, StatusCode::OK);
        let latest = now_ms();
        let deadline = Instant::now() + Duration::from_secs(5);
        let used = loop {
            let used = key_json(&c, &owner_refresh, &key_id).await["lastUsedAt"]
                .as_i64()
                .unwrap_or(0);
            if used >= before {
                break used;
            }
            assert!(
                Instant::now() < deadline,
                "lastUsedAt not written within 5 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(used > previous, "moves forward: {previous} -> {used}");
        assert!(
            used <= latest,
            "never later than the latest login: {used} > {latest}"
        );
        previous = used;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_after_a_burst_of_key_logins_loses_no_session() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&[], &db.url, &[]);
    let (c, _, _, key) = user_with_key(&server).await;
    let c = Arc::new(c);
    let logins: Vec<_> = (0..100)
        .map(|_| {
            let (c, key) = (c.clone(), key.clone());
            tokio::spawn(async move { c.key_login(&key).await })
        })
        .collect();
    let mut tokens = Vec::new();
    for login in logins {
        let r = login.await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        tokens.push(Tokens::from(&r).refresh);
    }
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL, right after the last answer
    server.child.wait().unwrap();
    let again = ServerProcess::start(&[], &db.url, &[]);
    let c = Client::new(&again, "127.0.0.1");
    for token in &tokens {
        assert_eq!(
            c.refresh(token).await.status,
            StatusCode::OK,
            "a session was lost"
        );
    }
}

/// Issue 19: one login, one outcome. Keys and users deleted while key logins are in flight (so while
/// a batch that names them runs) fail only their own logins: the logins of a bystander's key in the
/// same batches all succeed, and no login gets a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_keys_and_users_during_key_logins_fails_only_their_own_logins() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&["--key-login-failures-per-ip", "0"], &db.url, &[]);
    let (c, _, _, bystander) = user_with_key(&server).await;
    let c = Arc::new(c);
    // Victims: users with keys; some keys are deleted one by one, some users with all their keys.
    let mut victims = Vec::new();
    for u in 0..12 {
        let email = format!("victim-{u}-{}@example.com", now_ms());
        assert_eq!(c.register(&email).await.status, StatusCode::CREATED);
        let tokens = Tokens::from(&c.password_login(&email, PASSWORD).await);
        let mut keys = Vec::new();
        for k in 0..4 {
            keys.push(c.create_key(&tokens.refresh, &format!("k{k}")).await);
        }
        victims.push((tokens, keys));
    }
    let secrets: Arc<Vec<String>> = Arc::new(
        victims
            .iter()
            .flat_map(|(_, keys)| keys.iter().map(|(_, secret)| secret.clone()))
            .collect(),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loops: Vec<_> = (0..24)
        .map(|i| {
            let (c, bystander, secrets, stop) =
                (c.clone(), bystander.clone(), secrets.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut n = i;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let own = n % 2 == 0;
                    let key = if own {
                        &bystander
                    } else {
                        &secrets[n % secrets.len()]
                    };
                    let r = c.key_login(key).await;
                    seen.push((own, r.status.as_u16(), r.text()));
                    n += 1;
                }
                seen
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (tokens, keys) in &victims[..6] {
        for (id, _) in keys {
            let r = c
                .http
                .try_request(
                    "DELETE",
                    &format!("{}{}", c.url, key_path(id)),
                    &[("authorization", &format!("Bearer {}", tokens.refresh))],
                    None,
                )
                .await
                .unwrap_or_else(|e| panic!("DELETE key: {e:?}\n{}", server.stderr()));
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }
    for (tokens, _) in &victims[6..] {
        let r = c
            .http
            .try_request(
                "DELETE",
                &format!("{}{P}/auth/delete", c.url),
                &[("authorization", &format!("Bearer {}", tokens.access))],
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("DELETE user: {e:?}\n{}", server.stderr()));
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut own_ok, mut refused) = (0, 0);
    for l in loops {
        for (own, status, text) in l.await.unwrap() {
            if own {
                assert_eq!(
                    status,
                    200,
                    "the bystander's key login failed: {text}\n{}",
                    server.stderr()
                );
                own_ok += 1;
            } else {
                assert!(
                    matches!(status, 200 | 401),
                    "a victim's key login: {status} {text}\n{}",
                    server.stderr()
                );
                refused += usize::from(status == 401);
            }
        }
    }
    assert!(
        own_ok > 100 && refused > 0,
        "{own_ok} bystander logins, {refused} refused"
    );
}
