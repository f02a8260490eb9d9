//! Issue 31: custom user data against a real server process — written by the app's backend through the
//! admin API (HTTP Basic, `--admin-credentials-file`) and the admin CLI, carried in the access token's
//! `user_data` claim and the profile; refused writes change nothing; `users import --custom-data`.

use axum::http::StatusCode;
use base64::Engine;
use serde_json::{json, Value};

use crate::customjwt::secret_file;
use crate::support::*;

const ADMIN: &str = "backend:an admin secret of the app's own backend";

struct Admin {
    url: String,
}

impl Admin {
    async fn call(&self, method: &str, user: &str, auth: Option<&str>, body: Option<&str>) -> Resp {
        let basic = auth.map(|a| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(a)
            )
        });
        let mut headers = vec![("content-type", "application/json")];
        if let Some(b) = &basic {
            headers.push(("authorization", b.as_str()));
        }
        HttpClient::new()
            .request(
                method,
                &format!("{}/api/admin/v1/users/{user}/custom_data", self.url),
                &headers,
                body.map(|b| b.as_bytes().to_vec()),
            )
            .await
    }
}

fn user_data(access: &str) -> Value {
    jwt_claims(access)["user_data"].clone()
}

#[tokio::test]
async fn the_backend_writes_custom_data_and_the_next_token_carries_it() {
    let db = fresh_db().await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = secret_file(dir.path(), &[ADMIN], 0o600);
    let server = ServerProcess::start(&["--admin-credentials-file", &credentials], &db.url, &[]);
    let admin = Admin {
        url: server.url.clone(),
    };
    let c = Client::new(&server, "127.0.0.1");
    c.register("data@example.com").await;
    let login = c.password_login("data@example.com", PASSWORD).await;
    let tokens = Tokens::from(&login);
    // No data yet: no claim (realm-web reads `{}`), and the API answers `{}`.
    assert_eq!(user_data(&tokens.access), Value::Null);
    let r = admin.call("GET", &tokens.user_id, Some(ADMIN), None).await;
    assert_eq!((r.status, r.json()), (StatusCode::OK, json!({})));

    let data = json!({"plan": "pro", "roles": ["editor"], "tenant": {"id": 7}});
    let r = admin
        .call("PUT", &tokens.user_id, Some(ADMIN), Some(&data.to_string()))
        .await;
    r.assert_no_content();
    // The owner's next refresh carries it; so do new logins and the profile.
    let refreshed = c.refresh(&tokens.refresh).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(user_data(&refreshed), data);
    let again = c.password_login("data@example.com", PASSWORD).await;
    assert_eq!(
        user_data(again.json()["access_token"].as_str().unwrap()),
        data
    );
    let (key_id, secret) = c.create_key(&tokens.refresh, "svc").await;
    let _ = key_id;
    let key_session = c.key_login(&secret).await;
    assert_eq!(
        user_data(key_session.json()["access_token"].as_str().unwrap()),
        data
    );
    let profile = HttpClient::new()
        .request(
            "GET",
            &format!("{}{P}/auth/profile", server.url),
            &[("authorization", &format!("Bearer {refreshed}"))],
            None,
        )
        .await;
    assert_eq!(profile.json()["custom_data"], data);

    // Refused writes change nothing: no or wrong credentials, too large, not JSON, not an object.
    let big = json!({ "blob": "x".repeat(17 * 1024) }).to_string();
    let refused = [
        (None, "{\"plan\":\"free\"}", 401, "AuthError"),
        (
            Some("backend:wrong"),
            "{\"plan\":\"free\"}",
            401,
            "AuthError",
        ),
        (Some(ADMIN), big.as_str(), 413, "PayloadTooLarge"),
        (Some(ADMIN), "{\"plan\":", 400, "BadRequest"),
        (Some(ADMIN), "[1, 2]", 400, "BadRequest"),
    ];
    for (auth, body, status, code) in refused {
        let r = admin.call("PUT", &tokens.user_id, auth, Some(body)).await;
        r.assert_error(status, code);
    }
    let r = admin.call("GET", &tokens.user_id, Some(ADMIN), None).await;
    assert_eq!(r.json(), data);
    admin
        .call("PUT", "5f0000000000000000000000", Some(ADMIN), Some("{}"))
        .await
        .assert_error(404, "UserNotFound");

    // The admin CLI: get, set (also from stdin), clear — audited like the API writes.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .args(["users", "--database-url", &db.url, "custom-data"])
            .args(args)
            .env_remove("APPKEYS_DATABASE_URL")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, _) = cli(&["get", &tokens.user_id]);
    assert!(ok);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), data);
    let (ok, _, _) = cli(&["set", &tokens.user_id, r#"{"plan":"team"}"#]);
    assert!(ok);
    let r = admin.call("GET", &tokens.user_id, Some(ADMIN), None).await;
    assert_eq!(r.json(), json!({"plan": "team"}));
    let (ok, _, err) = cli(&["set", &tokens.user_id, "[]"]);
    assert!(!ok && err.contains("must be a JSON object"), "{err}");
    let (ok, _, _) = cli(&["clear", &tokens.user_id]);
    assert!(ok);
    let refreshed = c.refresh(&tokens.refresh).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(user_data(&refreshed), Value::Null);
    let store = appkeys_server::Store::connect(&db.url).await.unwrap();
    let audited = store
        .count("SELECT COUNT(*) FROM audit WHERE event IN ('user.custom_data_set', 'user.custom_data_cleared')")
        .await
        .unwrap();
    assert_eq!(audited, 3, "one API write and two CLI writes");
    // Refused callers are audited in aggregate (written within the aggregation interval).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let refused = store
            .count("SELECT COUNT(*) FROM audit WHERE event = 'admin.refused'")
            .await
            .unwrap();
        if refused >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no admin.refused audit row"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn without_credentials_the_admin_api_is_off() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&[], &db.url, &[]);
    let admin = Admin {
        url: server.url.clone(),
    };
    admin
        .call("GET", "5f0000000000000000000000", Some(ADMIN), None)
        .await
        .assert_error(404, "NotFound");
}

#[tokio::test]
async fn users_import_takes_a_custom_data_export() {
    let db = fresh_db().await;
    let store = appkeys_server::Store::connect(&db.url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.json");
    std::fs::write(
        &users,
        json!([
            {"_id": "6000000000000000000000a1", "identities": [{"id": "a1", "provider_type": "local-userpass", "provider_data": {"email": "a1@example.com"}}], "data": {"email": "a1@example.com"}, "creation_date": 1700000000},
            {"_id": "6000000000000000000000a2", "identities": [{"id": "sub-a2", "provider_type": "custom-token"}], "creation_date": 1700000000}
        ])
        .to_string(),
    )
    .unwrap();
    // As mongoexport writes a collection: one document per line, `_id` and the user id field with $oid.
    let custom = dir.path().join("custom.jsonl");
    std::fs::write(
        &custom,
        [
            r#"{"_id":{"$oid":"65aa00000000000000000001"},"userId":"6000000000000000000000a1","plan":"pro"}"#,
            r#"{"_id":{"$oid":"65aa00000000000000000002"},"userId":{"$oid":"6000000000000000000000a2"},"roles":["admin"]}"#,
            r#"{"_id":{"$oid":"65aa00000000000000000003"},"userId":"6000000000000000000000ff","plan":"lost"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let import = |extra: &[&str]| {
        std::process::Command::new(BIN)
            .args(["users", "--database-url", &db.url, "import"])
            .arg(&users)
            .args(["--app", APP, "--custom-data"])
            .arg(&custom)
            .args(extra)
            .env_remove("APPKEYS_DATABASE_URL")
            .output()
            .unwrap()
    };
    // Without the right id field: refused before anything is written.
    let out = import(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("record 1 (line 1)") && err.contains("user_id"),
        "{err}"
    );
    assert_eq!(store.count("SELECT COUNT(*) FROM users").await.unwrap(), 0);

    let out = import(&["--custom-data-id-field", "userId"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("custom data: set for 2 users; 1 document names no user"),
        "{text}"
    );
    let a1 = store
        .custom_data("6000000000000000000000a1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&a1.unwrap()).unwrap(),
        json!({"userId": "6000000000000000000000a1", "plan": "pro"})
    );
    let a2 = store
        .custom_data("6000000000000000000000a2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&a2.unwrap()).unwrap()["roles"],
        json!(["admin"])
    );
}
