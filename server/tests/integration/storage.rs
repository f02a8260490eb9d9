//! Persistence across restarts, the signing secret, and no secrets at rest.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn restart_keeps_users_keys_and_sessions() {
    let t = TestApp::new().await;
    let u = t.user("keep@example.com").await;
    let (id, key) = t.new_key(&u.refresh, "kept").await;
    let (id2, _) = t.new_key(&u.refresh, "kept-disabled").await;
    t.call(
        "PUT",
        &format!("{P}/auth/api_keys/{id2}/disable"),
        Some(&u.refresh),
        None,
    )
    .await
    .assert_no_content();
    let ks = Tokens::from(&t.key_login(&key).await);
    let anon = t.anon().await;
    let before = t
        .call("GET", &keys_path(), Some(&u.refresh), None)
        .await
        .json();

    let t = t.restart().await;

    // Sessions and tokens survive (same signing secret, same session rows).
    assert_eq!(t.profile(&u.access).await.status, StatusCode::OK);
    assert_eq!(t.refresh(&u.refresh).await.status, StatusCode::OK);
    assert_eq!(t.profile(&ks.access).await.status, StatusCode::OK);
    assert_eq!(t.refresh(&anon.refresh).await.status, StatusCode::OK);
    // Keys and their state survive.
    let after = t
        .call("GET", &keys_path(), Some(&u.refresh), None)
        .await
        .json();
    assert_eq!(before, after);
    let r = t.key_login(&key).await;
    assert_eq!(Tokens::from(&r).user_id, u.user_id);
    assert_eq!(
        t.call(
            "GET",
            &format!("{P}/auth/api_keys/{id}"),
            Some(&u.refresh),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    // Users survive: password login and duplicate checks still work.
    let r = t
        .login(
            "local-userpass",
            json!({ "username": "keep@example.com", "password": "pass-phrase-1" }),
        )
        .await;
    assert_eq!(Tokens::from(&r).user_id, u.user_id);
    t.register("keep@example.com", "pass-phrase-1")
        .await
        .assert_error(409, "AccountNameInUse");
    t.create_key(&u.refresh, "kept")
        .await
        .assert_error(409, "APIKeyAlreadyExists");
}

#[tokio::test]
async fn instances_sharing_a_database_share_the_secret() {
    let a = TestApp::new().await;
    let url = a.db.url.clone();
    let b = TestApp::on(TestDb { url, dir: None }, config()).await;
    let u = a.user("share@example.com").await;
    assert_eq!(b.profile(&u.access).await.status, StatusCode::OK);
    let (id, key) = b.new_key(&u.refresh, "k").await;
    let ks = Tokens::from(&a.key_login(&key).await);
    b.call(
        "PUT",
        &format!("{P}/auth/api_keys/{id}/disable"),
        Some(&u.refresh),
        None,
    )
    .await
    .assert_no_content();
    a.key_login(&key).await.assert_error(401, "AuthError");
    a.profile(&ks.access)
        .await
        .assert_error(401, "InvalidSession");
    drop(a);
}

#[tokio::test]
async fn a_configured_secret_is_used() {
    // Issue 20: the secrets sign refresh tokens (access tokens are ES256 with the signing key).
    let mut c = config();
    c.jwt_secrets = vec!["configured-secret-configured-secret".into()];
    let a = TestApp::with_config(c.clone()).await;
    let u = a.user("cfg@example.com").await;
    let same = TestApp::on(
        TestDb {
            url: a.db.url.clone(),
            dir: None,
        },
        c,
    )
    .await;
    assert_eq!(same.refresh(&u.refresh).await.status, StatusCode::OK);
    let mut other = config();
    other.jwt_secrets = vec!["another-secret-another-secret-xx".into()];
    let different = TestApp::on(
        TestDb {
            url: a.db.url.clone(),
            dir: None,
        },
        other,
    )
    .await;
    different
        .refresh(&u.refresh)
        .await
        .assert_error(401, "InvalidSession");
    // Without configuration, the generated secret differs from the configured one.
    let generated = TestApp::on(
        TestDb {
            url: a.db.url.clone(),
            dir: None,
        },
        config(),
    )
    .await;
    generated
        .refresh(&u.refresh)
        .await
        .assert_error(401, "InvalidSession");
}

#[cfg(unix)]
#[tokio::test]
async fn sqlite_secret_file_is_private_and_reused() {
    use std::os::unix::fs::PermissionsExt;
    let db = fresh_sqlite();
    let path = db.sqlite_path().unwrap();
    assert!(
        !path.parent().unwrap().exists(),
        "directory is created on start"
    );
    // No configured secret (the PostgreSQL test runs configure one): SQLite generates its file.
    let mut c = config();
    c.jwt_secrets.clear();
    let t = TestApp::on(db, c).await;
    let secret_path = path.parent().unwrap().join("jwt-secret");
    let meta = std::fs::metadata(&secret_path).expect("jwt-secret created");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let secret = std::fs::read_to_string(&secret_path).unwrap();
    assert!(secret.len() >= 32);
    let u = t.user("file@example.com").await;
    let t = t.restart().await;
    assert_eq!(std::fs::read_to_string(&secret_path).unwrap(), secret);
    assert_eq!(t.profile(&u.access).await.status, StatusCode::OK);
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".jwt-secret"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_share_one_secret() {
    let db = fresh_db().await;
    let url = db.url.clone();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            TestApp::on(TestDb { url, dir: None }, config()).await
        }));
    }
    let mut apps = Vec::new();
    for task in tasks {
        apps.push(task.await.unwrap());
    }
    let u = apps[0].user("together@example.com").await;
    for a in &apps {
        assert_eq!(a.profile(&u.access).await.status, StatusCode::OK);
    }
    drop(db);
}

/// Creates users, keys and sessions on a SQLite database, then searches the database files (main,
/// -wal, -shm) for every issued secret.
#[tokio::test]
async fn no_secrets_are_stored_in_the_database_file() {
    let db = fresh_sqlite();
    let path = db.sqlite_path().unwrap();
    let t = TestApp::on(db, config()).await;
    let mut secrets: Vec<String> = Vec::new();
    let passwords = ["first-Secret-Pass-1", "second-Secret-Pass-2"];
    for (i, pw) in passwords.iter().enumerate() {
        let email = format!("secret{i}@example.com");
        assert_eq!(t.register(&email, pw).await.status, StatusCode::CREATED);
        let r = t
            .login(
                "local-userpass",
                json!({ "username": email, "password": pw }),
            )
            .await;
        let u = Tokens::from(&r);
        secrets.push(pw.to_string());
        secrets.push(u.access.clone());
        secrets.push(u.refresh.clone());
        for n in 0..3 {
            let (_, key) = t.new_key(&u.refresh, &format!("k{n}")).await;
            let ks = Tokens::from(&t.key_login(&key).await);
            let refreshed = t.refresh(&ks.refresh).await.json();
            secrets.push(refreshed["access_token"].as_str().unwrap().to_owned());
            secrets.push(ks.access);
            secrets.push(ks.refresh);
            secrets.push(key);
        }
    }
    let anon = t.anon().await;
    secrets.push(anon.access);
    secrets.push(anon.refresh);

    let mut files = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        if let Ok(bytes) = std::fs::read(&p) {
            files.push((p, bytes));
        }
    }
    assert!(!files.is_empty());
    let all: Vec<u8> = files.iter().flat_map(|(_, b)| b.iter().copied()).collect();
    // Sanity: the search does find things that are stored (the emails).
    assert!(
        contains(&all, b"secret0@example.com"),
        "emails should be stored in clear"
    );
    for s in &secrets {
        for (p, bytes) in &files {
            assert!(
                !contains(bytes, s.as_bytes()),
                "secret found in {}",
                p.display()
            );
            // Also the JWT signatures and the random part of keys on their own.
            if let Some(sig) = s.rsplit('.').next().filter(|_| s.matches('.').count() == 2) {
                assert!(
                    !contains(bytes, sig.as_bytes()),
                    "token signature found in {}",
                    p.display()
                );
            }
            if let Some(random) = s.strip_prefix("appk_") {
                assert!(
                    !contains(bytes, random.as_bytes()),
                    "key body found in {}",
                    p.display()
                );
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
