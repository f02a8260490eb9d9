//! Issue 31: `config from-app-services DIR` on exports shaped like real App Services apps — email/password with
//! custom user data; custom JWT with HS256 keys, an RS256 static key and a JWKS URL; Google, a custom function and
//! authentication triggers — each written config started and used by a real server process.

use std::path::Path;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{json, Value};

use crate::customjwt::{hs256, now, EcKey, SECRET_A};
use crate::support::*;

/// Writes the export files `(relative path, JSON)` under `dir`.
fn export(dir: &Path, files: &[(&str, Value)]) {
    for (path, value) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    }
}

/// Runs the importer; returns (success, stdout + stderr).
fn import(export: &Path, out: &Path, extra: &[&str]) -> (bool, String) {
    let o = std::process::Command::new(BIN)
        .args(["config", "from-app-services"])
        .arg(export)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

async fn post_json(url: &str, body: Value) -> Resp {
    HttpClient::new()
        .request(
            "POST",
            url,
            &[("content-type", "application/json")],
            Some(body.to_string().into_bytes()),
        )
        .await
}

fn login_url(server: &ServerProcess, app: &str, provider: &str) -> String {
    format!(
        "{}{P}/app/{app}/auth/providers/{provider}/login",
        server.url
    )
}

#[tokio::test]
async fn email_password_with_custom_user_data_starts_as_exported() {
    let dir = tempfile::tempdir().unwrap();
    let app_dir = dir.path().join("notes");
    export(
        &app_dir,
        &[
            (
                "realm_config.json",
                json!({"app_id": "notes-abcde", "name": "notes"}),
            ),
            (
                "auth/providers.json",
                json!([
                    {"name": "local-userpass", "type": "local-userpass", "disabled": false, "config": {
                        "autoConfirm": false, "emailConfirmationUrl": "https://notes.example/confirm",
                        "resetPasswordUrl": "https://notes.example/reset", "runConfirmationFunction": false,
                        "runResetFunction": true, "resetFunctionName": "resetFunc"}},
                    {"name": "anon-user", "type": "anon-user", "disabled": false},
                    {"name": "api-key", "type": "api-key", "disabled": false}
                ]),
            ),
            (
                "auth/custom_user_data.json",
                json!({"enabled": true, "mongo_service_name": "mongodb-atlas", "database_name": "notes",
                       "collection_name": "users", "user_id_field": "userId",
                       "on_user_creation_function_name": "onUserCreated"}),
            ),
        ],
    );
    let out = dir.path().join("conf/appkeys.toml");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let (ok, report) = import(&app_dir, &out, &[]);
    assert!(ok, "{report}");
    for says in [
        "local-userpass (confirmation on)",
        "--custom-data-id-field userId",
        "runResetFunction (resetFunc)",
        "on_user_creation_function_name (onUserCreated)",
        "smtp-url",
    ] {
        assert!(report.contains(says), "{says}: {report}");
    }
    // Never overwritten without --force.
    let (ok, again) = import(&app_dir, &out, &[]);
    assert!(!ok && again.contains("--force"), "{again}");
    let db = fresh_db().await;
    let config = out.display().to_string();
    let server = ServerProcess::start(&["--config", &config], &db.url, &[]);
    // The export's app id is served, with confirmation on (the email goes to the mail folder).
    let register = format!(
        "{}{P}/app/notes-abcde/auth/providers/local-userpass/register",
        server.url
    );
    let r = post_json(
        &register,
        json!({"email": "n@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = post_json(
        &login_url(&server, "notes-abcde", "local-userpass"),
        json!({"username": "n@example.com", "password": PASSWORD}),
    )
    .await;
    r.assert_error(401, "UserNotConfirmed");
    let mail = std::fs::read_dir(dir.path().join("conf/mail"))
        .unwrap()
        .count();
    assert_eq!(mail, 1, "the confirmation email");
}

#[tokio::test]
async fn custom_jwt_exports_hs256_rs256_and_jwks_log_in() {
    let dir = tempfile::tempdir().unwrap();
    // An RS256 key pair of the identity provider (App Services' static "signing key" option).
    let rsa = dir.path().join("rsa.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&rsa)
        .status()
        .unwrap();
    assert!(status.success());
    let public = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&rsa)
        .output()
        .unwrap();
    let public = String::from_utf8(public.stdout).unwrap();
    let ec = EcKey::new();
    let jwk = ec.jwk.clone();
    let (jwks, _task) = serve(axum::Router::new().route(
        "/jwks",
        get(move || async move { json!({ "keys": [jwk] }).to_string() }),
    ))
    .await;
    let claims = json!({"sub": "idp|ada", "aud": "notes-api", "exp": now() + 600, "iat": now(), "name": "Ada"});
    let rs_token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&std::fs::read(&rsa).unwrap()).unwrap(),
    )
    .unwrap();
    let variants = [
        (
            "hs256",
            json!({"signingAlgorithm": "HS256", "useJWKURI": false}),
            hs256(SECRET_A, &claims),
        ),
        (
            "rs256",
            json!({"signingAlgorithm": "RS256", "useJWKURI": false}),
            rs_token,
        ),
        (
            "jwks",
            json!({"signingAlgorithm": "RS256", "useJWKURI": true, "jwkURI": format!("{jwks}/jwks")}),
            ec.sign(&claims),
        ),
    ];
    let secrets = dir.path().join("secrets.json");
    std::fs::write(
        &secrets,
        json!({"hsKey": SECRET_A, "rsaKey": public}).to_string(),
    )
    .unwrap();
    for (name, mut config, token) in variants {
        config["audience"] = json!(["notes-api"]);
        let key = if name == "rs256" { "rsaKey" } else { "hsKey" };
        let app_dir = dir.path().join(name);
        export(
            &app_dir,
            &[
                (
                    "config.json",
                    json!({"app_id": "jwt-app", "config_version": 20210101}),
                ),
                (
                    "auth/providers.json",
                    json!([{"name": "custom-token", "type": "custom-token", "disabled": false,
                            "config": config, "secret_config": {"signingKeys": [key]},
                            "metadata_fields": [{"required": true, "name": "name", "field_name": "name"}]}]),
                ),
            ],
        );
        let out = app_dir.join("appkeys.toml");
        let (ok, report) = import(&app_dir, &out, &["--secrets", secrets.to_str().unwrap()]);
        assert!(ok, "{name}: {report}");
        let db = fresh_db().await;
        let server = ServerProcess::start(&["--config", out.to_str().unwrap()], &db.url, &[]);
        let r = post_json(
            &login_url(&server, "jwt-app", "custom-token"),
            json!({ "token": token }),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{name}: {}", r.text());
        let access = r.json()["access_token"].as_str().unwrap().to_owned();
        let profile = HttpClient::new()
            .request(
                "GET",
                &format!("{}{P}/auth/profile", server.url),
                &[("authorization", &format!("Bearer {access}"))],
                None,
            )
            .await;
        assert_eq!(profile.json()["data"]["name"], "Ada", "{name}");
    }
    // Without the secrets: the HS256 file holds a random placeholder (no known key signs), reported to fill in.
    let app_dir = dir.path().join("hs256");
    let out = app_dir.join("unfilled.toml");
    let (ok, report) = import(&app_dir, &out, &[]);
    assert!(
        ok && report.contains("the HS256 signing keys hsKey"),
        "{report}"
    );
    let db = fresh_db().await;
    let server = ServerProcess::start(&["--config", out.to_str().unwrap()], &db.url, &[]);
    let token = hs256(SECRET_A, &claims);
    post_json(
        &login_url(&server, "jwt-app", "custom-token"),
        json!({ "token": token }),
    )
    .await
    .assert_error(401, "AuthError");
}

#[tokio::test]
async fn google_a_custom_function_and_triggers_become_providers_and_webhooks() {
    let dir = tempfile::tempdir().unwrap();
    let app_dir = dir.path().join("shop");
    export(
        &app_dir,
        &[
            ("root_config.json", json!({"app_id": "shop-xyz"})),
            (
                "values/googleClientId.json",
                json!({"name": "googleClientId", "value": "web.apps.googleusercontent.com", "from_secret": false}),
            ),
            (
                "auth/providers.json",
                json!([
                    {"name": "oauth2-google", "type": "oauth2-google", "disabled": false,
                     "config": {"clientId": "%%values.googleClientId", "openId": true},
                     "secret_config": {"clientSecret": "googleClientSecret"},
                     "metadata_fields": [{"required": false, "name": "name"}]},
                    {"name": "custom-function", "type": "custom-function", "disabled": false,
                     "config": {"authFunctionName": "authFunc"}},
                    {"name": "anon-user", "type": "anon-user", "disabled": true}
                ]),
            ),
            (
                "triggers/onCreate.json",
                json!({"name": "onCreate", "type": "AUTHENTICATION", "disabled": false,
                "config": {"operation_type": "CREATE", "providers": ["oauth2-google"]}, "function_name": "setUpUser"}),
            ),
            (
                "triggers/onDelete.json",
                json!({"name": "onDelete", "type": "AUTHENTICATION", "disabled": false,
                "config": {"operation_type": "DELETE", "providers": ["oauth2-google"]},
                "event_processors": {"FUNCTION": {"config": {"function_name": "cleanUp"}}}}),
            ),
            (
                "triggers/orders.json",
                json!({"name": "orders", "type": "DATABASE", "disabled": false}),
            ),
        ],
    );
    let out = dir.path().join("appkeys.toml");
    let (ok, report) = import(&app_dir, &out, &[]);
    assert!(ok, "{report}");
    for says in [
        "oauth2-google",
        "authentication triggers as webhooks (user.created, user.deleted)",
        "port functions/setUpUser",
        "port functions/cleanUp",
        "trigger orders (DATABASE): only authentication triggers carry over",
        "anon-user was disabled in App Services: appkeys always serves it",
        "googleClientSecret",
        "port functions/authFunc",
    ] {
        assert!(report.contains(says), "{says}: {report}");
    }
    // Fakes for what the operator fills in: Google's keys, the ported function (checking the generated secret),
    // and the webhook receiver (checking the generated secret too).
    let secret_of = |name: &str| {
        std::fs::read_to_string(dir.path().join("appkeys-secrets").join(name))
            .unwrap()
            .trim()
            .to_owned()
    };
    let function_key =
        appkeys_server::service::webhooks::signing_key(&secret_of("function-secret"));
    let webhook_key = appkeys_server::service::webhooks::signing_key(&secret_of("webhook-secret"));
    let google = EcKey::new();
    let jwk = google.jwk.clone();
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = received.clone();
    let verify = |key: &[u8], headers: &HeaderMap, body: &str| {
        let h = |k: &str| {
            headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let ts: i64 = h("webhook-timestamp").parse().unwrap_or(0);
        h("webhook-signature")
            == appkeys_server::service::webhooks::signature(key, &h("webhook-id"), ts, body)
    };
    let router = axum::Router::new()
        .route(
            "/certs",
            get(move || async move { json!({ "keys": [jwk] }).to_string() }),
        )
        .route(
            "/function",
            post(move |headers: HeaderMap, body: String| async move {
                match verify(&function_key, &headers, &body) {
                    true => (
                        StatusCode::OK,
                        json!({"id": "fn-7", "name": "Fn User"}).to_string(),
                    ),
                    false => (StatusCode::UNAUTHORIZED, "{}".to_owned()),
                }
            }),
        )
        .route(
            "/events",
            post(move |headers: HeaderMap, body: String| {
                let seen = seen.clone();
                async move {
                    if !verify(&webhook_key, &headers, &body) {
                        return StatusCode::UNAUTHORIZED;
                    }
                    seen.lock().unwrap().push(body);
                    StatusCode::NO_CONTENT
                }
            }),
        );
    let (fake, _task) = serve(router).await;
    let db = fresh_db().await;
    let (jwks, function, events) = (
        format!("{fake}/certs"),
        format!("{fake}/function"),
        format!("{fake}/events"),
    );
    let server = ServerProcess::start(
        &[
            "--config",
            out.to_str().unwrap(),
            "--google-jwks-url",
            &jwks,
            "--function-url",
            &function,
            "--webhook-url",
            &events,
        ],
        &db.url,
        &[],
    );
    let id_token = google.sign(
        &json!({"iss": "https://accounts.google.com", "sub": "g-shop",
        "aud": "web.apps.googleusercontent.com", "exp": now() + 600, "iat": now()}),
    );
    let r = post_json(
        &login_url(&server, "shop-xyz", "oauth2-google"),
        json!({ "id_token": id_token }),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = post_json(
        &login_url(&server, "shop-xyz", "custom-function"),
        json!({ "username": "x" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while received.lock().unwrap().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no user.created webhooks"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let types: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|b| {
            serde_json::from_str::<Value>(b).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(types, ["user.created", "user.created"]);
}
