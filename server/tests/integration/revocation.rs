//! Revocation of key sessions and atomicity under concurrency.

use std::sync::Arc;

use axum::http::StatusCode;

use crate::support::*;

#[tokio::test]
async fn disabling_a_key_ends_its_sessions() {
    let t = TestApp::new().await;
    let u = t.user("rev1@example.com").await;
    let (id, key) = t.new_key(&u.refresh, "k").await;
    let (_, other_key) = t.new_key(&u.refresh, "other").await;
    let s1 = Tokens::from(&t.key_login(&key).await);
    let s2 = Tokens::from(&t.key_login(&key).await);
    let s3 = Tokens::from(&t.key_login(&other_key).await);
    assert_eq!(t.profile(&s1.access).await.status, StatusCode::OK);
    t.call(
        "PUT",
        &format!("{}/disable", key_path(&id)),
        Some(&u.refresh),
        None,
    )
    .await
    .assert_no_content();
    for s in [&s1, &s2] {
        // The still-unexpired access token is refused at once, and refresh fails.
        t.profile(&s.access)
            .await
            .assert_error(401, "InvalidSession");
        t.refresh(&s.refresh)
            .await
            .assert_error(401, "InvalidSession");
    }
    // Re-enabling does not bring old sessions back.
    t.call(
        "PUT",
        &format!("{}/enable", key_path(&id)),
        Some(&u.refresh),
        None,
    )
    .await
    .assert_no_content();
    t.refresh(&s1.refresh)
        .await
        .assert_error(401, "InvalidSession");
    // Other sessions live on: the password session and the other key's session.
    assert_eq!(t.profile(&u.access).await.status, StatusCode::OK);
    assert_eq!(t.refresh(&u.refresh).await.status, StatusCode::OK);
    assert_eq!(t.profile(&s3.access).await.status, StatusCode::OK);
    // New logins with the re-enabled key work.
    let s4 = Tokens::from(&t.key_login(&key).await);
    assert_eq!(t.profile(&s4.access).await.status, StatusCode::OK);
}

#[tokio::test]
async fn deleting_a_key_ends_its_sessions() {
    let t = TestApp::new().await;
    let u = t.user("rev2@example.com").await;
    let (id, key) = t.new_key(&u.refresh, "k").await;
    let s = Tokens::from(&t.key_login(&key).await);
    t.call("DELETE", &key_path(&id), Some(&u.refresh), None)
        .await
        .assert_no_content();
    t.profile(&s.access)
        .await
        .assert_error(401, "InvalidSession");
    t.refresh(&s.refresh)
        .await
        .assert_error(401, "InvalidSession");
    // Log-out of the dead session is still a quiet 204.
    t.call(
        "DELETE",
        &format!("{P}/auth/session"),
        Some(&s.refresh),
        None,
    )
    .await
    .assert_no_content();
    assert_eq!(t.profile(&u.access).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_name_yield_exactly_one_key() {
    let t = Arc::new(TestApp::new().await);
    let u = t.user("race1@example.com").await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let t = t.clone();
        let r = u.refresh.clone();
        tasks.push(tokio::spawn(async move { t.create_key(&r, "same").await }));
    }
    assert_eq!(
        tally_creates(tasks, 409, "APIKeyAlreadyExists").await,
        (1, 19)
    );
    let list = t
        .call("GET", &keys_path(), Some(&u.refresh), None)
        .await
        .json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    // The failed attempts did not use up slots.
    for i in 0..19 {
        t.new_key(&u.refresh, &format!("n{i}")).await;
    }
    t.create_key(&u.refresh, "n19")
        .await
        .assert_error(403, "APIKeyLimitReached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_respect_the_limit() {
    let t = Arc::new(TestApp::new().await);
    let u = t.user("race2@example.com").await;
    for i in 0..15 {
        t.new_key(&u.refresh, &format!("pre{i}")).await;
    }
    let mut tasks = Vec::new();
    for i in 0..12 {
        let t = t.clone();
        let r = u.refresh.clone();
        tasks.push(tokio::spawn(async move {
            t.create_key(&r, &format!("c{i}")).await
        }));
    }
    assert_eq!(
        tally_creates(tasks, 403, "APIKeyLimitReached").await,
        (5, 7)
    );
    let list = t
        .call("GET", &keys_path(), Some(&u.refresh), None)
        .await
        .json();
    assert_eq!(list.as_array().unwrap().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deletes_free_exactly_one_slot() {
    let t = Arc::new(TestApp::new().await);
    let u = t.user("race3@example.com").await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(t.new_key(&u.refresh, &format!("k{i}")).await.0);
    }
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let t = t.clone();
        let r = u.refresh.clone();
        let id = ids[7].clone();
        tasks.push(tokio::spawn(async move {
            t.call("DELETE", &key_path(&id), Some(&r), None)
                .await
                .status
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [204, 404, 404, 404, 404, 404, 404, 404]);
    t.new_key(&u.refresh, "again").await;
    t.create_key(&u.refresh, "too-many")
        .await
        .assert_error(403, "APIKeyLimitReached");
}

/// Awaits concurrent key creates and counts (201s, refusals); every refusal must be `status` with
/// `code`, and nothing else may come back.
async fn tally_creates(
    tasks: Vec<tokio::task::JoinHandle<Resp>>,
    status: u16,
    code: &str,
) -> (usize, usize) {
    let (mut created, mut refused) = (0, 0);
    for task in tasks {
        let r = task.await.unwrap();
        match r.status.as_u16() {
            201 => created += 1,
            s if s == status => {
                r.assert_error(status, code);
                refused += 1
            }
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    (created, refused)
}
