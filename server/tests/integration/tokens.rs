//! Tokens other systems can trust (issue 20): ES256 access tokens verified with the published JWKS, the
//! discovery documents, what appkeys-server itself refuses, older HS256 access tokens, signing-key files
//! and their rotation, and introspection.

use std::collections::BTreeMap;

use appkeys_server::crypto::signing::{generate_pem, SigningKey};
use axum::http::StatusCode;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};

use crate::support::*;

const ISSUER: &str = "http://appkeys.test:9090";
const API: &str = "https://api.example";

/// A config with a known signing key (so tests can sign like the server), an extra audience and a claim
/// of the test app (the test config serves two apps: since issue 29 they are named per app).
fn token_config(pem: &str) -> appkeys_server::Config {
    appkeys_server::Config {
        signing_keys: vec![pem.to_owned()],
        app_audiences: vec![(APP.to_owned(), API.to_owned())],
        app_token_claims: vec![(
            APP.to_owned(),
            ("role".to_owned(), "authenticated".to_owned()),
        )],
        introspection_credentials: Some(vec![(
            "orders-api".to_owned(),
            "introspection-secret-introspection-secret".to_owned(),
        )]),
        ..config()
    }
}

async fn get_json(t: &TestApp, path: &str) -> (Resp, Value) {
    let r = t.call("GET", path, None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
    let j = r.json();
    (r, j)
}

/// Verifies `token` like an app's API would: ES256 only, the key the `kid` names in the JWKS, issuer
/// and audience pinned.
fn verify_with_jwks(jwks: &Value, token: &str, audience: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .ok_or("unknown kid")?;
    let key =
        DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
            .map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn access_tokens_of_every_login_verify_with_the_jwks_and_refresh_tokens_do_not() {
    let pem = generate_pem();
    let t = TestApp::with_config(token_config(&pem)).await;
    let (r, jwks) = get_json(&t, "/.well-known/jwks.json").await;
    assert_eq!(r.headers["cache-control"], "public, max-age=300");
    let key = SigningKey::from_pem(&pem, "test").unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    let jwk = &jwks["keys"][0];
    for (field, value) in [
        ("kty", "EC"),
        ("crv", "P-256"),
        ("alg", "ES256"),
        ("use", "sig"),
    ] {
        assert_eq!(jwk[field], value, "{jwk}");
    }
    assert_eq!(jwk["kid"], key.kid.as_str());
    // RFC 7638: the thumbprint of the published members.
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    use sha2::Digest;
    assert_eq!(
        jwk["kid"].as_str().unwrap(),
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
    );

    let password = t.user("verify@example.com").await;
    let anonymous = t.anon().await;
    let (key_id, secret) = t.new_key(&password.refresh, "svc").await;
    let keyed = Tokens::from(&t.key_login(&secret).await);
    let refreshed = t.refresh(&password.refresh).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for (tokens, provider) in [
        (&password, "local-userpass"),
        (&anonymous, "anon-user"),
        (&keyed, "api-key"),
    ] {
        for audience in [APP, API] {
            let claims = verify_with_jwks(&jwks, &tokens.access, audience)
                .unwrap_or_else(|e| panic!("{provider}: {e}"));
            assert_eq!(claims["sub"], tokens.user_id.as_str());
            assert_eq!(claims["client_id"], APP);
            assert_eq!(claims["provider"], provider);
            assert_eq!(claims["role"], "authenticated");
            assert_eq!(claims["aud"], json!([APP, API]));
            assert!(claims["jti"].is_string() && claims["iat"].is_i64() && claims["exp"].is_i64());
            assert_eq!(claims["sid"], jwt_claims(&tokens.refresh)["baas_id"]);
        }
        assert_eq!(jwt_header(&tokens.access)["typ"], "at+jwt");
        let refresh = verify_with_jwks(&jwks, &tokens.refresh, APP);
        assert!(refresh.is_err(), "a refresh token verified: {refresh:?}");
    }
    let key_claims = verify_with_jwks(&jwks, &keyed.access, APP).unwrap();
    assert_eq!(key_claims["api_key_id"], key_id.as_str());
    assert!(verify_with_jwks(&jwks, &password.access, APP).unwrap()["api_key_id"].is_null());
    // The access token of a refresh carries the same session facts.
    let claims = verify_with_jwks(&jwks, &refreshed, APP).unwrap();
    assert_eq!(claims["provider"], "local-userpass");
    assert_ne!(
        claims["jti"],
        verify_with_jwks(&jwks, &password.access, APP).unwrap()["jti"]
    );
    assert!(verify_with_jwks(&jwks, &password.access, "https://someone-else.example").is_err());
}

#[tokio::test]
async fn discovery_names_the_issuer_the_jwks_and_introspection() {
    let t = TestApp::with_config(token_config(&generate_pem())).await;
    let (r, oidc) = get_json(&t, "/.well-known/openid-configuration").await;
    assert_eq!(r.headers["cache-control"], "public, max-age=300");
    let (_, oauth) = get_json(&t, "/.well-known/oauth-authorization-server").await;
    assert_eq!(oidc, oauth);
    assert_eq!(oidc["issuer"], ISSUER);
    assert_eq!(oidc["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(
        oidc["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(
        oidc["introspection_endpoint"],
        format!("{ISSUER}/oauth/introspect")
    );
    assert!(
        oidc["response_types_supported"].is_array() && oidc["subject_types_supported"].is_array()
    );
    // The token's `iss` is exactly the discovery `issuer`.
    let u = t.user("iss@example.com").await;
    assert_eq!(jwt_claims(&u.access)["iss"], oidc["issuer"]);
    // Readable cross-origin (CORS), like the rest of the API.
    let r = t
        .send(
            axum::http::Request::get("/.well-known/jwks.json")
                .header("origin", "https://app.example")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    // --issuer is exactly the `iss` and the `issuer`; without introspection it is not advertised.
    let custom = TestApp::with_config(appkeys_server::Config {
        issuer: Some("https://auth.example.com/appkeys".to_owned()),
        ..config()
    })
    .await;
    let (_, doc) = get_json(&custom, "/.well-known/openid-configuration").await;
    assert_eq!(doc["issuer"], "https://auth.example.com/appkeys");
    assert!(doc.get("introspection_endpoint").is_none());
    let u = custom.user("custom@example.com").await;
    assert_eq!(
        jwt_claims(&u.access)["iss"],
        "https://auth.example.com/appkeys"
    );
}

/// The ES256 signing key of a PKCS#8 PEM.
fn ec_key(pem: &str) -> EncodingKey {
    use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
    let der = p256::SecretKey::from_pkcs8_pem(pem)
        .unwrap()
        .to_pkcs8_der()
        .unwrap();
    EncodingKey::from_ec_der(der.as_bytes())
}

/// A token with `header` and `claims`, signed with `key` as `alg`.
fn forge(header: Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

#[tokio::test]
async fn forged_expired_and_misused_tokens_are_refused() {
    let pem = generate_pem();
    let t = TestApp::with_config(token_config(&pem)).await;
    let u = t.user("forge@example.com").await;
    assert_eq!(t.profile(&u.access).await.status, StatusCode::OK);
    let claims = jwt_claims(&u.access);
    let signing = SigningKey::from_pem(&pem, "test").unwrap();
    let own = ec_key(&pem);
    let es256 = |kid: &str| Header {
        typ: Some("at+jwt".into()),
        kid: Some(kid.into()),
        ..Header::new(Algorithm::ES256)
    };
    // Control: the same claims re-signed with the real key pass (the forgeries below fail for their flaw).
    let control = forge(es256(&signing.kid), &claims, &own);
    assert_eq!(t.profile(&control).await.status, StatusCode::OK);
    let payload = u.access.split('.').nth(1).unwrap();
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#)
    );
    // HS256 keyed with the public key (algorithm confusion): the PEM public key and the raw x‖y.
    let public_pem = {
        use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
        p256::SecretKey::from_pkcs8_pem(&pem)
            .unwrap()
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    };
    let hs256 = |secret: &[u8]| {
        forge(
            Header {
                kid: Some(signing.kid.clone()),
                ..Header::new(Algorithm::HS256)
            },
            &claims,
            &EncodingKey::from_secret(secret),
        )
    };
    let xy = format!("{}{}", signing.jwk.x, signing.jwk.y);
    let stranger = generate_pem();
    let unknown_kid = forge(
        es256(&SigningKey::from_pem(&stranger, "t").unwrap().kid),
        &claims,
        &ec_key(&stranger),
    );
    let kid_of_ours_key_of_theirs = forge(es256(&signing.kid), &claims, &ec_key(&stranger));
    let mut tampered_claims = claims.clone();
    tampered_claims["sub"] = json!("000000000000000000000000");
    let tampered = format!(
        "{}.{}.{}",
        u.access.split('.').next().unwrap(),
        URL_SAFE_NO_PAD.encode(tampered_claims.to_string()),
        u.access.split('.').nth(2).unwrap()
    );
    let mut old_claims = claims.clone();
    old_claims["exp"] = json!(claims["iat"].as_i64().unwrap() - 1);
    let expired = forge(es256(&signing.kid), &old_claims, &own);
    for (what, token) in [
        ("alg none", none),
        (
            "HS256 keyed with the public key PEM",
            hs256(public_pem.as_bytes()),
        ),
        ("HS256 keyed with x‖y", hs256(xy.as_bytes())),
        ("an unknown kid", unknown_kid),
        ("our kid, another key", kid_of_ours_key_of_theirs),
        ("a tampered payload", tampered),
        ("a refresh token as an access token", u.refresh.clone()),
    ] {
        let r = t.profile(&token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what} was accepted");
        r.assert_error(401, "InvalidSession");
    }
    let msg = t
        .profile(&expired)
        .await
        .assert_error(401, "InvalidSession");
    assert!(msg.contains("expired"), "{msg}");
    // And an access token is no refresh token.
    t.refresh(&u.access)
        .await
        .assert_error(401, "InvalidSession");
}

#[tokio::test]
async fn access_tokens_of_the_previous_release_work_until_they_expire() {
    // The previous release signed access tokens HS256 with the secret and put the session id in `iss`.
    let mut c = token_config(&generate_pem());
    c.jwt_secrets = vec!["upgrade-secret-upgrade-secret-upgrade".to_owned()];
    let t = TestApp::with_config(c.clone()).await;
    let u = t.user("upgrade@example.com").await;
    let refresh = jwt_claims(&u.refresh);
    let key = appkeys_server::crypto::signing::SigningKey::from_pem(&generate_pem(), "t").unwrap();
    let old = appkeys_server::crypto::token::Signer::new(&[c.jwt_secrets[0].as_bytes()], vec![key]);
    let now = refresh["iat"].as_i64().unwrap();
    let legacy = |exp: i64| {
        old.sign_hs256(&json!({
            "sub": u.user_id, "typ": "access", "iat": now, "exp": exp,
            "baas_device_id": refresh["baas_device_id"], "baas_domain_id": APP,
            "iss": refresh["baas_id"],
        }))
    };
    assert_eq!(jwt_header(&legacy(now + 1800))["alg"], "HS256");
    let r = t.profile(&legacy(now + 1800)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    t.profile(&legacy(now - 1))
        .await
        .assert_error(401, "InvalidSession");
    // Refresh tokens are unchanged: the previous release's work; a refresh gives an ES256 token.
    let fresh = t.refresh(&u.refresh).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(jwt_header(&fresh)["alg"], "ES256");
    // A legacy token of a session that ended is refused like any other.
    t.call(
        "DELETE",
        &format!("{P}/auth/session"),
        Some(&u.refresh),
        None,
    )
    .await
    .assert_no_content();
    t.profile(&legacy(now + 1800))
        .await
        .assert_error(401, "InvalidSession");
}

async fn introspect(t: &TestApp, credentials: Option<&str>, token: &str) -> Resp {
    let mut b = axum::http::Request::post("/oauth/introspect")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(c) = credentials {
        b = b.header(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(c)
            ),
        );
    }
    let body: String = url_encode_token(token);
    t.send(b.body(axum::body::Body::from(body)).unwrap()).await
}

fn url_encode_token(token: &str) -> String {
    let mut out = String::from("token=");
    for b in token.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const CALLER: &str = "orders-api:introspection-secret-introspection-secret";

#[tokio::test]
async fn introspection_sees_logout_key_changes_and_user_deletion_at_once_on_every_instance() {
    let a = TestApp::with_config(token_config(&generate_pem())).await;
    // A second instance on the same database and key file.
    let b = TestApp::on(
        TestDb {
            url: a.db.url.clone(),
            dir: None,
        },
        a.config.clone(),
    )
    .await;
    let owner = a.user("introspect@example.com").await;
    let (key_id, secret) = a.new_key(&owner.refresh, "svc").await;
    let service = Tokens::from(&a.key_login(&secret).await);
    let active = |r: &Resp| r.json()["active"].as_bool().unwrap();
    // Live: active, with the session's facts, on both instances.
    for t in [&a, &b] {
        let r = introspect(t, Some(CALLER), &service.access).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.headers["cache-control"], "no-store");
        let j = r.json();
        assert_eq!(j["active"], true);
        assert_eq!(j["sub"], owner.user_id.as_str());
        assert_eq!(j["iss"], ISSUER);
        assert_eq!(j["aud"], json!([APP, API]));
        assert_eq!(j["client_id"], APP);
        assert_eq!(j["provider"], "api-key");
        assert_eq!(j["api_key_id"], key_id.as_str());
        assert_eq!(j["token_type"], "Bearer");
        assert!(j["exp"].is_i64() && j["iat"].is_i64() && j["jti"].is_string());
    }
    // Anything else is inactive: a refresh token, garbage.
    for token in [owner.refresh.as_str(), "garbage", "a.b.c"] {
        let r = introspect(&b, Some(CALLER), token).await;
        assert_eq!(r.json(), json!({ "active": false }), "{token}");
    }
    // Key disabled via A: inactive at once via B; enabled again, a new login is active.
    a.call(
        "PUT",
        &format!("{}/disable", key_path(&key_id)),
        Some(&owner.refresh),
        None,
    )
    .await
    .assert_no_content();
    assert!(!active(
        &introspect(&b, Some(CALLER), &service.access).await
    ));
    a.call(
        "PUT",
        &format!("{}/enable", key_path(&key_id)),
        Some(&owner.refresh),
        None,
    )
    .await
    .assert_no_content();
    let service = Tokens::from(&a.key_login(&secret).await);
    assert!(active(&introspect(&b, Some(CALLER), &service.access).await));
    // Key deleted via B: inactive via A.
    b.call("DELETE", &key_path(&key_id), Some(&owner.refresh), None)
        .await
        .assert_no_content();
    assert!(!active(
        &introspect(&a, Some(CALLER), &service.access).await
    ));
    // Logout via A: that session's access token is inactive via B.
    assert!(active(&introspect(&b, Some(CALLER), &owner.access).await));
    a.call(
        "DELETE",
        &format!("{P}/auth/session"),
        Some(&owner.refresh),
        None,
    )
    .await
    .assert_no_content();
    assert!(!active(&introspect(&b, Some(CALLER), &owner.access).await));
    // User deleted via B: every token of the user is inactive via A.
    let again = a
        .login(
            "local-userpass",
            json!({"username": "introspect@example.com", "password": "pass-phrase-1"}),
        )
        .await;
    let again = Tokens::from(&again);
    assert!(active(&introspect(&a, Some(CALLER), &again.access).await));
    b.call(
        "DELETE",
        &format!("{P}/auth/delete"),
        Some(&again.access),
        None,
    )
    .await
    .assert_no_content();
    assert!(!active(&introspect(&a, Some(CALLER), &again.access).await));
}

#[tokio::test]
async fn introspection_callers_must_authenticate_and_it_is_off_without_credentials() {
    let t = TestApp::with_config(token_config(&generate_pem())).await;
    let u = t.user("caller@example.com").await;
    for credentials in [
        None,
        Some("orders-api:wrong-secret-wrong-secret-wrong-secret"),
        Some("someone:introspection-secret-introspection-secret"),
        Some("no colon at all"),
    ] {
        let r = introspect(&t, credentials, &u.access).await;
        r.assert_error(401, "AuthError");
        assert!(r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));
    }
    // Audited in aggregate since issue 29: the four failures of this client are counted in one row.
    t.state.flush_audit().await.unwrap();
    let entries = t
        .state
        .store()
        .audit_entries(None, None, None)
        .await
        .unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.event == "introspection.failed")
            .map(|e| e.count)
            .sum::<i64>(),
        4
    );
    // Without --introspection-credentials-file the endpoint is off.
    let off = TestApp::new().await;
    introspect(&off, Some(CALLER), &u.access)
        .await
        .assert_error(404, "NotFound");
    // Wrong credentials are limited per client: past the limit, 429 before any check.
    let limited = TestApp::with_config(appkeys_server::Config {
        limits: appkeys_server::RateLimits {
            login_failures_per_ip: 3,
            ..Default::default()
        },
        ..token_config(&generate_pem())
    })
    .await;
    let mut statuses = BTreeMap::new();
    for _ in 0..6 {
        let r = introspect(&limited, Some("x:y"), "t").await;
        *statuses.entry(r.status.as_u16()).or_insert(0) += 1;
    }
    assert_eq!(statuses.get(&401), Some(&3), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&3), "{statuses:?}");
    // Issue 29 changed this: the known caller is checked before the limit and answered.
    let r = introspect(&limited, Some(CALLER), "t").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({ "active": false }));
}

/// `GET path` of a running server: the JSON body.
async fn fetch_json(url: &str, path: &str) -> Value {
    let r = HttpClient::new()
        .request("GET", &format!("{url}{path}"), &[], None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
    r.json()
}

async fn profile_status(url: &str, access: &str) -> StatusCode {
    HttpClient::new()
        .request(
            "GET",
            &format!("{url}{P}/auth/profile"),
            &[("authorization", &format!("Bearer {access}"))],
            None,
        )
        .await
        .status
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// A private key file written by `openssl` (`genpkey`: PKCS#8; `ecparam -genkey`: SEC1).
fn openssl_key(dir: &std::path::Path, name: &str, sec1: bool) -> String {
    let path = dir.join(name);
    let args: Vec<&str> = if sec1 {
        vec![
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
        ]
    } else {
        vec![
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ]
    };
    let out = std::process::Command::new("openssl")
        .args(&args)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&path).unwrap()
}

/// Rotation through the key file, step by step, with two instances sharing it: publish the new key
/// second, then let it sign, then drop the old one.
#[cfg(unix)]
#[tokio::test]
async fn signing_keys_rotate_through_the_file_on_every_instance() {
    use std::os::unix::fs::PermissionsExt;
    let db = fresh_db().await;
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (
        openssl_key(dir.path(), "old.pem", false),
        openssl_key(dir.path(), "new.pem", true),
    );
    assert!(new.contains("BEGIN EC PRIVATE KEY"), "{new}");
    let file = dir.path().join("signing-keys.pem");
    let write = |pems: &[&str]| {
        std::fs::write(&file, pems.concat()).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    let path = file.display().to_string();
    let args = ["--signing-key-file", path.as_str()];
    let kid = |pem: &str| SigningKey::from_pem(pem, "t").unwrap().kid;

    write(&[&old]);
    let a = ServerProcess::start(&args, &db.url, &[]);
    let c = Client::new(&a, "127.0.0.1");
    c.register("rotate@example.com").await;
    let first = Tokens::from(&c.password_login("rotate@example.com", PASSWORD).await);
    assert_eq!(jwt_header(&first.access)["kid"], kid(&old).as_str());
    assert_eq!(
        kids(&fetch_json(&a.url, "/.well-known/jwks.json").await),
        [kid(&old)]
    );
    drop(a);

    // Step 1: the new key published second; the old one still signs; two instances agree.
    write(&[&old, &new]);
    let (a, b) = (
        ServerProcess::start(&args, &db.url, &[]),
        ServerProcess::start(&args, &db.url, &[]),
    );
    let jwks = fetch_json(&a.url, "/.well-known/jwks.json").await;
    assert_eq!(kids(&jwks), [kid(&old), kid(&new)]);
    assert_eq!(
        jwks,
        fetch_json(&b.url, "/.well-known/jwks.json").await,
        "identical JWKS"
    );
    let c = Client::new(&a, "127.0.0.1");
    let second = Tokens::from(&c.password_login("rotate@example.com", PASSWORD).await);
    assert_eq!(jwt_header(&second.access)["kid"], kid(&old).as_str());
    assert_eq!(profile_status(&b.url, &first.access).await, StatusCode::OK);
    drop((a, b));

    // Step 2: the new key signs; tokens of the old key still verify.
    write(&[&new, &old]);
    let a = ServerProcess::start(&args, &db.url, &[]);
    let c = Client::new(&a, "127.0.0.1");
    let third = Tokens::from(&c.password_login("rotate@example.com", PASSWORD).await);
    assert_eq!(jwt_header(&third.access)["kid"], kid(&new).as_str());
    assert_eq!(profile_status(&a.url, &first.access).await, StatusCode::OK);
    assert_eq!(profile_status(&a.url, &third.access).await, StatusCode::OK);
    drop(a);

    // Step 3: the old key removed: its tokens stop verifying; refresh tokens never depended on it.
    write(&[&new]);
    let a = ServerProcess::start(&args, &db.url, &[]);
    assert_eq!(
        kids(&fetch_json(&a.url, "/.well-known/jwks.json").await),
        [kid(&new)]
    );
    assert_eq!(
        profile_status(&a.url, &first.access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(profile_status(&a.url, &third.access).await, StatusCode::OK);
    let c = Client::new(&a, "127.0.0.1");
    assert_eq!(
        c.refresh(&first.refresh).await.status,
        StatusCode::OK,
        "nobody logged out"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn key_files_are_checked_generated_and_required_on_postgres() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // `signing-key generate FILE`: a private PKCS#8 key the server takes; never over an existing file.
    let file = dir.path().join("made.pem");
    let out = std::process::Command::new(BIN)
        .args(["signing-key", "generate", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made = std::fs::read_to_string(&file).unwrap();
    assert!(made.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let kid = SigningKey::from_pem(&made, "t").unwrap().kid;
    assert!(String::from_utf8_lossy(&out.stdout).contains(&kid));
    let again = std::process::Command::new(BIN)
        .args(["signing-key", "generate", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        made,
        "not overwritten"
    );
    let db = fresh_db().await;
    let path = file.display().to_string();
    let server = ServerProcess::start(&["--signing-key-file", &path], &db.url, &[]);
    assert_eq!(
        kids(&fetch_json(&server.url, "/.well-known/jwks.json").await),
        std::slice::from_ref(&kid)
    );
    drop(server);
    // Readable by others, not a key, a reserved claim: refused at start, saying why.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = |args: &[&str], db: &str| match ServerProcess::try_start(args, db, &[]) {
        Ok(_) => panic!("{args:?} started"),
        Err((_, err)) => err,
    };
    let err = refused(&["--signing-key-file", &path], &db.url);
    assert!(err.contains("readable by group or others"), "{err}");
    let junk = dir.path().join("junk.pem");
    std::fs::write(
        &junk,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = refused(&["--signing-key-file", junk.to_str().unwrap()], &db.url);
    assert!(err.contains("not a P-256 private key"), "{err}");
    assert!(!err.contains("AAAA"), "the key is not echoed");
    for claim in ["iss=x", "sub=x", "aud=x", "sid=x", "api_key_id=x"] {
        let err = refused(&["--token-claim", claim], &db.url);
        assert!(
            err.contains("the server sets this claim itself"),
            "{claim}: {err}"
        );
    }
    // SQLite without a file: generated next to the database, private, the same on restart.
    let sqlite = fresh_sqlite();
    let generated = appkeys_server::crypto::signing::generated_path(&sqlite.sqlite_path().unwrap());
    let server = ServerProcess::start(&[], &sqlite.url, &[("APPKEYS_SIGNING_KEY_FILE", "")]);
    let first = kids(&fetch_json(&server.url, "/.well-known/jwks.json").await);
    drop(server);
    assert_eq!(
        std::fs::metadata(&generated).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let server = ServerProcess::start(&[], &sqlite.url, &[("APPKEYS_SIGNING_KEY_FILE", "")]);
    assert_eq!(
        kids(&fetch_json(&server.url, "/.well-known/jwks.json").await),
        first
    );
    drop(server);
    // PostgreSQL without a key file refuses to start (the key is never stored in the database).
    if is_postgres() {
        let err = match ServerProcess::try_start(&[], &db.url, &[("APPKEYS_SIGNING_KEY_FILE", "")])
        {
            Ok(_) => panic!("PostgreSQL started without a signing key"),
            Err((_, err)) => err,
        };
        assert!(err.contains("PostgreSQL needs a signing key file"), "{err}");
    }
}

/// Issue 29, finding 5: others' bad attempts from the resource server's own address never lock it out
/// (credentials are checked before the limit); the bad attempts are limited and audited in aggregate.
#[tokio::test]
async fn a_known_introspection_caller_is_never_refused_for_others_failures() {
    let mut config = token_config(&generate_pem());
    config.limits.login_failures_per_ip = 3;
    let t = TestApp::with_config(config).await;
    let u = t.user("shared-address@example.com").await;
    let bad = Some("orders-api:wrong-secret-wrong-secret-wrong-secret");
    for _ in 0..3 {
        introspect(&t, bad, &u.access)
            .await
            .assert_error(401, "AuthError");
    }
    introspect(&t, bad, &u.access)
        .await
        .assert_error(429, "TooManyRequests");
    // The same address, the right credentials: answered.
    let r = introspect(&t, Some(CALLER), &u.access).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["active"], true);
    // Three failures: one audit row that counts them.
    t.state.flush_audit().await.unwrap();
    let rows = t
        .state
        .store()
        .count("SELECT COUNT(*) FROM audit WHERE event = 'introspection.failed'")
        .await
        .unwrap();
    let counted = t
        .state
        .store()
        .count("SELECT CAST(SUM(count) AS BIGINT) FROM audit WHERE event = 'introspection.failed'")
        .await
        .unwrap();
    assert_eq!((rows, counted), (1, 3));
}

/// Issue 29, finding 8: with several apps, audiences and claims are per app — a token of one app never
/// carries another app's audience — and shared ones refuse to start.
#[tokio::test]
async fn audiences_and_claims_are_per_app_and_shared_ones_refuse_to_start() {
    let t = TestApp::with_config(token_config(&generate_pem())).await;
    let first = t.user("first-app@example.com").await;
    let claims = jwt_claims(&first.access);
    assert_eq!(claims["aud"], json!([APP, API]));
    assert_eq!(claims["role"], "authenticated");
    assert_eq!(claims["client_id"], APP);
    let r = t
        .call(
            "POST",
            &format!("{P}/app/second-app/auth/providers/anon-user/login"),
            None,
            Some("{}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let second = jwt_claims(r.json()["access_token"].as_str().unwrap());
    assert_eq!(second["aud"], json!(["second-app"]));
    assert!(second.get("role").is_none(), "{second}");
    assert_eq!(second["client_id"], "second-app");
    // Shared ones with two apps, or an app that is not served: the server does not start.
    let db = fresh_db().await;
    let store = appkeys_server::Store::connect(&db.url).await.unwrap();
    for (config, says) in [
        (
            appkeys_server::Config {
                audiences: vec![API.to_owned()],
                ..config()
            },
            "--app-audience",
        ),
        (
            appkeys_server::Config {
                token_claims: vec![("role".to_owned(), "x".to_owned())],
                ..config()
            },
            "--app-token-claim",
        ),
        (
            appkeys_server::Config {
                app_audiences: vec![("no-such-app".to_owned(), API.to_owned())],
                ..config()
            },
            "no-such-app",
        ),
    ] {
        let e = appkeys_server::AppState::new(store.clone(), &config)
            .await
            .err()
            .expect("refused to start");
        assert!(e.to_string().contains(says), "{e}");
    }
    // The flags: a process serving two apps with a shared --audience does not start; per-app ones do.
    let Err((status, err)) = ServerProcess::try_start(
        &["--app", "one", "--app", "two", "--audience", API],
        &db.url,
        &[],
    ) else {
        panic!("started with a shared audience");
    };
    assert!(!status.success());
    assert!(err.contains("--app-audience APP=VALUE"), "{err}");
    let server = ServerProcess::start(
        &[
            "--app",
            "one",
            "--app",
            "two",
            "--app-audience",
            &format!("one={API}"),
            "--app-token-claim",
            "two:tier=gold",
        ],
        &db.url,
        &[],
    );
    for (app, aud, tier) in [
        ("one", json!(["one", API]), None),
        ("two", json!(["two"]), Some("gold")),
    ] {
        let r = HttpClient::new()
            .request(
                "POST",
                &format!("{}{P}/app/{app}/auth/providers/anon-user/login", server.url),
                &[("content-type", "application/json")],
                Some(b"{}".to_vec()),
            )
            .await;
        let claims = jwt_claims(r.json()["access_token"].as_str().unwrap());
        assert_eq!(claims["aud"], aud, "{app}");
        assert_eq!(claims["tier"].as_str(), tier, "{app}");
    }
}

/// Finding 5 against a real server behind a trusted proxy: a resource server sharing its address with a
/// caller that keeps failing is still answered.
#[tokio::test]
async fn a_known_introspection_caller_behind_a_shared_address_is_answered_by_the_process() {
    let db = fresh_db().await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = crate::customjwt::secret_file(dir.path(), &[CALLER], 0o600);
    let server = ServerProcess::start(
        &[
            "--trust-proxy",
            "127.0.0.1",
            "--login-failures-per-ip",
            "3",
            "--introspection-credentials-file",
            &credentials,
        ],
        &db.url,
        &[],
    );
    let user = Client::new(&server, "203.0.113.9");
    user.register("resource@example.com").await;
    let r = user.password_login("resource@example.com", PASSWORD).await;
    let access = r.json()["access_token"].as_str().unwrap().to_owned();
    let shared = "198.51.100.200";
    let call = |credentials: &str| {
        let basic = base64::engine::general_purpose::STANDARD.encode(credentials);
        let headers = [
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
            ("authorization".to_owned(), format!("Basic {basic}")),
            ("x-forwarded-for".to_owned(), shared.to_owned()),
        ];
        let (url, body) = (
            format!("{}/oauth/introspect", server.url),
            url_encode_token(&access),
        );
        async move {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            HttpClient::new()
                .request("POST", &url, &headers, Some(body.into_bytes()))
                .await
        }
    };
    for _ in 0..3 {
        call("orders-api:wrong-secret-wrong-secret-wrong-secret")
            .await
            .assert_error(401, "AuthError");
    }
    call("orders-api:wrong-secret-wrong-secret-wrong-secret")
        .await
        .assert_error(429, "TooManyRequests");
    let r = call(CALLER).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["active"], true);
}
