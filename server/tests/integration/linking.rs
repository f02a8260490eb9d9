//! Issue 24: account linking (`login?link=true` with the user's access token), as App Services did it:
//! anonymous → email/password (the realm flow `registerUser` + `linkCredentials`), anonymous or
//! email/password → custom-token; the user keeps its id, data and keys; the refusals.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::customjwt::{hs256, hs256_provider, now, SECRET_A};
use crate::email::MailApp;
use crate::support::*;

/// A server with the HS256 custom JWT provider whose emails (confirmation links: the proof of an
/// address that linking an email/password account needs) go to a directory.
async fn app() -> MailApp {
    let base = appkeys_server::Config {
        custom_jwt: Some(hs256_provider(&["name=name"])),
        ..config()
    };
    MailApp::with(base, false, std::time::Duration::from_secs(1800)).await
}

fn jwt(sub: &str) -> String {
    hs256(
        SECRET_A,
        &json!({"sub": sub, "aud": APP, "exp": now() + 600, "name": format!("{sub} name")}),
    )
}

fn userpass(email: &str) -> (&'static str, Value) {
    (
        "local-userpass",
        json!({"username": email, "password": "pass-phrase-1"}),
    )
}

fn custom(sub: &str) -> (&'static str, Value) {
    ("custom-token", json!({ "token": jwt(sub) }))
}

async fn link(t: &TestApp, access: &str, (provider, body): (&str, Value)) -> Resp {
    t.call(
        "POST",
        &format!("{P}/app/{APP}/auth/providers/{provider}/login?link=true"),
        Some(access),
        Some(&body.to_string()),
    )
    .await
}

/// `(provider_type, id)` of the profile's identities.
fn identities(profile: &Value) -> Vec<(String, String)> {
    profile["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["provider_type"].as_str().unwrap().to_owned(),
                i["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn sessions(t: &TestApp) -> i64 {
    t.state
        .store()
        .count("SELECT COUNT(*) FROM sessions")
        .await
        .unwrap()
}

#[tokio::test]
async fn anonymous_registers_and_links_keeping_its_id() {
    let t = app().await;
    let anon = t.anon().await;
    // Anonymous users may not own keys.
    t.create_key(&anon.refresh, "k")
        .await
        .assert_error(403, "APIKeyManagementForbidden");
    assert_eq!(
        t.register("late@example.com", "pass-phrase-1").await.status,
        StatusCode::CREATED
    );
    let before = sessions(&t).await;
    // Issue 29: registered with confirmation off, the address is not proven: it joins nobody yet.
    link(&t, &anon.access, userpass("late@example.com"))
        .await
        .assert_error(401, "UserNotConfirmed");
    t.prove("late@example.com").await;
    let r = link(&t, &anon.access, userpass("late@example.com")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let linked = r.json();
    assert_eq!(linked["user_id"], anon.user_id);
    assert_eq!(
        jwt_claims(linked["access_token"].as_str().unwrap())["sub"],
        anon.user_id
    );
    assert!(linked["device_id"].is_string() && linked["refresh_token"].is_string());
    assert_eq!(sessions(&t).await, before, "linking opens no session");
    let profile = t.profile(&anon.access).await.json();
    let kinds: Vec<String> = identities(&profile).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["anon-user", "local-userpass"]);
    assert_eq!(profile["data"]["email"], "late@example.com");
    // The password now opens the same user; the anonymous session goes on, and may now manage keys.
    let login = t
        .login("local-userpass", userpass("late@example.com").1)
        .await;
    assert_eq!(Tokens::from(&login).user_id, anon.user_id);
    let (_, key) = t.new_key(&anon.refresh, "after-linking").await;
    assert_eq!(Tokens::from(&t.key_login(&key).await).user_id, anon.user_id);
    // Linking again is idempotent.
    assert_eq!(
        link(&t, &anon.access, userpass("late@example.com"))
            .await
            .status,
        StatusCode::OK
    );
    // A linked user is not swept as anonymous once its sessions are gone.
    let store = t.state.store();
    let revoked = appkeys_server::model::Event::new("session.revoked", "success");
    store
        .delete_user_sessions(&anon.user_id, &revoked)
        .await
        .unwrap();
    store
        .sweep_anonymous_users(i64::MAX / 4, 100)
        .await
        .unwrap();
    assert!(store.user(&anon.user_id).await.unwrap().is_some());
}

#[tokio::test]
async fn anonymous_and_email_users_link_a_custom_jwt() {
    let t = app().await;
    let anon = t.anon().await;
    let r = link(&t, &anon.access, custom("idp|anon")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let by_jwt = t.login("custom-token", custom("idp|anon").1).await;
    assert_eq!(Tokens::from(&by_jwt).user_id, anon.user_id);
    let profile = t.profile(&anon.access).await.json();
    assert_eq!(
        identities(&profile)[1],
        ("custom-token".to_owned(), "idp|anon".to_owned())
    );
    assert_eq!(profile["data"]["name"], "idp|anon name");
    // An email/password user with a key links a JWT: same id, the key still works and is theirs.
    let user = t.user("keys@example.com").await;
    let (key_id, key) = t.new_key(&user.refresh, "kept").await;
    assert_eq!(
        link(&t, &user.access, custom("idp|keys")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        Tokens::from(&t.login("custom-token", custom("idp|keys").1).await).user_id,
        user.user_id
    );
    assert_eq!(Tokens::from(&t.key_login(&key).await).user_id, user.user_id);
    let r = t
        .call("GET", &key_path(&key_id), Some(&user.refresh), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let profile = t.profile(&user.access).await.json();
    let kinds: Vec<String> = identities(&profile).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["local-userpass", "custom-token"]);
    assert_eq!(profile["data"]["email"], "keys@example.com");
}

#[tokio::test]
async fn what_cannot_be_linked_is_refused_and_changes_nothing() {
    let t = app().await;
    let user = t.user("owner@example.com").await;
    let used = t.user("used@example.com").await;
    assert_eq!(
        t.register("fresh@example.com", "pass-phrase-1")
            .await
            .status,
        StatusCode::CREATED
    );
    let jwt_user = Tokens::from(&t.login("custom-token", custom("idp|taken").1).await);
    let anon = t.anon().await;
    let before = sessions(&t).await;
    // An email/password account that has logged in is a user of its own.
    link(&t, &anon.access, userpass("used@example.com"))
        .await
        .assert_error(409, "IdentityAlreadyLinked");
    // A JWT subject that is another user's.
    link(&t, &anon.access, custom("idp|taken"))
        .await
        .assert_error(409, "IdentityAlreadyLinked");
    // A second email/password identity.
    link(&t, &user.access, userpass("fresh@example.com"))
        .await
        .assert_error(409, "IdentityAlreadyLinked");
    // Wrong password: as a login.
    let wrong = (
        "local-userpass",
        json!({"username": "fresh@example.com", "password": "nope-nope-1"}),
    );
    link(&t, &anon.access, wrong)
        .await
        .assert_error(401, "InvalidPassword");
    // Anonymous and key credentials cannot be linked.
    link(&t, &user.access, ("anon-user", json!({})))
        .await
        .assert_error(400, "BadRequest");
    let (_, key) = t.new_key(&user.refresh, "k").await;
    link(&t, &anon.access, ("api-key", json!({ "key": key })))
        .await
        .assert_error(400, "BadRequest");
    // A key session cannot link; nor can a refresh token, or no token at all.
    let key_session = Tokens::from(&t.key_login(&key).await);
    link(&t, &key_session.access, custom("idp|new"))
        .await
        .assert_error(403, "LinkForbidden");
    link(&t, &user.refresh, custom("idp|new"))
        .await
        .assert_error(401, "InvalidSession");
    link(&t, "", custom("idp|new"))
        .await
        .assert_error(401, "InvalidSession");
    // A bad JWT: as a login.
    let forged = (
        "custom-token",
        json!({"token": hs256("another secret of thirty-two characters", &json!({"sub": "x", "aud": APP, "exp": now() + 60}))}),
    );
    link(&t, &anon.access, forged)
        .await
        .assert_error(401, "AuthError");
    assert_eq!(
        sessions(&t).await,
        before + 1,
        "only the key login opened a session"
    );
    // Nothing moved: each identity still logs in as its own user; the fresh account is still free.
    assert_eq!(
        Tokens::from(
            &t.login("local-userpass", userpass("used@example.com").1)
                .await
        )
        .user_id,
        used.user_id
    );
    assert_eq!(
        Tokens::from(&t.login("custom-token", custom("idp|taken").1).await).user_id,
        jwt_user.user_id
    );
    let profile = t.profile(&anon.access).await.json();
    assert_eq!(identities(&profile).len(), 1);
    // Issue 29: the fresh account's address was never proven — refused, nothing moved — until a
    // confirmation link sent to it is opened.
    link(&t, &anon.access, userpass("fresh@example.com"))
        .await
        .assert_error(401, "UserNotConfirmed");
    assert_eq!(identities(&t.profile(&anon.access).await.json()).len(), 1);
    t.prove("fresh@example.com").await;
    assert_eq!(
        link(&t, &anon.access, userpass("fresh@example.com"))
            .await
            .status,
        StatusCode::OK
    );
}

/// Migration 10 on a database of the previous release: every user's identities land in `identities`
/// (an imported custom-token user's real subject, not the placeholder id it had), and only a
/// registered email/password account that never logged in stays linkable.
#[tokio::test]
async fn migration_10_brings_the_identities_of_existing_users() {
    let db = fresh_db().await;
    sqlx::any::install_default_drivers();
    if let Some(path) = db.sqlite_path() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    }
    let url = match db.sqlite_path() {
        Some(_) => format!("{}?mode=rwc", db.url),
        None => db.url.clone(),
    };
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let mut previous = sqlx::migrate!("./migrations");
    previous.migrations = std::borrow::Cow::Owned(
        previous
            .migrations
            .iter()
            .filter(|m| m.version < 20261207000010)
            .cloned()
            .collect(),
    );
    previous.run(&pool).await.unwrap();
    let id = |c: char| c.to_string().repeat(24);
    let users = [
        (id('a'), "anon-user", "ia", None),
        (id('b'), "local-userpass", "ib", Some("b@example.com")),
        (id('c'), "local-userpass", "ic", Some("c@example.com")),
        (id('d'), "server", "id", None),
        (id('e'), "custom-token", "placeholder", None),
    ];
    for (user, provider, identity, email) in &users {
        sqlx::query(
            "INSERT INTO users (id, app_id, provider, identity_id, email, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 1000)",
        )
        .bind(user.as_str())
        .bind(APP)
        .bind(*provider)
        .bind(*identity)
        .bind(email.map(str::to_owned))
        .bind(email.map(|_| "$argon2id$placeholder".to_owned()))
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO audit (id, at, event, app, user_id, outcome) \
         VALUES ('f00000000000000000000001', 1, 'login.succeeded', $1, $2, 'success')",
    )
    .bind(APP)
    .bind(id('b'))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO user_identities (user_id, provider_type, identity_id) VALUES ($1, 'custom-token', 'auth0|e')",
    )
    .bind(id('e'))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let store = appkeys_server::Store::connect(&db.url).await.unwrap();
    let expected = [
        ('a', "anon-user", "ia"),
        ('b', "local-userpass", "ib"),
        ('c', "local-userpass", "ic"),
        ('d', "api-key", "id"),
        ('e', "custom-token", "auth0|e"),
    ];
    for (c, provider, identity) in expected {
        let found = store.identities(&id(c)).await.unwrap();
        assert_eq!(found.len(), 1, "{c}: {found:?}");
        assert_eq!(
            (found[0].provider_type.as_str(), found[0].id.as_str()),
            (provider, identity)
        );
    }
    let never = store
        .count("SELECT COUNT(*) FROM users WHERE first_login_at IS NULL")
        .await
        .unwrap();
    assert_eq!(
        never, 1,
        "only the registered-only account has never logged in"
    );
    let c_never = store
        .count(&format!(
            "SELECT COUNT(*) FROM users WHERE first_login_at IS NULL AND id = '{}'",
            id('c')
        ))
        .await
        .unwrap();
    assert_eq!(c_never, 1);
}

/// Issue 29, finding 6: concurrent links of one user never leave it two identities of one provider
/// (the user's row is locked on PostgreSQL; SQLite serialises write transactions).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_links_leave_one_identity_per_provider() {
    let t = app().await;
    let user = t.user("racer@example.com").await;
    let links = (0..8).map(|i| {
        let sub = format!("idp|racer-{i}");
        let access = user.access.clone();
        let t = &t;
        async move { link(t, &access, custom(&sub)).await.status }
    });
    let statuses = futures_util::future::join_all(links).await;
    let linked = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(linked, 1, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT));
    let profile = t.profile(&user.access).await.json();
    let jwt = identities(&profile)
        .into_iter()
        .filter(|(k, _)| k == "custom-token")
        .count();
    assert_eq!(jwt, 1, "{profile}");
}

/// Two users joining one email/password account at once: one gets it, the other is refused; the
/// account's identity belongs to exactly one user and its own row is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_joins_of_one_account_move_it_once() {
    let t = app().await;
    assert_eq!(
        t.register("contested@example.com", "pass-phrase-1")
            .await
            .status,
        StatusCode::CREATED
    );
    t.prove("contested@example.com").await;
    let (a, b) = (t.anon().await, t.anon().await);
    let joins = [&a, &b].map(|who| {
        let t = &t;
        let access = who.access.clone();
        async move {
            link(t, &access, userpass("contested@example.com"))
                .await
                .status
        }
    });
    let statuses = futures_util::future::join_all(joins).await;
    let joined: Vec<bool> = statuses.iter().map(|s| *s == StatusCode::OK).collect();
    assert_eq!(joined.iter().filter(|j| **j).count(), 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| s.is_success() || s.is_client_error()),
        "{statuses:?}"
    );
    let store = t.state.store();
    let owners = store
        .count(
            "SELECT COUNT(DISTINCT user_id) FROM identities WHERE provider_type = 'local-userpass'",
        )
        .await
        .unwrap();
    assert_eq!(owners, 1);
    let users = store.count("SELECT COUNT(*) FROM users").await.unwrap();
    assert_eq!(users, 2, "the joined account's own row is gone");
    let winner = if joined[0] { &a } else { &b };
    let login = t
        .login("local-userpass", userpass("contested@example.com").1)
        .await;
    assert_eq!(Tokens::from(&login).user_id, winner.user_id);
}
