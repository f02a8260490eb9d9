//! Over a real socket: the in-process app served by axum, and the `appkeys-server` binary itself.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_appkeys-server");

#[tokio::test]
async fn full_flow_over_a_socket() {
    let t = TestApp::new().await;
    let (base, server) = serve(t.router.clone()).await;
    let c = HttpClient::new();
    let json_ct = [
        ("content-type", "application/json;charset=utf-8"),
        ("accept", "application/json"),
    ];
    let r = c
        .request("GET", &format!("{base}{P}/app/{APP}/location"), &[], None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = c
        .request(
            "POST",
            &format!("{base}{P}/app/{APP}/auth/providers/local-userpass/register"),
            &json_ct,
            Some(br#"{"email":"sock@example.com","password":"pass-phrase-1"}"#.to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.body.is_empty());
    assert!(r.headers.get("content-type").is_none());
    let r = c
        .request(
            "POST",
            &format!("{base}{P}/app/{APP}/auth/providers/local-userpass/login"),
            &json_ct,
            Some(br#"{"username":"sock@example.com","password":"pass-phrase-1","options":{"device":{"platform":"node"}}}"#.to_vec()),
        )
        .await;
    let u = Tokens::from(&r);
    let auth = format!("Bearer {}", u.refresh);
    let r = c
        .request(
            "POST",
            &format!("{base}{P}/auth/api_keys"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some(br#"{"name":"socket"}"#.to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let key = r.json()["key"].as_str().unwrap().to_owned();
    let id = r.json()["_id"].as_str().unwrap().to_owned();
    let r = c
        .request(
            "PUT",
            &format!("{base}{P}/auth/api_keys/{id}/disable"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json;charset=utf-8"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.headers.get("content-type").is_none());
    let r = c
        .request(
            "POST",
            &format!("{base}{P}/app/{APP}/auth/providers/api-key/login"),
            &json_ct,
            Some(json!({ "key": key }).to_string().into_bytes()),
        )
        .await;
    r.assert_error(401, "AuthError");
    // Oversized body over the wire.
    let r = c
        .request(
            "POST",
            &format!("{base}{P}/auth/api_keys"),
            &[("authorization", &auth)],
            Some(vec![b'{'; 200 * 1024]),
        )
        .await;
    r.assert_error(413, "PayloadTooLarge");
    let r = c.request("GET", &format!("{base}/nope"), &[], None).await;
    r.assert_error(404, "NotFound");
    server.abort();
}

fn spawn_server(args: &[&str], db_url: &str) -> (std::process::Child, String) {
    let mut command = Command::new(BIN);
    command
        .args(["--listen", "127.0.0.1:0", "--database-url", db_url])
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("APPKEYS_APPS")
        .env_remove("APPKEYS_PUBLIC_URL")
        .env_remove("APPKEYS_JWT_SECRET")
        .env_remove("APPKEYS_JWT_SECRET_FILE")
        .env_remove("APPKEYS_SIGNING_KEY_FILE")
        .env_remove("APPKEYS_CORS_ORIGINS")
        .env_remove("APPKEYS_ACCESS_TOKEN_TTL");
    if is_postgres() && !args.contains(&"--jwt-secret-file") {
        command.env("APPKEYS_JWT_SECRET", PG_TEST_SECRET);
    }
    if is_postgres() {
        command.env("APPKEYS_SIGNING_KEY_FILE", pg_signing_key_file());
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn appkeys-server");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .expect("read stdout");
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, url)
}

fn sigterm_and_wait(mut child: std::process::Child) -> (std::process::ExitStatus, String, String) {
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            let mut err = String::new();
            use std::io::Read;
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status, out, err);
        }
        if start.elapsed() > Duration::from_secs(15) {
            child.kill().ok();
            panic!("server did not stop after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn binary_prints_its_address_serves_and_stops_on_sigterm() {
    let db = fresh_db().await;
    let (child, url) = spawn_server(&["--app", "one", "--app", "two"], &db.url);
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    assert!(url.starts_with("http://127.0.0.1:") && port != 0, "{url}");
    let c = HttpClient::new();
    let r = c.request("GET", &format!("{url}/healthz"), &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({ "status": "ok" }));
    // Default public URL = the real listen address; both apps are served, the default is not.
    let r = c
        .request("GET", &format!("{url}{P}/app/two/location"), &[], None)
        .await;
    assert_eq!(r.json()["hostname"], url.as_str());
    let r = c
        .request("GET", &format!("{url}{P}/app/{APP}/location"), &[], None)
        .await;
    r.assert_error(404, "AppNotFound");
    // Secrets never reach the logs.
    let r = c
        .request(
            "POST",
            &format!("{url}{P}/app/one/auth/providers/local-userpass/register"),
            &[],
            Some(br#"{"email":"log@example.com","password":"Very-Secret-Pw"}"#.to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = c
        .request(
            "POST",
            &format!("{url}{P}/app/one/auth/providers/local-userpass/login"),
            &[],
            Some(br#"{"username":"log@example.com","password":"Very-Secret-Pw"}"#.to_vec()),
        )
        .await;
    let u = Tokens::from(&r);
    let (status, out, err) = sigterm_and_wait(child);
    assert!(status.success(), "exit status {status:?}; stderr:\n{err}");
    assert_eq!(out, "", "only the listening line goes to stdout");
    assert!(!err.contains("Very-Secret-Pw"));
    assert!(!err.contains(&u.refresh) && !err.contains(&u.access));
}

#[tokio::test]
async fn binary_flags_and_env_twins() {
    let db = fresh_db().await;
    let mut child = Command::new(BIN)
        .env("APPKEYS_LISTEN", "127.0.0.1:0")
        .env("APPKEYS_DATABASE_URL", &db.url)
        .env("APPKEYS_APPS", "env-a,env-b")
        .env("APPKEYS_PUBLIC_URL", "https://public.example/")
        .env("APPKEYS_ACCESS_TOKEN_TTL", "7")
        .env(
            "APPKEYS_CORS_ORIGINS",
            "https://one.example,https://two.example",
        )
        .env("APPKEYS_JWT_SECRET", "env-secret-env-secret-env-secret")
        .env("APPKEYS_SIGNING_KEY_FILE", pg_signing_key_file())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let c = HttpClient::new();
    let r = c
        .request("GET", &format!("{url}{P}/app/env-b/location"), &[], None)
        .await;
    assert_eq!(r.json()["hostname"], "https://public.example");
    assert_eq!(r.json()["ws_hostname"], "wss://public.example");
    let r = c
        .request(
            "POST",
            &format!("{url}{P}/app/env-a/auth/providers/anon-user/login"),
            &[],
            None,
        )
        .await;
    let u = Tokens::from(&r);
    let claims = jwt_claims(&u.access);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        7
    );
    // The refresh token is signed with the configured secret (access tokens are ES256, issue 20).
    let key = appkeys_server::crypto::signing::SigningKey::from_pem(
        &appkeys_server::crypto::signing::generate_pem(),
        "test",
    )
    .unwrap();
    let signer = appkeys_server::crypto::token::Signer::new(
        &[b"env-secret-env-secret-env-secret"],
        vec![key],
    );
    assert!(signer.decode(&u.refresh).is_ok());
    let r = c
        .request(
            "OPTIONS",
            &format!("{url}{P}/auth/session"),
            &[
                ("origin", "https://two.example"),
                ("access-control-request-method", "POST"),
            ],
            None,
        )
        .await;
    assert_eq!(
        r.headers.get("access-control-allow-origin").unwrap(),
        "https://two.example"
    );
    let (status, _, _) = sigterm_and_wait(child);
    assert!(status.success());
}

#[test]
fn help_mentions_every_flag_and_env_var() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--listen",
        "APPKEYS_LISTEN",
        "127.0.0.1:9090",
        "--database-url",
        "APPKEYS_DATABASE_URL",
        "sqlite://./appkeys-data/appkeys.db",
        "postgres://",
        "--app",
        "APPKEYS_APPS",
        "appkeys-demo",
        "--access-token-ttl",
        "APPKEYS_ACCESS_TOKEN_TTL",
        "1800",
        "--public-url",
        "APPKEYS_PUBLIC_URL",
        "--cors-origin",
        "APPKEYS_CORS_ORIGINS",
        "--jwt-secret-file",
        "APPKEYS_JWT_SECRET_FILE",
        "APPKEYS_JWT_SECRET",
        "jwt-secret",
        "--refresh-token-ttl",
        "--hash-concurrency",
        "--hash-queue",
        "--login-failures-per-account",
        "--login-failures-per-ip",
        "--key-login-failures-per-ip",
        "--anonymous-logins-per-ip",
        "--registrations-per-ip",
        "--trust-proxy",
        "APPKEYS_TRUST_PROXY",
        "--header-read-timeout",
        "--idle-timeout",
        "--body-read-timeout",
        "--max-connections",
        "--shutdown-timeout",
        "--db-acquire-timeout",
        "--sweep-interval",
        "RUST_LOG",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}

#[test]
fn bad_arguments_fail_cleanly() {
    let out = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--database-url", "mysql://nope"])
        .env_remove("APPKEYS_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no listening line on failure");
    let out = Command::new(BIN)
        .args(["--access-token-ttl", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = Command::new(BIN)
        .args(["--listen", "not-an-address"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// Issue 34: a server that refuses to start says why once — one plain line with text logs, one JSON log line
/// with `--log-format json` — not a log line and the same text again.
#[tokio::test]
async fn a_refused_start_says_why_once() {
    let db = fresh_db().await;
    let reason = "need --custom-jwt-jwks-url";
    let Err((_, err)) = ServerProcess::try_start(&["--custom-jwt-audience", "x"], &db.url, &[])
    else {
        panic!("started");
    };
    assert_eq!(err.matches(reason).count(), 1, "{err}");
    assert!(err.contains("appkeys-server: "), "{err}");
    let Err((_, err)) = ServerProcess::try_start(
        &["--custom-jwt-audience", "x", "--log-format", "json"],
        &db.url,
        &[],
    ) else {
        panic!("started");
    };
    assert_eq!(err.matches(reason).count(), 1, "{err}");
    let line = err.lines().find(|l| l.contains(reason)).unwrap();
    let log: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
    assert_eq!(log["level"], "ERROR", "{line}");
}
