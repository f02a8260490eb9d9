//! Issue 29, finding 1 (account pre-hijack): someone registers the owner's address, logs in with it,
//! links an identity of their own (a custom JWT subject) and waits for the owner to reset the password
//! and use the account. A completed reset takes every other identity away, ends their sessions and the
//! notice names them. The owner can see and remove the identities of their own account.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::customjwt::{hs256, hs256_provider, now, SECRET_A};
use crate::email::MailApp;
use crate::support::*;

async fn app() -> MailApp {
    let base = appkeys_server::Config {
        custom_jwt: Some(hs256_provider(&[])),
        ..config()
    };
    MailApp::with(base, false, Duration::from_secs(1800)).await
}

fn jwt(sub: &str) -> Value {
    json!({ "token": hs256(SECRET_A, &json!({"sub": sub, "aud": APP, "exp": now() + 600})) })
}

async fn link_jwt(t: &TestApp, access: &str, sub: &str) -> Resp {
    t.call(
        "POST",
        &format!("{P}/app/{APP}/auth/providers/custom-token/login?link=true"),
        Some(access),
        Some(&jwt(sub).to_string()),
    )
    .await
}

async fn remove(t: &TestApp, access: &str, body: Value) -> Resp {
    t.call(
        "POST",
        &format!("{P}/auth/identities/remove"),
        Some(access),
        Some(&body.to_string()),
    )
    .await
}

fn kinds(profile: &Value) -> Vec<(String, String)> {
    profile["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let field = |k: &str| i[k].as_str().unwrap().to_owned();
            (field("provider_type"), field("id"))
        })
        .collect()
}

#[tokio::test]
async fn a_reset_takes_back_an_account_someone_else_linked_first() {
    let t = app().await;
    let victim = "victim@example.com";
    // The attacker registers the victim's address (confirmation is off), uses it, and links a JWT
    // identity of their own to it.
    let squatter = t.user(victim).await;
    let r = link_jwt(&t, &squatter.access, "idp|attacker").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let (_, key) = t.new_key(&squatter.refresh, "planted").await;
    let jwt_session = Tokens::from(&t.login("custom-token", jwt("idp|attacker")).await);
    assert_eq!(jwt_session.user_id, squatter.user_id);

    // The owner cannot log in ("the account exists"), so they reset the password through their inbox.
    // (The inbox already holds the notice of the planted key.)
    let before = t.wait_to(victim, 1).await;
    assert_eq!(t.mails_to(victim).len(), 1, "{before:?}");
    let r = t.post("reset/send", json!({ "email": victim })).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let (_, token, token_id) = t.wait_to(victim, 2).await.link();
    let r = t
        .post(
            "reset",
            json!({"token": token, "tokenId": token_id, "password": "owner-s-own-1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());

    // The attacker's JWT no longer opens the owner's account: a new login makes a user of its own.
    let again = Tokens::from(&t.login("custom-token", jwt("idp|attacker")).await);
    assert_ne!(
        again.user_id, squatter.user_id,
        "the JWT still opens the account"
    );
    // Every session of theirs ended, the planted key is disabled.
    t.profile(&jwt_session.access)
        .await
        .assert_error(401, "InvalidSession");
    t.key_login(&key).await.assert_error(401, "AuthError");
    // The owner's account has its email/password identity only.
    let owner = t
        .login(
            "local-userpass",
            json!({"username": victim, "password": "owner-s-own-1"}),
        )
        .await;
    assert_eq!(owner.status, StatusCode::OK);
    let owner = Tokens::from(&owner);
    assert_eq!(owner.user_id, squatter.user_id);
    let profile = t.profile(&owner.access).await.json();
    let ids = kinds(&profile);
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(ids[0].0, "local-userpass");
    // The notice names what was taken away.
    let notice = t.wait_to(victim, 3).await;
    assert!(
        notice.subject.starts_with("Your password was reset"),
        "{}",
        notice.subject
    );
    assert!(
        notice.text.contains("custom-token (idp|attacker)"),
        "{}",
        notice.text
    );
    // The audit log says the reset happened; the identity is free for its real owner to link.
    assert_eq!(
        link_jwt(&t, &owner.access, "idp|owner").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_owner_removes_identities_of_their_own_account() {
    let t = app().await;
    let user = t.user("two-ways@example.com").await;
    assert_eq!(
        link_jwt(&t, &user.access, "idp|two-ways").await.status,
        StatusCode::OK
    );
    let jwt_session = Tokens::from(&t.login("custom-token", jwt("idp|two-ways")).await);
    assert_eq!(jwt_session.user_id, user.user_id);
    let listed = kinds(&t.profile(&user.access).await.json());
    assert_eq!(
        listed.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["local-userpass", "custom-token"]
    );
    // Refused, and nothing changes: no such identity, a body without the fields, a key session, no token.
    remove(
        &t,
        &user.access,
        json!({"provider_type": "custom-token", "id": "idp|other"}),
    )
    .await
    .assert_error(404, "NotFound");
    remove(&t, &user.access, json!({"id": "idp|two-ways"}))
        .await
        .assert_error(400, "MissingParameter");
    let (_, key) = t.new_key(&user.refresh, "service").await;
    let keyed = Tokens::from(&t.key_login(&key).await);
    let jwt_identity = json!({"provider_type": "custom-token", "id": "idp|two-ways"});
    remove(&t, &keyed.access, jwt_identity.clone())
        .await
        .assert_error(403, "LinkForbidden");
    remove(&t, "", jwt_identity.clone())
        .await
        .assert_error(401, "InvalidSession");
    assert_eq!(kinds(&t.profile(&user.access).await.json()).len(), 2);

    // Removed: the JWT's sessions end, the subject no longer opens this account.
    remove(&t, &user.access, jwt_identity.clone())
        .await
        .assert_no_content();
    t.profile(&jwt_session.access)
        .await
        .assert_error(401, "InvalidSession");
    assert_eq!(t.profile(&user.access).await.status, StatusCode::OK);
    let fresh = Tokens::from(&t.login("custom-token", jwt("idp|two-ways")).await);
    assert_ne!(fresh.user_id, user.user_id);
    let left = kinds(&t.profile(&user.access).await.json());
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, "local-userpass");
    // The account's only identity stays.
    let (kind, id) = left[0].clone();
    remove(&t, &user.access, json!({"provider_type": kind, "id": id}))
        .await
        .assert_error(400, "BadRequest");
    let audit = t
        .state
        .store()
        .count("SELECT COUNT(*) FROM audit WHERE event = 'identity.removed'")
        .await
        .unwrap();
    assert_eq!(audit, 1);
}

#[tokio::test]
async fn removing_the_email_identity_frees_the_address() {
    let t = app().await;
    let jwt_user = Tokens::from(&t.login("custom-token", jwt("idp|mover")).await);
    assert_eq!(
        t.register("mover@example.com", "pass-phrase-1")
            .await
            .status,
        StatusCode::CREATED
    );
    t.prove("mover@example.com").await;
    let r = t
        .call(
            "POST",
            &format!("{P}/app/{APP}/auth/providers/local-userpass/login?link=true"),
            Some(&jwt_user.access),
            Some(
                &json!({"username": "mover@example.com", "password": "pass-phrase-1"}).to_string(),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let ids = kinds(&t.profile(&jwt_user.access).await.json());
    let (kind, id) = ids
        .iter()
        .find(|(k, _)| k == "local-userpass")
        .unwrap()
        .clone();
    remove(
        &t,
        &jwt_user.access,
        json!({"provider_type": kind, "id": id}),
    )
    .await
    .assert_no_content();
    // The password opens nothing any more, the address can be registered again, the JWT still works.
    t.login(
        "local-userpass",
        json!({"username": "mover@example.com", "password": "pass-phrase-1"}),
    )
    .await
    .assert_error(401, "InvalidPassword");
    assert_eq!(
        t.register("mover@example.com", "pass-phrase-2")
            .await
            .status,
        StatusCode::CREATED
    );
    let profile = t.profile(&jwt_user.access).await.json();
    assert!(profile["data"]["email"].is_null(), "{profile}");
}
