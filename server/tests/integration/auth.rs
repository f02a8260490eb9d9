//! Register, login (all providers), tokens, profile, session refresh / log-out, user deletion.

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn register_creates_a_usable_account() {
    let t = TestApp::new().await;
    let r = t.register("  Alice@Example.COM ", "pass-phrase-1").await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.body.is_empty(), "{}", r.text());
    assert_eq!(r.content_type(), None);
    // Usable at once, with the normalised email.
    let r = t
        .login(
            "local-userpass",
            json!({ "username": "alice@example.com", "password": "pass-phrase-1" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let tokens = Tokens::from(&r);
    let p = t.profile(&tokens.access).await;
    assert_eq!(p.status, StatusCode::OK);
    let j = p.json();
    assert_eq!(j["user_id"], tokens.user_id.as_str());
    assert_eq!(j["domain_id"], APP);
    assert_eq!(j["type"], "normal");
    assert_eq!(j["data"], json!({ "email": "alice@example.com" }));
    let ids = j["identities"].as_array().unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0]["provider_type"], "local-userpass");
    assert!(ids[0]["id"].is_string() && ids[0]["provider_id"].is_string());
    // Login with different case/whitespace works too.
    let r = t
        .login(
            "local-userpass",
            json!({ "username": " ALICE@example.com", "password": "pass-phrase-1" }),
        )
        .await;
    assert_eq!(Tokens::from(&r).user_id, tokens.user_id);
}

#[tokio::test]
async fn register_duplicate_email_is_409() {
    let t = TestApp::new().await;
    assert_eq!(
        t.register("bob@example.com", "pass-phrase-1").await.status,
        StatusCode::CREATED
    );
    let r = t.register("BOB@example.com", "other-password").await;
    let msg = r.assert_error(409, "AccountNameInUse");
    assert_eq!(msg, "name already in use");
    // The same email in another app is a different account.
    let r = t
        .call(
            "POST",
            &format!("{P}/app/second-app/auth/providers/local-userpass/register"),
            None,
            Some(r#"{"email":"bob@example.com","password":"pass-phrase-1"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn register_validates_its_input() {
    let t = TestApp::new().await;
    t.register("no-at-sign", "pass-phrase-1")
        .await
        .assert_error(400, "InvalidParameter");
    t.register("a@b.c", "short")
        .await
        .assert_error(400, "InvalidParameter");
    t.register("a@b.c", &"x".repeat(129))
        .await
        .assert_error(400, "InvalidParameter");
    t.register("", "pass-phrase-1")
        .await
        .assert_error(400, "MissingParameter");
    t.register("   ", "pass-phrase-1")
        .await
        .assert_error(400, "MissingParameter");
    let path = format!("{P}/app/{APP}/auth/providers/local-userpass/register");
    t.call("POST", &path, None, Some(r#"{"email":"a@b.c"}"#))
        .await
        .assert_error(400, "MissingParameter");
    t.call(
        "POST",
        &path,
        None,
        Some(r#"{"email":1,"password":"pass-phrase-1"}"#),
    )
    .await
    .assert_error(400, "InvalidParameter");
    t.call("POST", &path, None, Some("{nope"))
        .await
        .assert_error(400, "BadRequest");
    // Control characters (PostgreSQL cannot store NUL) are refused, not a server error.
    let long = format!("{}@b.c", "x".repeat(260));
    for email in ["a\u{0}@b.c", "a@b\u{7}.c", "a b@c.d", long.as_str()] {
        t.register(email, "pass-phrase-1")
            .await
            .assert_error(400, "InvalidParameter");
    }
    // Boundaries are accepted (8 and 128 characters, counted as characters; issue 22 raised the
    // default minimum from 6 to 8).
    assert_eq!(
        t.register("eight@b.c", "ääääääää").await.status,
        StatusCode::CREATED
    );
    t.register("seven@b.c", "ääääääz")
        .await
        .assert_error(400, "InvalidParameter");
    assert_eq!(
        t.register("long@b.c", &"x".repeat(128)).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn register_ignores_any_authorization_header() {
    let t = TestApp::new().await;
    let u = t.user("first@example.com").await;
    for auth in [
        format!("Bearer {}", u.access),
        "Bearer garbage".to_owned(),
        "Basic xyz".to_owned(),
    ] {
        let email = format!("{}@example.com", auth.len());
        let req = Request::post(format!(
            "{P}/app/{APP}/auth/providers/local-userpass/register"
        ))
        .header(header::AUTHORIZATION, auth)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({ "email": email, "password": "pass-phrase-1" }).to_string(),
        ))
        .unwrap();
        let r = t.send(req).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
}

#[tokio::test]
async fn wrong_credentials_are_invalid_password() {
    let t = TestApp::new().await;
    t.user("carol@example.com").await;
    let r = t
        .login(
            "local-userpass",
            json!({ "username": "carol@example.com", "password": "wrong-one" }),
        )
        .await;
    let msg = r.assert_error(401, "InvalidPassword");
    assert_eq!(msg, "invalid username/password");
    let r = t
        .login(
            "local-userpass",
            json!({ "username": "nobody@example.com", "password": "pass-phrase-1" }),
        )
        .await;
    assert_eq!(
        r.assert_error(401, "InvalidPassword"),
        "invalid username/password"
    );
    for username in ["carol\u{0}@example.com", "\u{0}", "no-at-sign"] {
        let r = t
            .login(
                "local-userpass",
                json!({ "username": username, "password": "pass-phrase-1" }),
            )
            .await;
        r.assert_error(401, "InvalidPassword");
    }
}

#[tokio::test]
async fn login_response_and_token_claims() {
    let t = TestApp::new().await;
    let u = t.user("dave@example.com").await;
    assert_eq!(u.user_id.len(), 24);
    assert!(u
        .user_id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let a = jwt_claims(&u.access);
    let r = jwt_claims(&u.refresh);
    assert_eq!(a["typ"], "access");
    assert_eq!(r["typ"], "refresh");
    for c in [&a, &r] {
        assert_eq!(c["sub"], u.user_id.as_str());
        assert_eq!(c["baas_device_id"], u.device_id.as_str());
        assert_eq!(c["baas_domain_id"], APP);
        assert!(c["iat"].is_i64() && c["exp"].is_i64());
    }
    assert_eq!(
        a["exp"].as_i64().unwrap() - a["iat"].as_i64().unwrap(),
        1800
    );
    assert_eq!(
        r["exp"].as_i64().unwrap() - r["iat"].as_i64().unwrap(),
        60 * 24 * 3600
    );
    // Issue 20: the access token names its session in `sid` (`iss` is the issuer URL).
    assert_eq!(a["iss"], "http://appkeys.test:9090");
    assert_eq!(a["sid"], r["baas_id"], "both tokens name the same session");
    let header = {
        use base64::Engine;
        let h = u.access.split('.').next().unwrap();
        serde_json::from_slice::<serde_json::Value>(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .unwrap(),
        )
        .unwrap()
    };
    // Issue 20: access tokens are ES256 (`typ: at+jwt`, `kid`); refresh tokens stay HS256.
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    assert!(header["kid"].is_string());
    assert_eq!(jwt_header(&u.refresh)["alg"], "HS256");
}

#[tokio::test]
async fn device_ids_are_taken_from_options_or_generated() {
    let t = TestApp::new().await;
    let dev = "5eb5931548d79bc784adf46e";
    for body in [
        json!({ "options": { "device": { "deviceId": { "$oid": dev } } }, "provider": "anon-user" }),
        json!({ "options": { "device": { "deviceId": dev, "platform": "node", "sdkVersion": "2.0.1" } } }),
    ] {
        let r = t.login("anon-user", body).await;
        assert_eq!(Tokens::from(&r).device_id, dev);
    }
    for body in [
        json!({ "options": { "device": { "deviceId": { "$oid": "000000000000000000000000" } } } }),
        json!({ "options": { "device": { "deviceId": "not-an-id" } } }),
        json!({ "options": { "device": { "deviceId": 12 } } }),
        json!({ "options": "weird" }),
        json!({}),
    ] {
        let r = t.login("anon-user", body.clone()).await;
        let d = Tokens::from(&r).device_id;
        assert_eq!(d.len(), 24, "{body}");
        assert_ne!(d, "000000000000000000000000");
        assert_ne!(d, dev);
    }
}

#[tokio::test]
async fn anonymous_login_creates_distinct_users() {
    let t = TestApp::new().await;
    let a = t.anon().await;
    let b = t.anon().await;
    assert_ne!(a.user_id, b.user_id);
    let p = t.profile(&a.access).await.json();
    assert_eq!(p["identities"][0]["provider_type"], "anon-user");
    assert_eq!(p["data"], json!({}));
    assert_eq!(p["type"], "normal");
}

#[tokio::test]
async fn unknown_provider_is_404() {
    let t = TestApp::new().await;
    for provider in [
        "oauth2-google",
        "custom-function",
        "api-keys",
        "LOCAL-USERPASS",
    ] {
        let r = t.login(provider, json!({})).await;
        r.assert_error(404, "AuthProviderNotFound");
    }
}

#[tokio::test]
async fn token_kinds_are_enforced() {
    let t = TestApp::new().await;
    let u = t.user("erin@example.com").await;
    // Profile and delete need the access token.
    t.profile(&u.refresh)
        .await
        .assert_error(401, "InvalidSession");
    t.call(
        "DELETE",
        &format!("{P}/auth/delete"),
        Some(&u.refresh),
        None,
    )
    .await
    .assert_error(401, "InvalidSession");
    // Refresh and key routes need the refresh token.
    t.refresh(&u.access)
        .await
        .assert_error(401, "InvalidSession");
    t.call("GET", &keys_path(), Some(&u.access), None)
        .await
        .assert_error(401, "InvalidSession");
    t.create_key(&u.access, "k")
        .await
        .assert_error(401, "InvalidSession");
    // Right kinds work.
    assert_eq!(t.profile(&u.access).await.status, StatusCode::OK);
    assert_eq!(t.refresh(&u.refresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn missing_and_bad_tokens_are_invalid_session() {
    let t = TestApp::new().await;
    let u = t.user("frank@example.com").await;
    let mut tampered = u.access.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    // A token signed with another secret.
    let other = TestApp::new().await;
    let foreign = other.user("frank@example.com").await;
    for token in [
        None,
        Some(""),
        Some("garbage"),
        Some("a.b.c"),
        Some(tampered.as_str()),
        Some(foreign.access.as_str()),
    ] {
        let r = t.profile_raw(token).await;
        r.assert_error(401, "InvalidSession");
    }
    let req = Request::get(format!("{P}/auth/profile"))
        .header(header::AUTHORIZATION, format!("Basic {}", u.access))
        .body(Body::empty())
        .unwrap();
    t.send(req).await.assert_error(401, "InvalidSession");
    // The real one still works; the scheme is case-insensitive.
    let req = Request::get(format!("{P}/auth/profile"))
        .header(header::AUTHORIZATION, format!("bearer {}", u.access))
        .body(Body::empty())
        .unwrap();
    assert_eq!(t.send(req).await.status, StatusCode::OK);
}

impl TestApp {
    async fn profile_raw(&self, token: Option<&str>) -> Resp {
        let mut b = Request::get(format!("{P}/auth/profile"));
        if let Some(tok) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {tok}"));
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }
}

#[tokio::test]
async fn expired_access_token_is_refused_and_refresh_issues_a_new_one() {
    let mut c = config();
    c.access_token_ttl = 1;
    let t = TestApp::with_config(c).await;
    let u = t.user("gina@example.com").await;
    assert_eq!(t.profile(&u.access).await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = t.profile(&u.access).await;
    let msg = r.assert_error(401, "InvalidSession");
    assert!(msg.contains("expired"), "{msg}");
    // Refresh keeps the refresh token (it is not rotated) and returns a fresh access token.
    let r = t.refresh(&u.refresh).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), Some("application/json"));
    let j = r.json();
    assert_eq!(j.as_object().unwrap().len(), 1, "{j}");
    let access = j["access_token"].as_str().unwrap();
    assert_eq!(t.profile(access).await.status, StatusCode::OK);
    assert_eq!(t.refresh(&u.refresh).await.status, StatusCode::OK);
    let claims = jwt_claims(access);
    assert_eq!(claims["sub"], u.user_id.as_str());
    assert_eq!(claims["baas_device_id"], u.device_id.as_str());
}

#[tokio::test]
async fn log_out_ends_the_session_and_is_idempotent() {
    let t = TestApp::new().await;
    let u = t.user("hank@example.com").await;
    let other = t
        .login(
            "local-userpass",
            json!({ "username": "hank@example.com", "password": "pass-phrase-1" }),
        )
        .await;
    let other = Tokens::from(&other);
    let (_, _) = t.new_key(&u.refresh, "k1").await;
    let path = format!("{P}/auth/session");
    t.call("DELETE", &path, Some(&u.refresh), None)
        .await
        .assert_no_content();
    t.refresh(&u.refresh)
        .await
        .assert_error(401, "InvalidSession");
    t.profile(&u.access)
        .await
        .assert_error(401, "InvalidSession");
    t.call("GET", &keys_path(), Some(&u.refresh), None)
        .await
        .assert_error(401, "InvalidSession");
    // Again, and with junk: still 204.
    t.call("DELETE", &path, Some(&u.refresh), None)
        .await
        .assert_no_content();
    t.call("DELETE", &path, Some("junk"), None)
        .await
        .assert_no_content();
    t.call("DELETE", &path, Some(&u.access), None)
        .await
        .assert_no_content();
    // Without any Authorization header: 401.
    t.call("DELETE", &path, None, None)
        .await
        .assert_error(401, "InvalidSession");
    // The user's other session is untouched.
    assert_eq!(t.profile(&other.access).await.status, StatusCode::OK);
    assert_eq!(t.refresh(&other.refresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn delete_user_removes_user_keys_and_sessions() {
    let t = TestApp::new().await;
    let u = t.user("ivy@example.com").await;
    let second = Tokens::from(
        &t.login(
            "local-userpass",
            json!({ "username": "ivy@example.com", "password": "pass-phrase-1" }),
        )
        .await,
    );
    let (_, key) = t.new_key(&u.refresh, "k1").await;
    let ks = Tokens::from(&t.key_login(&key).await);
    t.call("DELETE", &format!("{P}/auth/delete"), Some(&u.access), None)
        .await
        .assert_no_content();
    for tok in [&u, &second, &ks] {
        t.profile(&tok.access)
            .await
            .assert_error(401, "InvalidSession");
        t.refresh(&tok.refresh)
            .await
            .assert_error(401, "InvalidSession");
    }
    t.key_login(&key).await.assert_error(401, "AuthError");
    t.login(
        "local-userpass",
        json!({ "username": "ivy@example.com", "password": "pass-phrase-1" }),
    )
    .await
    .assert_error(401, "InvalidPassword");
    // The email is free again; the new account is a new user.
    let again = t.user("ivy@example.com").await;
    assert_ne!(again.user_id, u.user_id);
    // Deleting needs a token.
    t.call("DELETE", &format!("{P}/auth/delete"), None, None)
        .await
        .assert_error(401, "InvalidSession");
}

#[tokio::test]
async fn anonymous_user_can_be_deleted() {
    let t = TestApp::new().await;
    let a = t.anon().await;
    t.call("DELETE", &format!("{P}/auth/delete"), Some(&a.access), None)
        .await
        .assert_no_content();
    t.refresh(&a.refresh)
        .await
        .assert_error(401, "InvalidSession");
}
