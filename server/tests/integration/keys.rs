//! User API keys: create, fetch, list, enable, disable, delete, key login, and every rule.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn create_fetch_list_and_key_login() {
    let t = TestApp::new().await;
    let u = t.user("kate@example.com").await;
    let r = t.create_key(&u.refresh, "apiKeyName").await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.content_type(), Some("application/json"));
    let created = r.json();
    let id = created["_id"].as_str().unwrap().to_owned();
    let key = created["key"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 24);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(created["name"], "apiKeyName");
    assert_eq!(created["disabled"], false);
    assert!(created["createdAt"].is_i64());
    assert_eq!(created["lastUsedAt"], Value::Null);
    // Key format: appk_ + 43 + 6 base62, start = appk_ + 4.
    assert_eq!(key.len(), 54);
    assert!(key.starts_with("appk_"));
    assert!(key[5..].bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(created["start"], &key[..9]);

    // Fetch: same fields, never the secret.
    let r = t.call("GET", &key_path(&id), Some(&u.refresh), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let fetched = r.json();
    assert!(fetched.get("key").is_none());
    assert_eq!(fetched["_id"], id.as_str());
    assert_eq!(fetched["name"], "apiKeyName");
    assert_eq!(fetched["disabled"], false);
    assert_eq!(fetched["start"], created["start"]);
    assert_eq!(fetched["createdAt"], created["createdAt"]);
    // Upper-case ids are the same id.
    let r = t
        .call("GET", &key_path(&id.to_uppercase()), Some(&u.refresh), None)
        .await;
    assert_eq!(r.json()["_id"], id.as_str());

    // List.
    let r = t.call("GET", &keys_path(), Some(&u.refresh), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    // The list has every field of a fetch but `usage` (issue 32: a fetch also shows the key's use).
    let mut without_usage = fetched.clone();
    without_usage.as_object_mut().unwrap().remove("usage");
    assert_eq!(list[0], without_usage);

    // Log in with the key: same user, new session, lastUsedAt set.
    let r = t.key_login(&key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let ks = Tokens::from(&r);
    assert_eq!(ks.user_id, u.user_id);
    assert_ne!(ks.refresh, u.refresh);
    let p = t.profile(&ks.access).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(p.json()["user_id"], u.user_id.as_str());
    // lastUsedAt is written off the login path, by the periodic flush (issue 11): run it now.
    assert_eq!(t.state.flush_key_uses().await.unwrap(), 1);
    let fetched = t
        .call("GET", &key_path(&id), Some(&u.refresh), None)
        .await
        .json();
    assert!(fetched["lastUsedAt"].as_i64().unwrap() >= created["createdAt"].as_i64().unwrap());
}

#[tokio::test]
async fn empty_list_is_an_empty_array() {
    let t = TestApp::new().await;
    let u = t.user("empty@example.com").await;
    let r = t.call("GET", &keys_path(), Some(&u.refresh), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!([]));
}

#[tokio::test]
async fn list_is_in_creation_order() {
    let t = TestApp::new().await;
    let u = t.user("order@example.com").await;
    // Names deliberately not in alphabetical order; created back to back (same millisecond likely).
    let names = ["zeta", "alpha", "Mid", "beta-2", "b_1", "9", "aa", "z"];
    let mut ids = Vec::new();
    for n in names {
        ids.push(t.new_key(&u.refresh, n).await.0);
    }
    let list = t
        .call("GET", &keys_path(), Some(&u.refresh), None)
        .await
        .json();
    let got = str_fields(&list, "name");
    assert_eq!(got, names);
    let got_ids = str_fields(&list, "_id");
    assert_eq!(got_ids, ids);
    // Deleting one keeps the others' order; a new key goes last.
    t.call("DELETE", &key_path(&ids[1]), Some(&u.refresh), None)
        .await
        .assert_no_content();
    t.new_key(&u.refresh, "alpha").await;
    let list = t
        .call("GET", &keys_path(), Some(&u.refresh), None)
        .await
        .json();
    let got = str_fields(&list, "name");
    assert_eq!(
        got,
        ["zeta", "Mid", "beta-2", "b_1", "9", "aa", "z", "alpha"]
    );
}

#[tokio::test]
async fn enable_and_disable_are_idempotent_and_gate_key_login() {
    let t = TestApp::new().await;
    let u = t.user("leo@example.com").await;
    let (id, key) = t.new_key(&u.refresh, "k").await;
    let disable = format!("{}/disable", key_path(&id));
    let enable = format!("{}/enable", key_path(&id));
    // Enabling an enabled key is a no-op.
    t.call("PUT", &enable, Some(&u.refresh), None)
        .await
        .assert_no_content();
    assert_eq!(disabled_flag(&t, &u.refresh, &id).await, false);
    for _ in 0..2 {
        t.call("PUT", &disable, Some(&u.refresh), None)
            .await
            .assert_no_content();
        assert_eq!(disabled_flag(&t, &u.refresh, &id).await, true);
    }
    let msg = t.key_login(&key).await.assert_error(401, "AuthError");
    assert_eq!(msg, "invalid API key");
    for _ in 0..2 {
        t.call("PUT", &enable, Some(&u.refresh), None)
            .await
            .assert_no_content();
        assert_eq!(disabled_flag(&t, &u.refresh, &id).await, false);
    }
    let r = t.key_login(&key).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(Tokens::from(&r).user_id, u.user_id);
    // A body on PUT (realm-core sends JSON headers everywhere) is ignored.
    let r = t.call("PUT", &disable, Some(&u.refresh), Some("{}")).await;
    r.assert_no_content();
}

async fn disabled_flag(t: &TestApp, refresh: &str, id: &str) -> Value {
    t.call("GET", &key_path(id), Some(refresh), None)
        .await
        .json()["disabled"]
        .clone()
}

#[tokio::test]
async fn deleted_keys_are_gone() {
    let t = TestApp::new().await;
    let u = t.user("mia@example.com").await;
    let (id, key) = t.new_key(&u.refresh, "k").await;
    t.call("DELETE", &key_path(&id), Some(&u.refresh), None)
        .await
        .assert_no_content();
    t.key_login(&key).await.assert_error(401, "AuthError");
    t.call("GET", &key_path(&id), Some(&u.refresh), None)
        .await
        .assert_error(404, "APIKeyNotFound");
    t.call("DELETE", &key_path(&id), Some(&u.refresh), None)
        .await
        .assert_error(404, "APIKeyNotFound");
    t.call(
        "PUT",
        &format!("{}/enable", key_path(&id)),
        Some(&u.refresh),
        None,
    )
    .await
    .assert_error(404, "APIKeyNotFound");
    assert_eq!(
        t.call("GET", &keys_path(), Some(&u.refresh), None)
            .await
            .json(),
        json!([])
    );
    // The name is free again.
    t.new_key(&u.refresh, "k").await;
}

#[tokio::test]
async fn names_are_validated() {
    let t = TestApp::new().await;
    let u = t.user("ned@example.com").await;
    let post = |body: &str| {
        let r = u.refresh.clone();
        let b = body.to_owned();
        let t = &t;
        async move { t.call("POST", &keys_path(), Some(&r), Some(&b)).await }
    };
    let msg = post(r#"{"name":""}"#)
        .await
        .assert_error(400, "MissingParameter");
    assert_eq!(msg, "'name' is a required string.");
    post("{}").await.assert_error(400, "MissingParameter");
    post(r#"{"name":null}"#)
        .await
        .assert_error(400, "MissingParameter");
    post("").await.assert_error(400, "MissingParameter");
    let msg = post(r#"{"name":"has space"}"#)
        .await
        .assert_error(400, "InvalidParameter");
    assert!(msg.contains("ASCII letters"), "{msg}");
    for bad in ["a%b", "é", "a/b", "a.b", "tab\t"] {
        post(&json!({ "name": bad }).to_string())
            .await
            .assert_error(400, "InvalidParameter");
    }
    post(&json!({ "name": "a".repeat(65) }).to_string())
        .await
        .assert_error(400, "InvalidParameter");
    post(r#"{"name":5}"#)
        .await
        .assert_error(400, "InvalidParameter");
    post(r#"{"name":["x"]}"#)
        .await
        .assert_error(400, "InvalidParameter");
    post("[").await.assert_error(400, "BadRequest");
    // Longest and odd-but-valid names are fine; unknown fields ignored.
    let r = post(&json!({ "name": "a".repeat(64), "extra": true }).to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = post(r#"{"name":"-_-"}"#).await;
    assert_eq!(r.status, StatusCode::CREATED);
    // Nothing was stored for the refused ones.
    let list = t
        .call("GET", &keys_path(), Some(&u.refresh), None)
        .await
        .json();
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn duplicate_names_conflict_per_user_only() {
    let t = TestApp::new().await;
    let a = t.user("olga@example.com").await;
    let b = t.user("pete@example.com").await;
    t.new_key(&a.refresh, "shared").await;
    let msg = t
        .create_key(&a.refresh, "shared")
        .await
        .assert_error(409, "APIKeyAlreadyExists");
    assert_eq!(msg, "API key with name already exists");
    // Names are case-sensitive; another user may use the same name.
    t.new_key(&a.refresh, "Shared").await;
    t.new_key(&b.refresh, "shared").await;
}

#[tokio::test]
async fn at_most_twenty_keys_per_user() {
    let t = TestApp::new().await;
    let u = t.user("quinn@example.com").await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(t.new_key(&u.refresh, &format!("key{i}")).await.0);
    }
    let msg = t
        .create_key(&u.refresh, "key20")
        .await
        .assert_error(403, "APIKeyLimitReached");
    assert!(msg.contains("20"), "{msg}");
    // Disabled keys still count.
    t.call(
        "PUT",
        &format!("{}/disable", key_path(&ids[0])),
        Some(&u.refresh),
        None,
    )
    .await
    .assert_no_content();
    t.create_key(&u.refresh, "key20")
        .await
        .assert_error(403, "APIKeyLimitReached");
    // Deleting one frees a slot.
    t.call("DELETE", &key_path(&ids[3]), Some(&u.refresh), None)
        .await
        .assert_no_content();
    t.new_key(&u.refresh, "key20").await;
    t.create_key(&u.refresh, "key21")
        .await
        .assert_error(403, "APIKeyLimitReached");
    assert_eq!(
        t.call("GET", &keys_path(), Some(&u.refresh), None)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        20
    );
    // Another user is unaffected.
    let v = t.user("rae@example.com").await;
    t.new_key(&v.refresh, "key0").await;
}

#[tokio::test]
async fn another_users_key_is_not_found() {
    let t = TestApp::new().await;
    let owner = t.user("sam@example.com").await;
    let other = t.user("tess@example.com").await;
    let (id, key) = t.new_key(&owner.refresh, "mine").await;
    for (method, path) in [
        ("GET", key_path(&id)),
        ("DELETE", key_path(&id)),
        ("PUT", format!("{}/enable", key_path(&id))),
        ("PUT", format!("{}/disable", key_path(&id))),
    ] {
        let r = t.call(method, &path, Some(&other.refresh), None).await;
        assert_eq!(r.assert_error(404, "APIKeyNotFound"), "API key not found");
    }
    assert_eq!(
        t.call("GET", &keys_path(), Some(&other.refresh), None)
            .await
            .json(),
        json!([])
    );
    // Untouched for the owner.
    let k = t
        .call("GET", &key_path(&id), Some(&owner.refresh), None)
        .await
        .json();
    assert_eq!(k["disabled"], false);
    assert_eq!(t.key_login(&key).await.status, StatusCode::OK);
}

#[tokio::test]
async fn missing_or_malformed_ids_are_not_found() {
    let t = TestApp::new().await;
    let u = t.user("uma@example.com").await;
    for id in [
        "000000000000000000000000",
        "5eb5931548d79bc784adf46e",
        "nope",
        "5eb5931548d79bc784adf46",
        "zzzzzzzzzzzzzzzzzzzzzzzz",
        "%2e%2e",
    ] {
        for (method, path) in [
            ("GET", key_path(id)),
            ("DELETE", key_path(id)),
            ("PUT", format!("{}/enable", key_path(id))),
            ("PUT", format!("{}/disable", key_path(id))),
        ] {
            let r = t.call(method, &path, Some(&u.refresh), None).await;
            r.assert_error(404, "APIKeyNotFound");
        }
    }
}

async fn all_six(t: &TestApp, refresh: &str, id: &str) -> Vec<Resp> {
    vec![
        t.create_key(refresh, "x").await,
        t.call("GET", &keys_path(), Some(refresh), None).await,
        t.call("GET", &key_path(id), Some(refresh), None).await,
        t.call("DELETE", &key_path(id), Some(refresh), None).await,
        t.call(
            "PUT",
            &format!("{}/enable", key_path(id)),
            Some(refresh),
            None,
        )
        .await,
        t.call(
            "PUT",
            &format!("{}/disable", key_path(id)),
            Some(refresh),
            None,
        )
        .await,
    ]
}

#[tokio::test]
async fn anonymous_users_cannot_manage_keys() {
    let t = TestApp::new().await;
    let a = t.anon().await;
    let owner = t.user("vic@example.com").await;
    let (id, _) = t.new_key(&owner.refresh, "k").await;
    for r in all_six(&t, &a.refresh, &id).await {
        r.assert_error(403, "APIKeyManagementForbidden");
    }
    // Even with a malformed id: the 403 comes first.
    let r = t
        .call("GET", &key_path("bad"), Some(&a.refresh), None)
        .await;
    r.assert_error(403, "APIKeyManagementForbidden");
}

#[tokio::test]
async fn api_key_sessions_cannot_manage_keys() {
    let t = TestApp::new().await;
    let u = t.user("wes@example.com").await;
    let (id, key) = t.new_key(&u.refresh, "k").await;
    let ks = Tokens::from(&t.key_login(&key).await);
    for r in all_six(&t, &ks.refresh, &id).await {
        r.assert_error(403, "APIKeyManagementForbidden");
    }
    // Nothing changed, and the key session itself is still fine (403 does not end it).
    let k = t
        .call("GET", &key_path(&id), Some(&u.refresh), None)
        .await
        .json();
    assert_eq!(k["disabled"], false);
    assert_eq!(t.profile(&ks.access).await.status, StatusCode::OK);
    assert_eq!(t.refresh(&ks.refresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_and_unknown_keys_are_auth_errors() {
    let t = TestApp::new().await;
    let u = t.user("xena@example.com").await;
    let (_, key) = t.new_key(&u.refresh, "k").await;
    // Flip a character in the random part: the checksum no longer matches.
    let mut bad = key.clone().into_bytes();
    bad[10] = if bad[10] == b'a' { b'b' } else { b'a' };
    let bad = String::from_utf8(bad).unwrap();
    let long = format!("{key}x");
    let foreign_format =
        "hScMWZyOKnjQMbfDPMJ1qHgtdGT2raQXdVDDvlC3SFKA5W8NrnMBi7ltPbC4ODPg".to_owned();
    for k in [
        bad.as_str(),
        &key[..53],
        long.as_str(),
        "appk_",
        "x",
        foreign_format.as_str(),
    ] {
        let msg = t.key_login(k).await.assert_error(401, "AuthError");
        assert_eq!(msg, "invalid API key");
    }
    // A well-formed key that was never issued.
    let fresh = {
        // Build a valid-format key by asking another server for one.
        let other = TestApp::new().await;
        let o = other.user("y@example.com").await;
        other.new_key(&o.refresh, "k").await.1
    };
    t.key_login(&fresh).await.assert_error(401, "AuthError");
    // Missing or non-string key: 400.
    t.login("api-key", json!({}))
        .await
        .assert_error(400, "MissingParameter");
    t.login("api-key", json!({ "key": 42 }))
        .await
        .assert_error(400, "InvalidParameter");
    // The real key works, but not in another app.
    assert_eq!(t.key_login(&key).await.status, StatusCode::OK);
    let r = t
        .call(
            "POST",
            &format!("{P}/app/second-app/auth/providers/api-key/login"),
            None,
            Some(&json!({ "key": key }).to_string()),
        )
        .await;
    r.assert_error(401, "AuthError");
}

#[tokio::test]
async fn key_routes_need_a_token() {
    let t = TestApp::new().await;
    let id = "5eb5931548d79bc784adf46e";
    for (method, path) in [
        ("POST", keys_path()),
        ("GET", keys_path()),
        ("GET", key_path(id)),
        ("DELETE", key_path(id)),
        ("PUT", format!("{}/enable", key_path(id))),
        ("PUT", format!("{}/disable", key_path(id))),
    ] {
        let r = t.call(method, &path, None, Some(r#"{"name":"x"}"#)).await;
        r.assert_error(401, "InvalidSession");
    }
}
