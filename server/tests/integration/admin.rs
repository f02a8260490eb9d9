//! Admin commands and backups (issue 12) against a running `appkeys-server` and its database.

use std::process::Command;

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

/// Runs `appkeys-server ARGS… --database-url URL`; its stdout (panics unless it succeeds).
fn admin(args: &[&str], db_url: &str) -> String {
    let out = admin_output(args, db_url);
    assert!(
        out.status.success(),
        "appkeys-server {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn admin_output(args: &[&str], db_url: &str) -> std::process::Output {
    let (command, rest) = args.split_first().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg(command);
    // `users list`, `keys revoke ID`, …: the action (and its arguments) come after the flag.
    cmd.args(["--database-url", db_url]).args(rest);
    cmd.env_remove("APPKEYS_DATABASE_URL").output().unwrap()
}

#[tokio::test]
async fn admin_commands_act_on_a_running_server() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&[], &db.url, &[]);
    let c = Client::new(&server, "127.0.0.1");
    let email = "admin-target@example.com";
    c.register(email).await;
    let tokens = Tokens::from(&c.password_login(email, PASSWORD).await);
    let user = tokens.user_id.clone();
    let (key_a, secret_a) = c.create_key(&tokens.refresh, "a").await;
    let (key_b, secret_b) = c.create_key(&tokens.refresh, "b").await;

    let list = admin(&["users", "list"], &db.url);
    assert!(
        list.lines()
            .any(|l| l.starts_with(&user) && l.contains(email) && l.contains("enabled")),
        "{list}"
    );
    let show = admin(&["users", "show", &user], &db.url);
    assert!(
        show.contains(&key_a) && show.contains(&key_b) && show.contains("sessions\t1"),
        "{show}"
    );
    let keys = admin(&["keys", "list", "--user", &user], &db.url);
    assert!(
        keys.contains(&key_a) && keys.contains("\ta\tenabled\t"),
        "{keys}"
    );

    // sessions revoke: the user's sessions end at once.
    let key_session = Tokens::from(&c.key_login(&secret_b).await);
    let out = admin(&["sessions", "revoke", "--user", &user], &db.url);
    assert!(out.contains("ended 2 sessions"), "{out}");
    c.refresh(&tokens.refresh)
        .await
        .assert_error(401, "InvalidSession");
    c.refresh(&key_session.refresh)
        .await
        .assert_error(401, "InvalidSession");

    // keys revoke: the key no longer logs in, its sessions end; the other key still works.
    let a_session = Tokens::from(&c.key_login(&secret_a).await);
    admin(&["keys", "revoke", &key_a], &db.url);
    c.key_login(&secret_a).await.assert_error(401, "AuthError");
    c.refresh(&a_session.refresh)
        .await
        .assert_error(401, "InvalidSession");
    assert_eq!(c.key_login(&secret_b).await.status, StatusCode::OK);

    // users disable: no login by any provider, its sessions end; enable undoes it.
    let session = Tokens::from(&c.password_login(email, PASSWORD).await);
    admin(&["users", "disable", &user], &db.url);
    c.refresh(&session.refresh)
        .await
        .assert_error(401, "InvalidSession");
    c.password_login(email, PASSWORD)
        .await
        .assert_error(403, "UserDisabled");
    c.key_login(&secret_b).await.assert_error(401, "AuthError");
    assert!(admin(&["users", "list"], &db.url).contains("disabled"));
    admin(&["users", "enable", &user], &db.url);
    assert_eq!(
        c.password_login(email, PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(c.key_login(&secret_b).await.status, StatusCode::OK);

    // users delete: gone, and unknown ids are an error.
    admin(&["users", "delete", &user, "--yes"], &db.url);
    c.password_login(email, PASSWORD)
        .await
        .assert_error(401, "InvalidPassword");
    let out = admin_output(&["users", "show", &user], &db.url);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user with id"));
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_write_load_serves_the_keys_made_before_it() {
    use std::os::unix::fs::PermissionsExt;
    let db = fresh_db().await;
    let server = ServerProcess::start(&["--anonymous-logins-per-ip", "0"], &db.url, &[]);
    let c = Client::new(&server, "127.0.0.1");
    c.register("backup@example.com").await;
    let tokens = Tokens::from(&c.password_login("backup@example.com", PASSWORD).await);
    let (_, secret) = c.create_key(&tokens.refresh, "kept").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.db");
    if is_postgres() {
        let out = admin_output(&["backup", file.to_str().unwrap()], &db.url);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
        return;
    }
    // Write load while the backup runs: anonymous logins (a user and a session each).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (http, url, stop) = (c.http.clone(), c.url.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = http
                    .request(
                        "POST",
                        &format!("{url}{P}/app/{APP}/auth/providers/anon-user/login"),
                        &[],
                        body(json!({})),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::OK);
                n += 1;
            }
            n
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let url = db.url.clone();
    let target = file.clone();
    let out =
        tokio::task::spawn_blocking(move || admin(&["backup", target.to_str().unwrap()], &url))
            .await
            .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = load.await.unwrap();
    assert!(writes > 0, "the server was writing during the backup");
    assert!(out.contains("backup written"), "{out}");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Restore (README): stop, copy the file into place, start.
    drop(server);
    let restored = tempfile::tempdir().unwrap();
    let data = restored.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::copy(&file, data.join("appkeys.db")).unwrap();
    let url = format!("sqlite://{}", data.join("appkeys.db").display());
    let again = ServerProcess::start(&[], &url, &[]);
    let c = Client::new(&again, "127.0.0.1");
    assert_eq!(
        c.key_login(&secret).await.status,
        StatusCode::OK,
        "the key made before the backup"
    );
    assert_eq!(
        c.password_login("backup@example.com", PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn every_audit_event_is_recorded_and_read_back_with_audit_json() {
    let db = fresh_db().await;
    let server = ServerProcess::start(
        &[
            "--trust-proxy",
            "127.0.0.1",
            "--key-login-failures-per-ip",
            "1",
            // Events audited in aggregate (issue 22) are written every second.
            "--audit-interval",
            "1",
        ],
        &db.url,
        &[],
    );
    let url = server.url.clone();
    let http = HttpClient::new();
    let ua = "audit-test-agent/1.0";
    let send = |method: &'static str,
                path: String,
                token: Option<String>,
                value: Option<serde_json::Value>| {
        let (http, url) = (&http, url.clone());
        async move {
            let auth = token.map(|t| format!("Bearer {t}"));
            let mut headers = vec![
                ("content-type", "application/json"),
                ("x-forwarded-for", "198.51.100.77"),
                ("user-agent", ua),
            ];
            if let Some(a) = &auth {
                headers.push(("authorization", a.as_str()));
            }
            http.request(
                method,
                &format!("{url}{path}"),
                &headers,
                value.and_then(body),
            )
            .await
        }
    };
    let app = format!("{P}/app/{APP}/auth/providers");
    let email = "audited@example.com";
    let r = send(
        "POST",
        format!("{app}/local-userpass/register"),
        None,
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    send(
        "POST",
        format!("{app}/local-userpass/login"),
        None,
        Some(json!({"username": email, "password": "wrong-wrong"})),
    )
    .await
    .assert_error(401, "InvalidPassword");
    let t = Tokens::from(
        &send(
            "POST",
            format!("{app}/local-userpass/login"),
            None,
            Some(json!({"username": email, "password": PASSWORD})),
        )
        .await,
    );
    let k = send(
        "POST",
        keys_path(),
        Some(t.refresh.clone()),
        Some(json!({"name": "audited"})),
    )
    .await
    .json();
    let (key_id, secret) = (
        k["_id"].as_str().unwrap().to_owned(),
        k["key"].as_str().unwrap().to_owned(),
    );
    send(
        "PUT",
        format!("{}/disable", key_path(&key_id)),
        Some(t.refresh.clone()),
        None,
    )
    .await
    .assert_no_content();
    send(
        "PUT",
        format!("{}/enable", key_path(&key_id)),
        Some(t.refresh.clone()),
        None,
    )
    .await
    .assert_no_content();
    let ks = Tokens::from(
        &send(
            "POST",
            format!("{app}/api-key/login"),
            None,
            Some(json!({"key": secret})),
        )
        .await,
    );
    send(
        "POST",
        format!("{app}/api-key/login"),
        None,
        Some(json!({"key": "appk_bogus"})),
    )
    .await
    .assert_error(401, "AuthError");
    send(
        "POST",
        format!("{app}/api-key/login"),
        None,
        Some(json!({"key": "appk_bogus2"})),
    )
    .await
    .assert_error(429, "TooManyRequests");
    send(
        "DELETE",
        format!("{P}/auth/session"),
        Some(ks.refresh.clone()),
        None,
    )
    .await
    .assert_no_content();
    send("DELETE", key_path(&key_id), Some(t.refresh.clone()), None)
        .await
        .assert_no_content();
    send(
        "DELETE",
        format!("{P}/auth/delete"),
        Some(t.access.clone()),
        None,
    )
    .await
    .assert_no_content();

    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let out = admin(&["audit", "--json"], &db.url);
    for secret_value in [
        PASSWORD,
        secret.as_str(),
        t.refresh.as_str(),
        t.access.as_str(),
    ] {
        assert!(!out.contains(secret_value), "a secret in the audit log");
    }
    let entries: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let fields = [
        "time",
        "event",
        "app",
        "user_id",
        "key_id",
        "provider",
        "ip",
        "user_agent",
        "outcome",
        "count",
    ];
    for e in &entries {
        let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), fields.len(), "{e}");
        for f in fields {
            assert!(keys.contains(&f), "{f} in {e}");
        }
        assert!(
            e["time"].as_str().unwrap().ends_with('Z'),
            "RFC 3339 UTC: {e}"
        );
    }
    let times: Vec<&str> = entries
        .iter()
        .map(|e| e["time"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "newest last");
    let find = |event: &str, outcome: &str| {
        entries
            .iter()
            .find(|e| e["event"] == event && e["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {event}/{outcome} in\n{out}"))
            .clone()
    };
    let registered = find("user.registered", "success");
    let user = registered["user_id"].as_str().unwrap().to_owned();
    assert_eq!(registered["ip"], "198.51.100.77");
    assert_eq!(registered["user_agent"], ua);
    assert_eq!(registered["app"], APP);
    assert_eq!(
        find("login.failed", "invalid_password")["provider"],
        "local-userpass"
    );
    assert_eq!(find("login.failed", "invalid_key")["provider"], "api-key");
    assert_eq!(find("rate_limited", "limited")["provider"], "api-key");
    for event in ["key.created", "key.disabled", "key.enabled", "key.deleted"] {
        let e = find(event, "success");
        assert_eq!(
            (e["user_id"].as_str(), e["key_id"].as_str()),
            (Some(user.as_str()), Some(key_id.as_str())),
            "{event}"
        );
    }
    let key_login = entries
        .iter()
        .find(|e| e["event"] == "login.succeeded" && e["provider"] == "api-key")
        .expect("a key login");
    assert_eq!(key_login["key_id"], key_id.as_str());
    assert_eq!(
        find("session.revoked", "success")["key_id"],
        key_id.as_str()
    );
    assert_eq!(find("user.deleted", "success")["user_id"], user.as_str());
    // Filters.
    let by_key = admin(&["audit", "--json", "--key", &key_id], &db.url);
    assert!(
        by_key.lines().all(|l| l.contains(&key_id)) && by_key.lines().count() >= 6,
        "{by_key}"
    );
    let by_user = admin(&["audit", "--user", &user], &db.url);
    assert!(by_user.lines().count() >= 8, "{by_user}");
    assert!(admin(&["audit", "--since", "2999-01-01T00:00:00Z"], &db.url).is_empty());
}

/// `GET /metrics` parsed: `name{a="x",b="y"}` (labels sorted) → value.
fn scrape_text(text: &str) -> std::collections::HashMap<String, f64> {
    let mut out = std::collections::HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let key = match series.split_once('{') {
            Some((name, labels)) => {
                let mut labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
                labels.sort();
                format!("{name}{{{}}}", labels.join(","))
            }
            None => series.to_owned(),
        };
        out.insert(key, value.parse().unwrap());
    }
    out
}

#[tokio::test]
async fn metrics_count_known_traffic_and_can_move_or_go() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&[], &db.url, &[]);
    let c = Client::new(&server, "127.0.0.1");
    let email = "metrics@example.com";
    c.register(email).await;
    for _ in 0..2 {
        c.password_login(email, "wrong-wrong")
            .await
            .assert_error(401, "InvalidPassword");
    }
    let t = Tokens::from(&c.password_login(email, PASSWORD).await);
    let (key_id, secret) = c.create_key(&t.refresh, "m").await;
    for action in ["disable", "enable"] {
        let r = c
            .http
            .request(
                "PUT",
                &format!("{}{}/{action}", c.url, key_path(&key_id)),
                &[("authorization", &format!("Bearer {}", t.refresh))],
                None,
            )
            .await;
        r.assert_no_content();
    }
    for _ in 0..3 {
        assert_eq!(c.key_login(&secret).await.status, StatusCode::OK);
    }
    c.key_login("appk_nope")
        .await
        .assert_error(401, "AuthError");
    let r = c
        .http
        .request("GET", &format!("{}/metrics", c.url), &[], None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type().unwrap().starts_with("text/plain"));
    let m = scrape_text(&r.text());
    let get = |k: &str| {
        *m.get(k)
            .unwrap_or_else(|| panic!("no {k} in\n{}", r.text()))
    };
    assert_eq!(
        get(r#"appkeys_logins_total{outcome="invalid_password",provider="local-userpass"}"#),
        2.0
    );
    assert_eq!(
        get(r#"appkeys_logins_total{outcome="success",provider="local-userpass"}"#),
        1.0
    );
    assert_eq!(
        get(r#"appkeys_logins_total{outcome="success",provider="api-key"}"#),
        3.0
    );
    assert_eq!(
        get(r#"appkeys_logins_total{outcome="invalid_key",provider="api-key"}"#),
        1.0
    );
    for op in ["created", "disabled", "enabled"] {
        assert_eq!(
            get(&format!(
                r#"appkeys_key_operations_total{{operation="{op}"}}"#
            )),
            1.0,
            "{op}"
        );
    }
    let login_route = format!("{P}/app/{{app_id}}/auth/providers/{{provider}}/login");
    assert_eq!(
        get(&format!(
            r#"appkeys_http_requests_total{{method="POST",route="{login_route}",status="200"}}"#
        )),
        4.0
    );
    assert_eq!(
        get(&format!(
            r#"appkeys_http_requests_total{{method="POST",route="{login_route}",status="401"}}"#
        )),
        3.0
    );
    assert!(
        get(&format!(
            r#"appkeys_http_request_duration_seconds_count{{route="{login_route}"}}"#
        )) >= 7.0
    );
    assert!(get("appkeys_sessions_active") >= 4.0);
    assert!(m
        .keys()
        .any(|k| k.starts_with("appkeys_db_pool_connections{")));
    drop(server);

    // --metrics-listen: its own listener; --no-metrics: none.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let server = ServerProcess::start(&["--metrics-listen", &addr], &db.url, &[]);
    let http = HttpClient::new();
    http.request("GET", &format!("{}/metrics", server.url), &[], None)
        .await
        .assert_error(404, "NotFound");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if std::net::TcpStream::connect(&addr).is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "metrics listener did not come up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let r = http
        .request("GET", &format!("http://{addr}/metrics"), &[], None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("appkeys_sessions_active"));
    drop(server);
    let server = ServerProcess::start(&["--no-metrics"], &db.url, &[]);
    http.request("GET", &format!("{}/metrics", server.url), &[], None)
        .await
        .assert_error(404, "NotFound");
}

#[tokio::test]
async fn log_format_json_writes_one_json_object_per_line() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&["--log-format", "json"], &db.url, &[("RUST_LOG", "info")]);
    let http = HttpClient::new();
    assert_eq!(
        http.request("GET", &format!("{}/healthz", server.url), &[], None)
            .await
            .status,
        StatusCode::OK
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let err = server.stderr();
        let access: Vec<serde_json::Value> = err
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .filter(|v: &serde_json::Value| v["target"] == "appkeys_server::access")
            .collect();
        if let Some(line) = access.first() {
            assert_eq!(line["fields"]["path"], "/healthz");
            assert_eq!(line["fields"]["status"], 200);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no access log line in {err}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `appkeys-server ARGS…` exactly as given (no `--database-url` added), without the env twin.
fn raw_admin(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("APPKEYS_DATABASE_URL")
        .output()
        .unwrap()
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A registered user of a running server: (client, tokens, key id, key secret).
async fn user_with_key(server: &ServerProcess, email: &str) -> (Client, Tokens, String, String) {
    let c = Client::new(server, "127.0.0.1");
    c.register(email).await;
    let tokens = Tokens::from(&c.password_login(email, PASSWORD).await);
    let (key, secret) = c.create_key(&tokens.refresh, "svc").await;
    (c, tokens, key, secret)
}

/// Issue 19: the shared `--database-url` works before and after the action, as a person types it.
#[tokio::test]
async fn the_database_flag_works_before_and_after_the_action() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&[], &db.url, &[]);
    let (c, tokens, key_a, secret_a) = user_with_key(&server, "flags@example.com").await;
    let (key_b, _) = c.create_key(&tokens.refresh, "b").await;
    let url = db.url.as_str();
    let after = raw_admin(&["keys", "revoke", "--database-url", url, &key_a]);
    assert!(after.status.success(), "{}", stderr_of(&after));
    c.key_login(&secret_a).await.assert_error(401, "AuthError");
    let before = raw_admin(&["keys", "--database-url", url, "revoke", &key_b]);
    assert!(before.status.success(), "{}", stderr_of(&before));
    let user = tokens.user_id.as_str();
    for args in [
        vec!["users", "show", "--database-url", url, user],
        vec!["users", "--database-url", url, "show", user],
        vec!["sessions", "revoke", "--user", user, "--database-url", url],
        vec!["audit", "--database-url", url, "--user", user],
    ] {
        let out = raw_admin(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
    }
}

/// Issue 19: a command whose target matches nothing exits non-zero and says so.
#[tokio::test]
async fn admin_commands_on_unknown_targets_fail() {
    let db = fresh_db().await;
    let _server = ServerProcess::start(&[], &db.url, &[]);
    let typo = "0123456789abcdef01234567";
    for (args, what) in [
        (vec!["sessions", "revoke", "--user", typo], "user"),
        (vec!["users", "show", typo], "user"),
        (vec!["users", "disable", typo], "user"),
        (vec!["users", "enable", typo], "user"),
        (vec!["users", "confirm", typo], "user"),
        (vec!["users", "delete", typo, "--yes"], "user"),
        (vec!["keys", "list", "--user", typo], "user"),
        (vec!["keys", "revoke", typo], "key"),
    ] {
        let out = admin_output(&args, &db.url);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr_of(&out).contains(&format!("no {what} with id {typo}")),
            "{args:?}: {}",
            stderr_of(&out)
        );
        assert!(out.stdout.is_empty(), "{args:?} printed a result");
    }
}

/// Issue 19: `users delete` asks on a terminal and needs `--yes` otherwise.
#[tokio::test]
async fn users_delete_asks_on_a_terminal_and_needs_yes_otherwise() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&[], &db.url, &[]);
    let (c, tokens, _, secret) = user_with_key(&server, "delete-me@example.com").await;
    let user = tokens.user_id.as_str();
    // No terminal (stdin is not a tty here): refused, nothing deleted.
    let out = admin_output(&["users", "delete", user], &db.url);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("--yes"), "{}", stderr_of(&out));
    assert_eq!(c.key_login(&secret).await.status, StatusCode::OK);
    // On a terminal (script(1) gives the command a pty): anything but "yes" keeps the user.
    let on_terminal = |answer: &str| {
        let command = format!("{BIN} users delete --database-url '{}' {user}", db.url);
        let mut child = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env_remove("APPKEYS_DATABASE_URL")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(answer.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let kept = on_terminal("no\n");
    assert!(kept.contains("Type 'yes' to delete"), "{kept}");
    assert!(kept.contains("with its 1 API key and"), "{kept}");
    assert_eq!(c.key_login(&secret).await.status, StatusCode::OK);
    let deleted = on_terminal("yes\n");
    assert!(deleted.contains("deleted user"), "{deleted}");
    c.key_login(&secret).await.assert_error(401, "AuthError");
}

/// Issue 19: admin changes are audited like the server's own, marked as an administrator's; failed
/// password logins of an existing account name that account.
#[tokio::test]
async fn admin_changes_and_failed_logins_are_audited_with_their_user() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&[], &db.url, &[]);
    let email = "audited@example.com";
    let (c, tokens, key, _) = user_with_key(&server, email).await;
    let user = tokens.user_id.as_str();
    c.password_login(email, "wrong password!")
        .await
        .assert_error(401, "InvalidPassword");
    c.password_login("nobody@example.com", "wrong password!")
        .await
        .assert_error(401, "InvalidPassword");
    for args in [
        vec!["users", "disable", user],
        vec!["users", "enable", user],
        vec!["users", "confirm", user],
        vec!["sessions", "revoke", "--user", user],
        vec!["keys", "revoke", &key],
        vec!["users", "delete", user, "--yes"],
    ] {
        admin(&args, &db.url);
    }
    let entries: Vec<serde_json::Value> = admin(&["audit", "--json", "--user", user], &db.url)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed: Vec<_> = entries
        .iter()
        .filter(|e| e["event"] == "login.failed")
        .collect();
    assert_eq!(failed.len(), 1, "{entries:?}");
    assert_eq!(failed[0]["outcome"], "invalid_password");
    let by_admin: Vec<&str> = entries
        .iter()
        .filter(|e| e["user_agent"] == "appkeys-server admin command")
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        by_admin,
        [
            "user.disabled",
            "user.enabled",
            "user.confirmed",
            "session.revoked",
            "key.deleted",
            "user.deleted"
        ],
        "{entries:?}"
    );
    let revoked = entries
        .iter()
        .find(|e| e["event"] == "key.deleted")
        .unwrap();
    assert_eq!(revoked["key_id"], key.as_str());
    // The failed login of an unknown address names no user.
    let all = admin(&["audit", "--json"], &db.url);
    let anonymous_failures = all
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "login.failed" && e["user_id"].is_null())
        .count();
    assert_eq!(anonymous_failures, 1, "{all}");
}

/// Issue 19: an admin command pointed at a SQLite database that does not exist fails and creates
/// nothing (the default path is relative: it would otherwise make `./appkeys-data/` wherever it ran).
#[test]
fn admin_commands_never_create_a_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere").join("appkeys.db");
    let url = format!("sqlite://{}", path.display());
    for args in [
        vec!["users", "list", "--database-url", url.as_str()],
        vec!["audit", "--database-url", url.as_str()],
        vec![
            "backup",
            "--database-url",
            url.as_str(),
            "/tmp/never-written.db",
        ],
    ] {
        let out = raw_admin(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr_of(&out).contains(&format!("no database at {}", path.display())),
            "{}",
            stderr_of(&out)
        );
    }
    assert!(!path.parent().unwrap().exists(), "nothing created");
    // The default database URL (./appkeys-data/appkeys.db) in an empty directory: refused, not created.
    let out = Command::new(BIN)
        .args(["users", "list"])
        .current_dir(dir.path())
        .env_remove("APPKEYS_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("no database at ./appkeys-data/appkeys.db"));
    assert!(!dir.path().join("appkeys-data").exists());
}

/// Issue 21: a backup is private from its first byte (observed while a large copy is written), and a
/// target that exists — a file or a symlink — is refused, never followed or overwritten.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_are_private_from_the_first_byte_and_never_follow_links() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if is_postgres() {
        return;
    }
    let db = fresh_db().await;
    let store = appkeys_server::Store::connect(&db.url).await.unwrap();
    drop(store);
    // A large database (~40 MB of audit rows), so that the copy takes a while.
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .connect(&db.url)
        .await
        .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) \
         INSERT INTO audit (id, at, event, app, user_id, key_id, provider, ip, user_agent, outcome) \
         SELECT printf('%024x', i), i, 'login.failed', 'appkeys-demo', NULL, NULL, 'local-userpass', \
         '127.0.0.1', hex(randomblob(80)), 'invalid_password' FROM n",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.db");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (file, done) = (file.clone(), done.clone());
        std::thread::spawn(move || {
            // Every mode the file has from the moment it appears until the command has finished.
            let mut modes = std::collections::BTreeSet::new();
            let mut polls_with_file = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(meta) = std::fs::symlink_metadata(&file) {
                    modes.insert(meta.permissions().mode() & 0o777);
                    polls_with_file += 1;
                }
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            (modes, polls_with_file)
        })
    };
    let out = admin_output(&["backup", file.to_str().unwrap()], &db.url);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (modes, polls) = watcher.join().unwrap();
    assert!(
        polls > 10,
        "the copy was observed while it ran ({polls} polls)"
    );
    assert_eq!(
        modes.into_iter().collect::<Vec<_>>(),
        [0o600],
        "every mode seen while copying"
    );
    assert!(std::fs::metadata(&file).unwrap().size() > 30_000_000);
    // An existing file, or a symlink (to an existing or a missing file), is refused and left alone.
    let before = std::fs::read(&file).unwrap().len();
    let again = admin_output(&["backup", file.to_str().unwrap()], &db.url);
    assert!(!again.status.success());
    assert!(
        stderr_of(&again).contains("exists"),
        "{}",
        stderr_of(&again)
    );
    assert_eq!(std::fs::read(&file).unwrap().len(), before);
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    for (link, points_to) in [
        ("link-existing", victim.clone()),
        ("link-missing", dir.path().join("nothing")),
    ] {
        let link = dir.path().join(link);
        std::os::unix::fs::symlink(&points_to, &link).unwrap();
        let out = admin_output(&["backup", link.to_str().unwrap()], &db.url);
        assert!(!out.status.success(), "{link:?} was followed");
        assert!(
            !dir.path().join("nothing").exists(),
            "a dangling link was followed"
        );
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
}
