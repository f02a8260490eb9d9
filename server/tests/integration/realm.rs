//! What every Realm device SDK (realm-core) depends on (issue 23, part): a `hostname` it can reach, and no
//! login of another user when it asks to link credentials.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

/// Runs the binary with exactly these serving flags (the support helpers add their own `--listen`); the
/// first stdout line and, if it exited, its stderr.
fn run_exactly(args: &[&str], db: &TestDb) -> (String, Option<String>, std::process::Child) {
    use std::io::{BufRead, BufReader, Read};
    let mut command = std::process::Command::new(BIN);
    command.args(args).args(["--database-url", &db.url]);
    for (k, _) in std::env::vars() {
        if k.starts_with("APPKEYS_") && !k.starts_with("APPKEYS_TEST_") {
            command.env_remove(k);
        }
    }
    if db.url.starts_with("postgres") {
        command
            .env("APPKEYS_JWT_SECRET", PG_TEST_SECRET)
            .env("APPKEYS_SIGNING_KEY_FILE", pg_signing_key_file());
    }
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line);
    if line.is_empty() {
        let mut err = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut err);
        let _ = child.wait();
        return (line, Some(err), child);
    }
    (line, None, child)
}

fn refused(args: &[&str], db: &TestDb) -> String {
    match run_exactly(args, db) {
        (_, Some(err), _) => err,
        (line, None, mut child) => {
            let _ = child.kill();
            panic!("{args:?} started: {line}")
        }
    }
}

#[tokio::test]
async fn the_location_never_hands_out_an_unreachable_hostname() {
    let db = fresh_db().await;
    // Every interface without a public URL: clients would be sent to 0.0.0.0.
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let err = refused(&["--listen", listen], &db);
        assert!(err.contains("--public-url"), "{listen}: {err}");
    }
    // A public URL with a path would be doubled by realm-core's `/api/client/v2.0/…`.
    for url in [
        "https://auth.example.com/appkeys",
        "https://auth.example.com/?x=1",
        "ftp://auth.example.com",
    ] {
        let err = refused(&["--public-url", url], &db);
        assert!(err.contains("--public-url"), "{url}: {err}");
    }
    // An origin (a trailing slash is fine): that is the hostname, even when listening everywhere.
    let (line, err, mut child) = run_exactly(
        &[
            "--listen",
            "0.0.0.0:0",
            "--public-url",
            "https://auth.example.com/",
        ],
        &db,
    );
    assert!(err.is_none(), "{err:?}");
    let port = line.trim().rsplit(':').next().unwrap().to_owned();
    let r = HttpClient::new()
        .request(
            "GET",
            &format!("http://127.0.0.1:{port}{P}/app/{APP}/location"),
            &[],
            None,
        )
        .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.json()["hostname"], "https://auth.example.com");
    assert_eq!(r.json()["ws_hostname"], "wss://auth.example.com");
}

/// realm-core stores the answer of `login?link=true` on the linking user: a link must answer for that user
/// (or with a JSON error), never with a login of the credentials' own user. (Before issue 24 every link
/// was refused with 400; now linking works, and what cannot be linked is a JSON 4xx.)
#[tokio::test]
async fn linking_never_logs_in_the_credentials_user() {
    let t = TestApp::new().await;
    let linking = t.user("linker@example.com").await;
    t.user("other@example.com").await;
    let store = t.state.store().clone();
    let sessions = || {
        let store = store.clone();
        async move { store.count("SELECT COUNT(*) FROM sessions").await.unwrap() }
    };
    let before = sessions().await;
    for (provider, body, status, code) in [
        (
            "local-userpass",
            json!({"username": "other@example.com", "password": "pass-phrase-1"}),
            StatusCode::CONFLICT,
            "IdentityAlreadyLinked",
        ),
        (
            "anon-user",
            json!({}),
            StatusCode::BAD_REQUEST,
            "BadRequest",
        ),
    ] {
        let r = t
            .call(
                "POST",
                &format!("{P}/app/{APP}/auth/providers/{provider}/login?link=true"),
                Some(&linking.access),
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(r.status, status, "{provider}: {}", r.text());
        assert_eq!(r.content_type(), Some("application/json"));
        assert_eq!(r.json()["error_code"], code);
    }
    assert_eq!(sessions().await, before, "no session was opened");
    // Without `link=true` the same login works.
    let r = t
        .login(
            "local-userpass",
            json!({"username": "other@example.com", "password": "pass-phrase-1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

/// `appkeys-server ARGS… --database-url URL`: (success, stdout, stderr).
fn admin(args: &[&str], db: &TestDb) -> (bool, String, String) {
    let out = std::process::Command::new(BIN)
        .args(args)
        .args(["--database-url", &db.url])
        .env_remove("APPKEYS_DATABASE_URL")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test]
async fn server_api_keys_log_in_as_their_server_user() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&[], &db.url, &[]);
    let (ok, out, err) = admin(
        &["keys", "create", "--server", "backend", "--app", APP],
        &db,
    );
    assert!(ok, "{err}");
    let secret = out.lines().last().unwrap().trim().to_owned();
    let key_id = out.split_whitespace().nth(3).unwrap().to_owned();
    assert!(secret.starts_with("appk_"), "{out}");
    let (ok, _, err) = admin(
        &["keys", "create", "--server", "backend", "--app", APP],
        &db,
    );
    assert!(
        !ok && err.contains("already has a server key named backend"),
        "{err}"
    );
    let c = Client::new(&server, "127.0.0.1");
    let session = Tokens::from(&c.key_login(&secret).await);
    let profile = HttpClient::new()
        .request(
            "GET",
            &format!("{}{P}/auth/profile", server.url),
            &[("authorization", &format!("Bearer {}", session.access))],
            None,
        )
        .await
        .json();
    assert_eq!(profile["type"], "server", "{profile}");
    assert_eq!(profile["identities"][0]["provider_type"], "api-key");
    assert_eq!(profile["user_id"], session.user_id.as_str());
    // A server key's session manages no user keys and cannot delete its user.
    let bearer = |t: &str| format!("Bearer {t}");
    let r = HttpClient::new()
        .request(
            "GET",
            &format!("{}{}", server.url, keys_path()),
            &[("authorization", &bearer(&session.refresh))],
            None,
        )
        .await;
    r.assert_error(403, "APIKeyManagementForbidden");
    let r = HttpClient::new()
        .request(
            "DELETE",
            &format!("{}{P}/auth/delete", server.url),
            &[("authorization", &bearer(&session.access))],
            None,
        )
        .await;
    r.assert_error(403, "APIKeyManagementForbidden");
    // Listed, disabled, enabled, revoked — like user keys.
    let (_, list, _) = admin(&["keys", "list", "--server", "--app", APP], &db);
    assert!(
        list.lines()
            .any(|l| l.starts_with(&key_id) && l.contains("backend") && l.contains("enabled")),
        "{list}"
    );
    assert!(admin(&["keys", "disable", &key_id], &db).0);
    c.key_login(&secret).await.assert_error(401, "AuthError");
    c.refresh(&session.refresh)
        .await
        .assert_error(401, "InvalidSession");
    assert!(admin(&["keys", "enable", &key_id], &db).0);
    assert_eq!(c.key_login(&secret).await.status, StatusCode::OK);
    assert!(admin(&["keys", "revoke", &key_id], &db).0);
    c.key_login(&secret).await.assert_error(401, "AuthError");
    // Audited as the administrator's.
    let (_, audit, _) = admin(&["audit", "--json", "--key", &key_id], &db);
    for event in ["key.created", "key.disabled", "key.enabled", "key.deleted"] {
        assert!(
            audit
                .lines()
                .any(|l| l.contains(event) && l.contains("appkeys-server admin command")),
            "{event} in {audit}"
        );
    }
    // Expiry works as for user keys.
    let (ok, out, err) = admin(
        &[
            "keys",
            "create",
            "--server",
            "short-lived",
            "--app",
            APP,
            "--expires-in-days",
            "0.00001",
        ],
        &db,
    );
    assert!(ok, "{err}");
    let secret = out.lines().last().unwrap().trim().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    c.key_login(&secret)
        .await
        .assert_error(401, "APIKeyExpired");
}
