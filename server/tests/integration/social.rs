//! Issue 30: Google, Apple, Facebook, the authentication function and static custom JWT keys, against a
//! real server process and fake providers on loopback (keys made here): the same user on every login,
//! profile fields, API keys, imported identities, and every refusal with nothing created.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{json, Value};

use crate::customjwt::{now, secret_file, EcKey};
use crate::support::*;

const WEB_CLIENT: &str = "web-client.apps.googleusercontent.com";
const IOS_CLIENT: &str = "ios-client.apps.googleusercontent.com";
const GOOGLE_SECRET: &str = "google-web-client-secret";
const BUNDLE: &str = "com.example.notes";
const SERVICES_ID: &str = "com.example.notes.web";
const TEAM: &str = "TEAM123456";
const FB_APP: &str = "424242";
const FB_SECRET: &str = "facebook-app-secret";
const FUNCTION_SECRET: &str = "a shared secret for the authentication function";
const APP_PAGE: &str = "https://notes.example/auth/done";

/// Fake Google, Apple, Facebook and authentication-function endpoints.
struct Providers {
    url: String,
    google: EcKey,
    apple: EcKey,
    /// The Apple team's Sign in with Apple key (signs appkeys' client secrets).
    team: EcKey,
    /// The login payloads the function received with a valid signature.
    function_calls: Arc<Mutex<Vec<Value>>>,
    _task: tokio::task::JoinHandle<()>,
}

fn google_claims(sub: &str, aud: &str) -> Value {
    json!({"iss": "https://accounts.google.com", "sub": sub, "aud": aud, "exp": now() + 600, "iat": now(),
           "name": "Gail Google", "given_name": "Gail", "family_name": "Google",
           "picture": "https://example.com/gail.png", "email": "gail@example.com"})
}

impl Providers {
    async fn start() -> Providers {
        let (google, apple, team) = (EcKey::new(), EcKey::new(), EcKey::new());
        let (google_jwk, apple_jwk) = (google.jwk.clone(), apple.jwk.clone());
        let team_jwk = team.jwk.clone();
        let apple_web_token = apple.sign(&json!({"iss": "https://appleid.apple.com", "sub": "apple-web",
            "aud": SERVICES_ID, "exp": now() + 600, "iat": now(), "email": "ada@privaterelay.appleid.com"}));
        let code_token = google.sign(&google_claims("g-123", WEB_CLIENT));
        let web_token = google.sign(&google_claims("g-web", WEB_CLIENT));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        let router = axum::Router::new()
            .route(
                "/google/certs",
                get(move || async move { json!({ "keys": [google_jwk] }).to_string() }),
            )
            .route(
                "/apple/keys",
                get(move || async move { json!({ "keys": [apple_jwk] }).to_string() }),
            )
            .route(
                "/slow/debug_token",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "{}"
                }),
            )
            .route(
                "/slow/certs",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "{}"
                }),
            )
            .route(
                "/google/auth",
                get(|Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    // Google's consent screen, approved at once: back to appkeys with a code that
                    // remembers the PKCE challenge.
                    let field = |k: &str| q.get(k).cloned().unwrap_or_default();
                    let ok = field("client_id") == WEB_CLIENT
                        && field("response_type") == "code"
                        && field("code_challenge_method") == "S256"
                        && field("scope").split(' ').any(|s| s == "openid");
                    if !ok {
                        return (StatusCode::BAD_REQUEST, HeaderMap::new(), "bad request".to_owned());
                    }
                    let mut back = url::Url::parse(&field("redirect_uri")).unwrap();
                    back.query_pairs_mut()
                        .append_pair("code", &format!("4/web-{}", field("code_challenge")))
                        .append_pair("state", &field("state"));
                    let mut headers = HeaderMap::new();
                    headers.insert("location", back.as_str().parse().unwrap());
                    (StatusCode::FOUND, headers, String::new())
                }),
            )
            .route(
                "/google/token",
                post(move |body: String| {
                    let token = code_token.clone();
                    let web_token = web_token.clone();
                    let form: std::collections::HashMap<String, String> =
                        url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
                    async move {
                        let field = |k: &str| form.get(k).map(String::as_str);
                        let client_ok = field("client_id") == Some(WEB_CLIENT)
                            && field("client_secret") == Some(GOOGLE_SECRET)
                            && field("grant_type") == Some("authorization_code");
                        if client_ok && field("code") == Some("4/good-code") {
                            (StatusCode::OK, json!({ "id_token": token }).to_string())
                        } else if let (true, Some(code), Some(verifier)) =
                            (client_ok, field("code"), field("code_verifier"))
                        {
                            // PKCE: the verifier must be the one the challenge was made from.
                            use base64::Engine;
                            use sha2::Digest;
                            let made = base64::engine::general_purpose::URL_SAFE_NO_PAD
                                .encode(sha2::Sha256::digest(verifier.as_bytes()));
                            let redirect_ok = field("redirect_uri").is_some_and(|u| u.ends_with("/api/client/v2.0/auth/callback"));
                            if code == format!("4/web-{made}") && redirect_ok {
                                (StatusCode::OK, json!({ "id_token": web_token }).to_string())
                            } else {
                                (StatusCode::BAD_REQUEST, json!({ "error": "invalid_grant" }).to_string())
                            }
                        } else {
                            (
                                StatusCode::BAD_REQUEST,
                                json!({ "error": "invalid_grant" }).to_string(),
                            )
                        }
                    }
                }),
            )
            .route(
                "/apple/token",
                post(move |body: String| {
                    let form: std::collections::HashMap<String, String> =
                        url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
                    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
                    // The client secret: ES256 by the team's key, for the Services ID, minutes long.
                    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(team_jwk.clone()).unwrap();
                    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
                    validation.set_audience(&["https://appleid.apple.com"]);
                    validation.set_issuer(&[TEAM]);
                    let secret = jsonwebtoken::decode::<Value>(
                        &field("client_secret"),
                        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
                        &validation,
                    );
                    let ok = secret.is_ok_and(|t| {
                        t.claims["sub"] == SERVICES_ID && t.claims["exp"].as_i64().unwrap() <= now() + 3600
                    }) && field("client_id") == SERVICES_ID
                        && field("code") == "apple-code"
                        && field("redirect_uri").ends_with("/api/client/v2.0/auth/callback");
                    let token = apple_web_token.clone();
                    async move {
                        match ok {
                            true => (StatusCode::OK, json!({ "id_token": token }).to_string()),
                            false => (StatusCode::BAD_REQUEST, json!({ "error": "invalid_client" }).to_string()),
                        }
                    }
                }),
            )
            .route(
                "/graph/oauth/access_token",
                get(|Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    use base64::Engine;
                    use sha2::Digest;
                    let field = |k: &str| q.get(k).cloned().unwrap_or_default();
                    let made = base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(sha2::Sha256::digest(field("code_verifier").as_bytes()));
                    let ok = field("client_id") == FB_APP
                        && field("client_secret") == FB_SECRET
                        && field("code") == format!("fb-{made}")
                        && field("redirect_uri").ends_with("/api/client/v2.0/auth/callback");
                    match ok {
                        true => (StatusCode::OK, json!({"access_token": "fb-good", "token_type": "bearer"}).to_string()),
                        false => (StatusCode::BAD_REQUEST, json!({"error": {"message": "bad code"}}).to_string()),
                    }
                }),
            )
            .route(
                "/graph/debug_token",
                get(|Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    let app_token = format!("{FB_APP}|{FB_SECRET}");
                    if q.get("access_token") != Some(&app_token) {
                        return (StatusCode::BAD_REQUEST, json!({"error": {"message": "bad app token"}}).to_string());
                    }
                    let data = match q.get("input_token").map(String::as_str) {
                        Some("fb-good") => json!({"app_id": FB_APP, "is_valid": true, "user_id": "10001"}),
                        Some("fb-other-app") => json!({"app_id": "999", "is_valid": true, "user_id": "10002"}),
                        _ => json!({"is_valid": false}),
                    };
                    (StatusCode::OK, json!({ "data": data }).to_string())
                }),
            )
            .route(
                "/graph/me",
                get(|Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    match q.get("access_token").map(String::as_str) {
                        Some("fb-good") => (
                            StatusCode::OK,
                            json!({"id": "10001", "name": "Fay Book", "email": "fay@example.com"}).to_string(),
                        ),
                        _ => (StatusCode::BAD_REQUEST, "{}".to_owned()),
                    }
                }),
            )
            .route(
                "/function",
                post(move |headers: HeaderMap, body: String| {
                    let seen = seen.clone();
                    async move {
                        let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
                        let timestamp: i64 = header("webhook-timestamp").parse().unwrap_or(0);
                        let expected = appkeys_server::service::webhooks::signature(
                            FUNCTION_SECRET.as_bytes(),
                            header("webhook-id"),
                            timestamp,
                            &body,
                        );
                        if header("webhook-signature") != expected || (now() - timestamp).abs() > 300 {
                            return (StatusCode::UNAUTHORIZED, json!({"error": "bad signature"}).to_string());
                        }
                        let payload: Value = serde_json::from_str(&body).unwrap();
                        seen.lock().unwrap().push(payload.clone());
                        match payload["username"].as_str() {
                            Some("ok-user") => (StatusCode::OK, json!({"id": "fn-42", "name": "Func User"}).to_string()),
                            Some("slow") => {
                                tokio::time::sleep(Duration::from_secs(30)).await;
                                (StatusCode::OK, "{}".to_owned())
                            }
                            _ => (StatusCode::UNAUTHORIZED, json!({"error": "unknown user"}).to_string()),
                        }
                    }
                }),
            );
        let (url, task) = serve(router).await;
        Providers {
            url,
            google,
            apple,
            team,
            function_calls: calls,
            _task: task,
        }
    }

    /// The flags that point appkeys-server at these endpoints.
    fn args(&self, dir: &std::path::Path) -> Vec<String> {
        let file = |name: &str, secret: &str| {
            let path = dir.join(name);
            std::fs::create_dir_all(&path).unwrap();
            secret_file(&path, &[secret], 0o600)
        };
        let u = &self.url;
        [
            "--google-client-id",
            WEB_CLIENT,
            "--google-client-id",
            IOS_CLIENT,
            "--google-client-secret-file",
            &file("google", GOOGLE_SECRET),
            "--google-jwks-url",
            &format!("{u}/google/certs"),
            "--google-token-url",
            &format!("{u}/google/token"),
            "--google-auth-url",
            &format!("{u}/google/auth"),
            "--oauth-redirect-url",
            APP_PAGE,
            "--apple-client-id",
            SERVICES_ID,
            "--apple-client-id",
            BUNDLE,
            "--apple-jwks-url",
            &format!("{u}/apple/keys"),
            "--apple-team-id",
            TEAM,
            "--apple-key-id",
            "KEY0000001",
            "--apple-private-key-file",
            &{
                let path = dir.join("apple.p8");
                std::fs::write(&path, &self.team.pem).unwrap();
                let mut perms = std::fs::metadata(&path).unwrap().permissions();
                std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
                std::fs::set_permissions(&path, perms).unwrap();
                path.display().to_string()
            },
            "--apple-auth-url",
            &format!("{u}/apple/auth"),
            "--apple-token-url",
            &format!("{u}/apple/token"),
            "--facebook-auth-url",
            &format!("{u}/facebook/dialog"),
            "--facebook-app-id",
            FB_APP,
            "--facebook-app-secret-file",
            &file("facebook", FB_SECRET),
            "--facebook-graph-url",
            &format!("{u}/graph"),
            "--function-url",
            &format!("{u}/function"),
            "--function-secret-file",
            &file("function", FUNCTION_SECRET),
            "--provider-timeout",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

async fn login(c: &Client, provider: &str, body: Value) -> Resp {
    c.post(
        &format!("{P}/app/{APP}/auth/providers/{provider}/login"),
        body,
    )
    .await
}

async fn profile(c: &Client, access: &str) -> Value {
    let r = c
        .http
        .request(
            "GET",
            &format!("{}{P}/auth/profile", c.url),
            &[
                ("authorization", &format!("Bearer {access}")),
                ("x-forwarded-for", c.ip),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

fn user_of(r: &Resp) -> String {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["user_id"].as_str().unwrap().to_owned()
}

async fn users(db: &TestDb) -> i64 {
    let store = appkeys_server::Store::connect(&db.url).await.unwrap();
    store.count("SELECT COUNT(*) FROM users").await.unwrap()
}

struct Setup {
    providers: Providers,
    server: ServerProcess,
    db: TestDb,
    _dir: tempfile::TempDir,
}

async fn setup(extra: &[&str]) -> Setup {
    let providers = Providers::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db().await;
    let mut args = providers.args(dir.path());
    args.extend(["--trust-proxy", "127.0.0.1"].map(str::to_owned));
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = ServerProcess::start(&args, &db.url, &[]);
    Setup {
        providers,
        server,
        db,
        _dir: dir,
    }
}

#[tokio::test]
async fn google_id_tokens_and_codes_are_one_user_with_its_profile_and_keys() {
    let s = setup(&[]).await;
    let c = Client::new(&s.server, "203.0.113.30");
    let google = &s.providers.google;
    // The iOS client's ID token (App Services accepted one audience: the most reported error).
    let first = login(
        &c,
        "oauth2-google",
        json!({"id_token": google.sign(&google_claims("g-123", IOS_CLIENT))}),
    )
    .await;
    let user = user_of(&first);
    let p = profile(&c, first.json()["access_token"].as_str().unwrap()).await;
    assert_eq!(p["identities"][0]["provider_type"], "oauth2-google");
    assert_eq!(p["identities"][0]["id"], "g-123");
    assert_eq!(p["data"]["name"], "Gail Google");
    assert_eq!(p["data"]["email"], "gail@example.com");
    assert_eq!(p["data"]["picture"], "https://example.com/gail.png");
    assert_eq!(p["data"]["first_name"], "Gail");
    // The web client's token with the other issuer spelling, realm-core's body (`provider` at the top),
    // and an authorization code: the same user.
    let mut claims = google_claims("g-123", WEB_CLIENT);
    claims["iss"] = json!("accounts.google.com");
    let again = login(
        &c,
        "oauth2-google",
        json!({"id_token": google.sign(&claims), "provider": "oauth2-google"}),
    )
    .await;
    assert_eq!(user_of(&again), user);
    let by_code = login(&c, "oauth2-google", json!({"authCode": "4/good-code"})).await;
    assert_eq!(user_of(&by_code), user);
    // A Google user owns user API keys; the key logs in as them.
    let refresh = first.json()["refresh_token"].as_str().unwrap().to_owned();
    let (_, key) = c.create_key(&refresh, "from-google").await;
    assert_eq!(user_of(&c.key_login(&key).await), user);

    // Refused, and nothing is created.
    let before = users(&s.db).await;
    let other = EcKey::new();
    let forged = {
        // Same `kid` as Google's key, another key.
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(google.kid.clone());
        let key = jsonwebtoken::EncodingKey::from_ec_pem(other.pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, &google_claims("g-evil", WEB_CLIENT), &key).unwrap()
    };
    let mut expired = google_claims("g-late", WEB_CLIENT);
    expired["exp"] = json!(now() - 120);
    let mut wrong_iss = google_claims("g-iss", WEB_CLIENT);
    wrong_iss["iss"] = json!("https://evil.example");
    for (what, body, says) in [
        (
            "wrong audience",
            json!({"id_token": google.sign(&google_claims("g-aud", "someone-else"))}),
            "audience",
        ),
        (
            "wrong issuer",
            json!({"id_token": google.sign(&wrong_iss)}),
            "issuer",
        ),
        (
            "expired",
            json!({"id_token": google.sign(&expired)}),
            "expired",
        ),
        ("forged", json!({"id_token": forged}), "signature"),
        (
            "replayed code",
            json!({"authCode": "4/used-code"}),
            "invalid_grant",
        ),
        ("no token", json!({"nothing": true}), "neither"),
    ] {
        let r = login(&c, "oauth2-google", body).await;
        let message = r.assert_error(401, "AuthError");
        assert!(message.contains(says), "{what}: {message}");
    }
    assert_eq!(users(&s.db).await, before);
}

#[tokio::test]
async fn apple_facebook_and_the_function_log_in_their_users() {
    let s = setup(&[]).await;
    let c = Client::new(&s.server, "203.0.113.31");
    // Apple: the bundle id is the audience; the email reaches the profile.
    let apple_claims = |aud: &str| {
        json!({"iss": "https://appleid.apple.com", "sub": "001234.apple", "aud": aud,
        "exp": now() + 600, "iat": now(), "email": "ann@privaterelay.appleid.com"})
    };
    let apple = s.providers.apple.sign(&apple_claims(BUNDLE));
    let a = login(&c, "oauth2-apple", json!({ "id_token": apple })).await;
    let apple_user = user_of(&a);
    assert_eq!(
        user_of(&login(&c, "oauth2-apple", json!({ "id_token": apple })).await),
        apple_user
    );
    let p = profile(&c, a.json()["access_token"].as_str().unwrap()).await;
    assert_eq!(p["identities"][0]["provider_type"], "oauth2-apple");
    assert_eq!(p["data"]["email"], "ann@privaterelay.appleid.com");
    let wrong = s.providers.apple.sign(&apple_claims("com.other.app"));
    login(&c, "oauth2-apple", json!({ "id_token": wrong }))
        .await
        .assert_error(401, "AuthError");
    // A Google-signed token is no Apple token.
    let google_token = s.providers.google.sign(&apple_claims(BUNDLE));
    login(&c, "oauth2-apple", json!({ "id_token": google_token }))
        .await
        .assert_error(401, "AuthError");

    // Facebook: the token is checked with the app's credentials, the profile read with the token.
    let f = login(&c, "oauth2-facebook", json!({"accessToken": "fb-good"})).await;
    let fb_user = user_of(&f);
    let p = profile(&c, f.json()["access_token"].as_str().unwrap()).await;
    assert_eq!(p["identities"][0]["id"], "10001");
    assert_eq!(p["data"]["name"], "Fay Book");
    assert_eq!(
        user_of(&login(&c, "oauth2-facebook", json!({"accessToken": "fb-good"})).await),
        fb_user
    );
    for bad in ["fb-other-app", "fb-invalid"] {
        let r = login(&c, "oauth2-facebook", json!({ "accessToken": bad })).await;
        let message = r.assert_error(401, "AuthError");
        assert!(
            message.contains("not a valid token of this Facebook app"),
            "{message}"
        );
    }

    // The function: it gets the payload, signed (it checks the signature), and names the user.
    let fun = login(
        &c,
        "custom-function",
        json!({"username": "ok-user", "provider": "custom-function"}),
    )
    .await;
    let fn_user = user_of(&fun);
    let p = profile(&c, fun.json()["access_token"].as_str().unwrap()).await;
    assert_eq!(p["identities"][0]["id"], "fn-42");
    assert_eq!(p["data"]["name"], "Func User");
    assert_eq!(
        s.providers.function_calls.lock().unwrap()[0],
        json!({"username": "ok-user"})
    );
    let refused = login(&c, "custom-function", json!({"username": "mallory"})).await;
    let message = refused.assert_error(401, "AuthError");
    assert!(message.contains("unknown user"), "{message}");
    assert_eq!(
        [apple_user.clone(), fb_user.clone(), fn_user.clone()]
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        3
    );
}

#[tokio::test]
async fn slow_providers_answer_503_within_the_timeout() {
    let providers = Providers::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db().await;
    let mut args = providers.args(dir.path());
    // Google's keys never come; nor does the Graph API's answer.
    let at = args.iter().position(|a| a == "--google-jwks-url").unwrap();
    args[at + 1] = format!("{}/slow/certs", providers.url);
    let at = args
        .iter()
        .position(|a| a == "--facebook-graph-url")
        .unwrap();
    args[at + 1] = format!("{}/slow", providers.url);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = ServerProcess::start(&args, &db.url, &[]);
    let c = Client::new(&server, "127.0.0.1");
    for (provider, body) in [
        (
            "oauth2-google",
            json!({"id_token": providers.google.sign(&google_claims("g-1", WEB_CLIENT))}),
        ),
        ("custom-function", json!({"username": "slow"})),
        ("oauth2-facebook", json!({"accessToken": "fb-good"})),
    ] {
        let started = Instant::now();
        let r = login(&c, provider, body).await;
        r.assert_error(503, "ServiceUnavailable");
        assert!(r.headers.contains_key("retry-after"), "{provider}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{provider}: {:?}",
            started.elapsed()
        );
    }
    assert_eq!(users(&db).await, 0);
    // The failures are logged, but never the Graph API URL with the app secret and the user's token.
    let log = server.stderr();
    assert!(log.contains("sign-in provider unavailable"), "{log}");
    assert!(
        !log.contains(FB_SECRET) && !log.contains("fb-good"),
        "{log}"
    );
}

#[tokio::test]
async fn providers_that_are_off_are_404_and_bad_settings_refuse_to_start() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&[], &db.url, &[]);
    let c = Client::new(&server, "127.0.0.1");
    for provider in [
        "oauth2-google",
        "oauth2-apple",
        "oauth2-facebook",
        "custom-function",
    ] {
        login(&c, provider, json!({}))
            .await
            .assert_error(404, "AuthProviderNotFound");
    }
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_file(dir.path(), &["facebook-app-secret"], 0o600);
    for (args, says) in [
        (
            vec!["--facebook-app-id", "1"],
            "--facebook-app-id needs --facebook-app-secret-file",
        ),
        (
            vec!["--function-url", "https://fn.example.com/login"],
            "--function-url needs --function-secret-file",
        ),
        (
            vec![
                "--google-client-id",
                "x",
                "--google-jwks-url",
                "http://keys.example.com/certs",
            ],
            "--google-jwks-url",
        ),
        (
            vec![
                "--facebook-app-id",
                "1",
                "--facebook-app-secret-file",
                &secret,
                "--facebook-graph-url",
                "ftp://x",
            ],
            "--facebook-graph-url",
        ),
        (
            vec!["--google-client-secret-file", &secret],
            "--google-client-secret-file needs --google-client-id",
        ),
        (
            vec!["--apple-client-id", "web.id", "--apple-team-id", "T1"],
            "--apple-team-id, --apple-key-id and --apple-private-key-file go together",
        ),
        (
            vec![
                "--apple-client-id",
                "web.id",
                "--apple-team-id",
                "T1",
                "--apple-key-id",
                "K1",
                "--apple-private-key-file",
                &secret,
            ],
            "--apple-private-key-file: not a P-256 private key in PEM",
        ),
    ] {
        let Err((status, err)) = ServerProcess::try_start(&args, &db.url, &[]) else {
            panic!("started with {args:?}");
        };
        assert!(!status.success());
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[tokio::test]
async fn imported_identities_of_these_providers_log_in_as_their_users() {
    let s = setup(&[]).await;
    let files = tempfile::tempdir().unwrap();
    let record = |id: &str, kind: &str, identity: &str| {
        json!({"_id": id, "identities": [{"id": identity, "provider_type": kind}], "type": "normal",
               "creation_date": 1_600_000_000, "disabled": false, "data": {}})
    };
    let (g, a, f) = (
        "5f1a9c2e8b3d4e6f7a8b9c21",
        "5f1a9c2e8b3d4e6f7a8b9c22",
        "5f1a9c2e8b3d4e6f7a8b9c23",
    );
    let path = files.path().join("users.json");
    let list = json!([
        record(g, "oauth2-google", "g-imported"),
        record(a, "oauth2-apple", "001234.apple"),
        record(f, "custom-function", "fn-42")
    ]);
    std::fs::write(&path, list.to_string()).unwrap();
    let out = std::process::Command::new(BIN)
        .args([
            "users",
            "import",
            path.to_str().unwrap(),
            "--app",
            APP,
            "--database-url",
            &s.db.url,
        ])
        .env_remove("APPKEYS_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = Client::new(&s.server, "203.0.113.32");
    let google = s
        .providers
        .google
        .sign(&google_claims("g-imported", WEB_CLIENT));
    assert_eq!(
        user_of(&login(&c, "oauth2-google", json!({ "id_token": google })).await),
        g
    );
    let apple = s.providers.apple.sign(
        &json!({"iss": "https://appleid.apple.com", "sub": "001234.apple",
        "aud": BUNDLE, "exp": now() + 600}),
    );
    assert_eq!(
        user_of(&login(&c, "oauth2-apple", json!({ "id_token": apple })).await),
        a
    );
    assert_eq!(
        user_of(&login(&c, "custom-function", json!({"username": "ok-user"})).await),
        f
    );
}

#[tokio::test]
async fn a_google_identity_links_to_an_email_user_and_static_custom_jwt_keys_verify() {
    let key = EcKey::new();
    let public_pem = {
        use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
        let secret = p256::SecretKey::from_pkcs8_pem(&key.pem).unwrap();
        secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let pem_file = dir.path().join("idp-public.pem");
    std::fs::write(&pem_file, &public_pem).unwrap();
    let s = setup(&["--custom-jwt-public-key-file", pem_file.to_str().unwrap()]).await;
    let c = Client::new(&s.server, "203.0.113.33");
    // Static key: a token it signed logs in; one of another key does not.
    let claims = json!({"sub": "static|1", "aud": APP, "exp": now() + 600});
    let user = user_of(&login(&c, "custom-token", json!({"token": key.sign(&claims)})).await);
    let r = login(
        &c,
        "custom-token",
        json!({"token": EcKey::new().sign(&claims)}),
    )
    .await;
    r.assert_error(401, "AuthError");
    // That user links a Google identity; Google logins are then that user.
    let session = login(&c, "custom-token", json!({"token": key.sign(&claims)})).await;
    let access = session.json()["access_token"].as_str().unwrap().to_owned();
    let google = s
        .providers
        .google
        .sign(&google_claims("g-linked", WEB_CLIENT));
    let r = c
        .http
        .request(
            "POST",
            &format!(
                "{}{P}/app/{APP}/auth/providers/oauth2-google/login?link=true",
                c.url
            ),
            &[
                ("authorization", &format!("Bearer {access}")),
                ("content-type", "application/json"),
                ("x-forwarded-for", c.ip),
            ],
            Some(json!({ "id_token": google }).to_string().into_bytes()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        user_of(&login(&c, "oauth2-google", json!({ "id_token": google })).await),
        user
    );
}

/// A GET without following redirects: `(status, location, set-cookie)`.
async fn visit(url: &str, cookie: Option<&str>) -> (StatusCode, String, String) {
    let mut headers = vec![];
    if let Some(c) = cookie {
        headers.push(("cookie", c));
    }
    let r = HttpClient::new().request("GET", url, &headers, None).await;
    let header = |k: &str| {
        r.headers
            .get(k)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    (r.status, header("location"), header("set-cookie"))
}

/// The `_baas_*` parameters of a redirect to the app page.
fn baas(location: &str) -> std::collections::HashMap<String, String> {
    let (page, fragment) = location.split_once('#').expect("a fragment");
    assert_eq!(page, APP_PAGE);
    url::form_urlencoded::parse(fragment.as_bytes())
        .into_owned()
        .collect()
}

/// The web redirect flow (realm-web's `Credentials.google({ redirectUrl })`), as a browser walks it: the
/// login window is sent to Google with PKCE, Google calls back, the window lands on the app page with the
/// `_baas_*` result; a page off the allow-list, a replayed callback, another browser and a provider error
/// never yield tokens.
#[tokio::test]
async fn the_google_redirect_flow_lands_on_the_app_page_with_tokens() {
    let s = setup(&[]).await;
    let base = format!(
        "{}{P}/app/{APP}/auth/providers/oauth2-google/login",
        s.server.url
    );
    let start = |redirect: &str, state: &str| {
        let mut url = url::Url::parse(&base).unwrap();
        url.query_pairs_mut()
            .append_pair("redirect", redirect)
            .append_pair("state", state)
            .append_pair(
                "device",
                "eyJkZXZpY2VJZCI6IjViNTkzMTU0OGQ3OWJjNzg0YWRmNDZlYSJ9",
            );
        url.to_string()
    };
    // 1. The login window: to Google, with a cookie holding the PKCE verifier.
    let (status, to_google, set_cookie) = visit(&start(APP_PAGE, "realm-state-1"), None).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(
        to_google.starts_with(&format!("{}/google/auth?", s.providers.url)),
        "{to_google}"
    );
    assert!(
        to_google.contains("code_challenge_method=S256"),
        "{to_google}"
    );
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    // 2. Google approves and calls back. Without the cookie (another browser) the callback yields
    // nothing, and the flow is used up.
    let (status, callback, _) = visit(&to_google, None).await;
    assert_eq!(status, StatusCode::FOUND);
    let (status, location, _) = visit(&callback, None).await;
    assert_eq!((status, location.as_str()), (StatusCode::BAD_REQUEST, ""));
    // 3. With it, the callback lands on the app page with the tokens.
    let (_, to_google, set_cookie) = visit(&start(APP_PAGE, "realm-state-2"), None).await;
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let (_, callback, _) = visit(&to_google, None).await;
    let (status, landing, _) = visit(&callback, Some(&cookie)).await;
    assert_eq!(status, StatusCode::FOUND);
    let result = baas(&landing);
    assert_eq!(result["_baas_state"], "realm-state-2");
    assert_eq!(result["_baas_client_app_id"], APP);
    let parts: Vec<&str> = result["_baas_ua"].split('$').collect();
    assert_eq!(parts.len(), 4);
    assert_eq!(
        parts[3], "5b5931548d79bc784adf46ea",
        "the window's device id"
    );
    let c = Client::new(&s.server, "127.0.0.1");
    let p = profile(&c, parts[0]).await;
    assert_eq!(p["identities"][0]["id"], "g-web");
    assert_eq!(p["user_id"], parts[2]);
    // The same user as an ID-token login of that subject.
    let token = s.providers.google.sign(&google_claims("g-web", IOS_CLIENT));
    assert_eq!(
        user_of(&login(&c, "oauth2-google", json!({ "id_token": token })).await),
        parts[2]
    );
    // The callback again (replayed): nothing.
    let (status, location, _) = visit(&callback, Some(&cookie)).await;
    assert_eq!((status, location.as_str()), (StatusCode::BAD_REQUEST, ""));
    // A page off the allow-list: an error page, no redirect, no flow.
    for page in [
        "https://evil.example/steal",
        "https://notes.example/auth/done/extra",
    ] {
        let (status, location, set_cookie) = visit(&start(page, "x"), None).await;
        assert_eq!(
            (status, location.as_str(), set_cookie.as_str()),
            (StatusCode::BAD_REQUEST, "", "")
        );
    }
    // The provider says no: the app page learns it (no tokens).
    let (_, to_google, set_cookie) = visit(&start(APP_PAGE, "realm-state-3"), None).await;
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let state = url::Url::parse(&to_google)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let denied = format!(
        "{}{P}/auth/callback?error=access_denied&state={state}",
        s.server.url
    );
    let (status, landing, _) = visit(&denied, Some(&cookie)).await;
    assert_eq!(status, StatusCode::FOUND);
    let result = baas(&landing);
    assert!(
        result["_baas_error"].contains("access_denied"),
        "{result:?}"
    );
    assert_eq!(result["_baas_state"], "realm-state-3");
    assert!(!result.contains_key("_baas_ua"));
}

/// Starting redirect flows is limited per client like anonymous logins (each start writes a row).
#[tokio::test]
async fn redirect_flow_starts_are_limited_per_client() {
    let s = setup(&["--anonymous-logins-per-ip", "2"]).await;
    let url = format!(
        "{}{P}/app/{APP}/auth/providers/oauth2-google/login?redirect={}&state=s",
        s.server.url,
        url::form_urlencoded::byte_serialize(APP_PAGE.as_bytes()).collect::<String>()
    );
    for _ in 0..2 {
        assert_eq!(visit(&url, None).await.0, StatusCode::FOUND);
    }
    assert_eq!(visit(&url, None).await.0, StatusCode::TOO_MANY_REQUESTS);
    let store = appkeys_server::Store::connect(&s.db.url).await.unwrap();
    assert_eq!(
        store
            .count("SELECT COUNT(*) FROM oauth_flows")
            .await
            .unwrap(),
        2
    );
}

/// The value of `name` in the query of `url`.
fn query_value(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The redirect flows of `Credentials.apple(url)` and `Credentials.facebook(url)`, as a browser walks them:
/// Apple posts its answer (form_post) and appkeys signs its client secret with the team's key; Facebook
/// takes PKCE. Both land on the app page as the user of an ID-token / access-token login; a code the
/// provider refuses lands with an error and creates nobody.
#[tokio::test]
async fn the_apple_and_facebook_redirect_flows_land_on_the_app_page() {
    let s = setup(&[]).await;
    let c = Client::new(&s.server, "127.0.0.1");
    let start = |provider: &str, state: &str| {
        let mut url = url::Url::parse(&format!(
            "{}{P}/app/{APP}/auth/providers/{provider}/login",
            s.server.url
        ))
        .unwrap();
        url.query_pairs_mut()
            .append_pair("redirect", APP_PAGE)
            .append_pair("state", state);
        url.to_string()
    };
    // Apple: to the authorization page with form_post, then Apple's POST to the callback.
    let (status, to_apple, set_cookie) = visit(&start("oauth2-apple", "st-apple"), None).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(
        to_apple.starts_with(&format!("{}/apple/auth?", s.providers.url)),
        "{to_apple}"
    );
    assert_eq!(query_value(&to_apple, "response_mode"), "form_post");
    assert_eq!(query_value(&to_apple, "client_id"), SERVICES_ID);
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let posted = |code: &str, state: &str| {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("code", code)
            .append_pair("state", state)
            .append_pair(
                "user",
                r#"{"name":{"firstName":"Ada","lastName":"Apple"},"email":"x@y"}"#,
            )
            .finish();
        let url = format!("{}{P}/auth/callback", s.server.url);
        async move {
            let r = HttpClient::new()
                .request(
                    "POST",
                    &url,
                    &[("content-type", "application/x-www-form-urlencoded")],
                    Some(form.into_bytes()),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK);
            // The page of this origin that sends the answer on as a GET.
            let page = r.text();
            let start = page.find("url=").unwrap() + 4;
            let end = start + page[start..].find('"').unwrap();
            page[start..end].replace("&amp;", "&")
        }
    };
    let users_before = users(&s.db).await;
    let onward = posted("apple-code", &query_value(&to_apple, "state")).await;
    assert!(
        onward.starts_with(&format!("{}{P}/auth/callback?", s.server.url)),
        "{onward}"
    );
    let (status, landing, _) = visit(&onward, Some(&cookie)).await;
    assert_eq!(status, StatusCode::FOUND, "{landing}");
    let result = baas(&landing);
    assert_eq!(result["_baas_state"], "st-apple");
    let parts: Vec<&str> = result["_baas_ua"].split('$').collect();
    let p = profile(&c, parts[0]).await;
    assert_eq!(p["identities"][0]["provider_type"], "oauth2-apple");
    assert_eq!(p["identities"][0]["id"], "apple-web");
    assert_eq!(p["data"]["name"], "Ada Apple");
    assert_eq!(p["data"]["email"], "ada@privaterelay.appleid.com");
    assert_eq!(users(&s.db).await, users_before + 1);
    // A code Apple refuses: the app page gets an error, nobody is created.
    let (_, to_apple, set_cookie) = visit(&start("oauth2-apple", "st-apple-2"), None).await;
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let onward = posted("forged-code", &query_value(&to_apple, "state")).await;
    let (status, landing, _) = visit(&onward, Some(&cookie)).await;
    assert_eq!(status, StatusCode::FOUND);
    let result = baas(&landing);
    assert!(
        result["_baas_error"].contains("invalid_client"),
        "{result:?}"
    );
    assert!(!result.contains_key("_baas_ua"));
    assert_eq!(users(&s.db).await, users_before + 1);

    // Facebook: the dialog with PKCE; the code is exchanged with the verifier at the Graph API.
    let (status, to_facebook, set_cookie) = visit(&start("oauth2-facebook", "st-fb"), None).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(
        to_facebook.starts_with(&format!("{}/facebook/dialog?", s.providers.url)),
        "{to_facebook}"
    );
    assert_eq!(query_value(&to_facebook, "client_id"), FB_APP);
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let callback = |code: String, state: String| {
        let mut url = url::Url::parse(&format!("{}{P}/auth/callback", s.server.url)).unwrap();
        url.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &state);
        url.to_string()
    };
    let challenge = query_value(&to_facebook, "code_challenge");
    let state = query_value(&to_facebook, "state");
    let (status, landing, _) =
        visit(&callback(format!("fb-{challenge}"), state), Some(&cookie)).await;
    assert_eq!(status, StatusCode::FOUND);
    let result = baas(&landing);
    assert_eq!(result["_baas_state"], "st-fb");
    let parts: Vec<&str> = result["_baas_ua"].split('$').collect();
    let p = profile(&c, parts[0]).await;
    assert_eq!(p["identities"][0]["id"], "10001");
    assert_eq!(p["data"]["name"], "Fay Book");
    // The same user as an access-token login.
    assert_eq!(
        user_of(&login(&c, "oauth2-facebook", json!({ "accessToken": "fb-good" })).await),
        parts[2]
    );
    // A code made for another challenge (stolen from another flow): refused, nothing created.
    let before = users(&s.db).await;
    let (_, to_facebook, set_cookie) = visit(&start("oauth2-facebook", "st-fb-2"), None).await;
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let state = query_value(&to_facebook, "state");
    let (status, landing, _) =
        visit(&callback(format!("fb-{challenge}"), state), Some(&cookie)).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(
        baas(&landing)["_baas_error"].contains("refused"),
        "{landing}"
    );
    assert_eq!(users(&s.db).await, before);
}
