//! `appkeys-server users import` (issue 23): App Services users come over with their ids, from files shaped
//! exactly like the Admin API's user list and Flowerbase's users-exporter output.

use std::path::Path;

use axum::http::StatusCode;
use serde_json::json;

use crate::email::{Mail, RESET_URL};
use crate::support::*;

const ALICE: &str = "5f1a9c2e8b3d4e6f7a8b9c01";
const BOB: &str = "5f1a9c2e8b3d4e6f7a8b9c02";
const CAROL: &str = "5f1a9c2e8b3d4e6f7a8b9c03";
const ANON: &str = "5f1a9c2e8b3d4e6f7a8b9c04";
const SERVER: &str = "5f1a9c2e8b3d4e6f7a8b9c05";
const JWT_USER: &str = "5f1a9c2e8b3d4e6f7a8b9c06";

/// Two pages of the Admin API's `GET …/apps/{appId}/users`, one after the other.
fn admin_api_pages() -> String {
    let identity = |id: &str, t: &str| json!({"id": id, "provider_type": t, "provider_id": format!("{t}-provider")});
    let page1 = json!([
        {"_id": ALICE, "identities": [identity("6a1a9c2e8b3d4e6f7a8b9c01", "local-userpass"),
                                      identity("6b1a9c2e8b3d4e6f7a8b9c01", "api-key")],
         "type": "normal", "creation_date": 1_600_000_000, "last_authentication_date": 1_700_000_000,
         "disabled": false, "data": {"email": "Alice@Example.com"}},
        {"_id": BOB, "identities": [identity("6a1a9c2e8b3d4e6f7a8b9c02", "local-userpass")],
         "type": "normal", "creation_date": 1_600_000_100, "disabled": true, "data": {"email": "bob@example.com"}},
        {"_id": ANON, "identities": [identity("6a1a9c2e8b3d4e6f7a8b9c04", "anon-user")],
         "type": "normal", "creation_date": 1_600_000_200, "disabled": false, "data": {}}
    ]);
    let page2 = json!([
        {"_id": SERVER, "identities": [identity("6a1a9c2e8b3d4e6f7a8b9c05", "api-key")],
         "type": "server", "creation_date": 1_600_000_300, "disabled": false, "data": {}},
        {"_id": JWT_USER, "identities": [identity("auth0|12345", "custom-token")],
         "type": "normal", "creation_date": 1_600_000_400, "disabled": false, "data": {"name": "Jay"}}
    ]);
    format!("{page1}\n{page2}\n")
}

/// Flowerbase's users-exporter output.
fn flowerbase() -> String {
    json!([{
        "_id": {"$oid": CAROL},
        "email": "carol@example.com",
        "password": "$2b$10$same.temporary.hash.for.everyone",
        "status": "confirmed",
        "identities": [{"id": "6a1a9c2e8b3d4e6f7a8b9c03", "provider_type": "local-userpass", "provider_id": "x"}]
    }])
    .to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn import(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(BIN)
        .args(["users", "import"])
        .args(args)
        .args(["--app", APP, "--database-url", &db.url])
        .env_remove("APPKEYS_DATABASE_URL")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

fn mails(dir: &Path) -> Vec<Mail> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .map(|p| Mail::parse(&std::fs::read(p).unwrap()))
                .collect()
        })
        .unwrap_or_default()
}

async fn wait_for_mails(dir: &Path, n: usize) -> Vec<Mail> {
    for _ in 0..300 {
        let m = mails(dir);
        if m.len() >= n {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("fewer than {n} emails in {dir:?}");
}

#[tokio::test]
async fn users_come_over_with_their_ids_and_log_in_after_a_reset() {
    let (db, files, outbox) = (
        fresh_db().await,
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let maildir = outbox.path().display().to_string();
    let server = ServerProcess::start(
        &[
            "--mail-dir",
            &maildir,
            "--reset-url",
            RESET_URL,
            "--trust-proxy",
            "127.0.0.1",
        ],
        &db.url,
        &[],
    );
    let pages = write(files.path(), "users.json", &admin_api_pages());
    // A dry run writes nothing.
    let (ok, out, err) = import(&db, &[&pages, "--dry-run"]);
    assert!(ok, "{err}");
    assert!(out.contains("would import 3 users"), "{out}");
    let (ok, out, err) = import(&db, &[&pages, "--send-reset-emails"]);
    assert!(ok, "{err}\n{out}");
    assert!(out.contains("imported 3 users"), "{out}");
    assert!(out.contains("1 anonymous user, 1 server user"), "{out}");
    assert!(
        out.contains(&format!("anonymous {ANON}")) && out.contains(&format!("server {SERVER}")),
        "{out}"
    );
    assert!(out.contains("dropped: 1 api-key identity "), "{out}");
    assert!(
        out.contains("reset emails queued: 1"),
        "only Alice: Bob is disabled\n{out}"
    );
    assert!(
        out.contains("not queued: 1 user is disabled"),
        "the skipped user is counted with its reason\n{out}"
    );
    // Before the reset an imported account answers exactly like a wrong password or a missing account.
    let c = Client::new(&server, "127.0.0.1");
    let imported = c.password_login("alice@example.com", PASSWORD).await;
    let missing = c.password_login("nobody-here@example.com", PASSWORD).await;
    assert_eq!(
        (imported.status, imported.body.clone()),
        (missing.status, missing.body.clone())
    );
    imported.assert_error(401, "InvalidPassword");
    // The server sends the queued email; its link sets a password; the user keeps the App Services id.
    let mail = wait_for_mails(outbox.path(), 1).await.remove(0);
    assert!(
        mail.to.contains("alice@example.com") && mail.subject.contains("Choose a password"),
        "{mail:?}"
    );
    let (_, token, id) = mail.link();
    let path = format!("{P}/app/{APP}/auth/providers/local-userpass/reset");
    let r = c
        .post(
            &path,
            json!({"token": token, "tokenId": id, "password": "alice's new phrase"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let tokens = Tokens::from(
        &c.password_login("alice@example.com", "alice's new phrase")
            .await,
    );
    assert_eq!(tokens.user_id, ALICE);
    let profile = HttpClient::new()
        .request(
            "GET",
            &format!("{}{P}/auth/profile", server.url),
            &[("authorization", &format!("Bearer {}", tokens.access))],
            None,
        )
        .await
        .json();
    assert_eq!(profile["user_id"], ALICE);
    assert_eq!(profile["data"]["email"], "alice@example.com");
    // The disabled user stays disabled; the custom-token identity is kept on its user (its JWT logs in as it).
    let show = |id: &str| {
        let out = std::process::Command::new(BIN)
            .args(["users", "show", id, "--database-url", &db.url])
            .env_remove("APPKEYS_DATABASE_URL")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(show(BOB).contains("state\tdisabled"), "{}", show(BOB));
    assert!(
        show(ALICE).contains("created\t2020-09-13T12:26:40.000Z"),
        "{}",
        show(ALICE)
    );
    let store = appkeys_server::Store::connect(&db.url).await.unwrap();
    let kept = store
        .count(&format!(
            "SELECT COUNT(*) FROM identities WHERE user_id = '{JWT_USER}' AND provider_type = 'custom-token' \
             AND identity_id = 'auth0|12345'"
        ))
        .await
        .unwrap();
    assert_eq!(kept, 1);
    // Re-running the same file changes nothing, and sends no second email unless asked.
    let (ok, out, _) = import(&db, &[&pages, "--send-reset-emails"]);
    assert!(
        ok && out.contains("imported 0 users") && out.contains("unchanged: 3"),
        "{out}"
    );
    assert!(out.contains("reset emails queued: 0"), "{out}");
    let (ok, out, _) = import(&db, &[&pages, "--send-reset-emails", "--resend"]);
    assert!(ok && out.contains("reset emails queued: 1"), "{out}");
    // (The reset itself sent a notice too: count the import's emails only.)
    let imports = |dir: &Path| {
        mails(dir)
            .into_iter()
            .filter(|m| m.subject.contains("Choose a password"))
            .count()
    };
    for _ in 0..150 {
        if imports(outbox.path()) >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(imports(outbox.path()), 2, "exactly one more email");
}

#[tokio::test]
async fn flowerbase_files_import_and_json_lines_too() {
    let (db, files) = (fresh_db().await, tempfile::tempdir().unwrap());
    let _server = ServerProcess::start(&[], &db.url, &[]);
    let fb = write(files.path(), "flowerbase.json", &flowerbase());
    let (ok, out, err) = import(&db, &[&fb, "--format", "flowerbase"]);
    assert!(ok && out.contains("imported 1 user "), "{out}{err}");
    // One user per line (JSON lines), auto-detected.
    let lines: Vec<String> =
        serde_json::from_str::<serde_json::Value>(admin_api_pages().lines().next().unwrap())
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.to_string())
            .collect();
    let jsonl = write(files.path(), "users.jsonl", &lines.join("\n"));
    let (ok, out, err) = import(&db, &[&jsonl]);
    assert!(ok && out.contains("imported 2 users"), "{out}{err}");
}

#[tokio::test]
async fn malformed_files_import_nothing_and_conflicts_are_reported() {
    let (db, files) = (fresh_db().await, tempfile::tempdir().unwrap());
    let _server = ServerProcess::start(&[], &db.url, &[]);
    let user = |id: &str, email: &str| json!({"_id": id, "identities": [], "type": "normal", "creation_date": 1, "disabled": false, "data": {"email": email}});
    for (name, text, expect) in [
        ("not-json.json", "[{\"_id\": ".to_owned(), "not JSON"),
        (
            "number.json",
            "42".to_owned(),
            "expected a user object or an array",
        ),
        (
            "bad-id.json",
            json!([user("xyz", "a@example.com")]).to_string(),
            "record 1 (line 1): `_id` \"xyz\" is not 24 hex",
        ),
        (
            "dup-email.json",
            format!(
                "{}\n{}\n",
                user(ALICE, "same@example.com"),
                user(BOB, "Same@Example.com")
            ),
            "record 2 (line 2): duplicate email same@example.com",
        ),
        (
            "dup-id.json",
            json!([user(ALICE, "a@example.com"), user(ALICE, "b@example.com")]).to_string(),
            "duplicate `_id`",
        ),
        (
            "no-id.json",
            json!([{"identities": []}]).to_string(),
            "record 1 (line 1): no `_id`",
        ),
    ] {
        let path = write(files.path(), name, &text);
        let (ok, _, err) = import(&db, &[&path]);
        assert!(!ok, "{name} was accepted");
        assert!(err.contains(expect), "{name}: {err}");
    }
    let store = appkeys_server::Store::connect(&db.url).await.unwrap();
    assert_eq!(
        store.count("SELECT COUNT(*) FROM users").await.unwrap(),
        0,
        "nothing imported"
    );
    // A user whose id exists with other data, or whose email another user has: reported, not overwritten.
    let good = write(
        files.path(),
        "good.json",
        &json!([user(ALICE, "alice@example.com")]).to_string(),
    );
    assert!(import(&db, &[&good]).0);
    let changed = json!([
        user(ALICE, "alice-new@example.com"),
        user(CAROL, "alice@example.com"),
        user(BOB, "bob@example.com")
    ]);
    let path = write(files.path(), "changed.json", &changed.to_string());
    let (ok, out, err) = import(&db, &[&path]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("conflicts: 2") && out.contains(ALICE) && out.contains(CAROL),
        "{out}{err}"
    );
    assert!(
        out.contains("imported 1 user "),
        "the rest is imported: {out}"
    );
    assert!(
        out.contains(&format!(
            "{ALICE}: the id exists with other data: email (database: alice@example.com, file: alice-new@example.com)"
        )),
        "the conflict says which field differs: {out}"
    );
    assert_eq!(
        store
            .count(&format!(
                "SELECT COUNT(*) FROM users WHERE id = '{ALICE}' AND email = 'alice@example.com'"
            ))
            .await
            .unwrap(),
        1,
        "not overwritten"
    );
}

/// Issue 29, finding 7: an identity that a user created by login before the import already holds is a
/// conflict naming that user (exit 1), never a silent drop; the other records are imported.
#[tokio::test]
async fn an_identity_already_held_by_a_login_user_is_a_conflict() {
    let (db, files) = (fresh_db().await, tempfile::tempdir().unwrap());
    let live = TestApp::on(
        TestDb {
            url: db.url.clone(),
            dir: None,
        },
        appkeys_server::Config {
            custom_jwt: Some(crate::customjwt::hs256_provider(&[])),
            ..config()
        },
    )
    .await;
    let token = crate::customjwt::hs256(
        crate::customjwt::SECRET_A,
        &json!({"sub": "auth0|early", "aud": APP, "exp": crate::customjwt::now() + 600}),
    );
    let early = Tokens::from(&live.login("custom-token", json!({ "token": token })).await);
    let record = |id: &str, sub: &str| {
        json!({"_id": id, "identities": [{"id": sub, "provider_type": "custom-token"}],
               "type": "normal", "creation_date": 1, "disabled": false, "data": {}})
    };
    let path = write(
        files.path(),
        "jwt-users.json",
        &json!([record(ALICE, "auth0|early"), record(BOB, "auth0|late")]).to_string(),
    );
    let (ok, out, err) = import(&db, &[&path]);
    assert!(!ok, "{out}{err}");
    assert!(
        out.contains(&format!(
            "{ALICE}: the custom-token identity auth0|early belongs to user {}",
            early.user_id
        )),
        "{out}{err}"
    );
    assert!(out.contains("imported 1 user "), "{out}");
    // The login's user keeps its identity; the other record came over.
    let store = live.state.store();
    let holder = store
        .count(&format!(
            "SELECT COUNT(*) FROM identities WHERE identity_id = 'auth0|early' AND user_id = '{}'",
            early.user_id
        ))
        .await
        .unwrap();
    assert_eq!(holder, 1);
    assert!(store.user(ALICE).await.unwrap().is_none());
    assert!(store.user(BOB).await.unwrap().is_some());
}

/// Issue 34: an error names the record by its own line, also inside a JSON array spread over lines, and the
/// field it is about; an email only under the local-userpass identity's `provider_data` is read there.
#[tokio::test]
async fn errors_name_the_records_line_and_field_and_provider_data_emails_import() {
    let (db, files) = (fresh_db().await, tempfile::tempdir().unwrap());
    let _server = ServerProcess::start(&[], &db.url, &[]);
    let user = |id: &str, email: &str| {
        json!({"_id": id, "identities": [{"id": "6a1a9c2e8b3d4e6f7a8b9c09", "provider_type": "local-userpass",
               "provider_data": {"email": email}}], "type": "normal", "creation_date": 1, "disabled": false,
               "data": {}})
    };
    // Pretty-printed, as an export tool writes it: each record starts on a line of its own.
    let pretty = |users: serde_json::Value| serde_json::to_string_pretty(&users).unwrap();
    let bad = pretty(json!([
        user(ALICE, "alice@example.com"),
        user(BOB, "not an email")
    ]));
    let line = 1 + bad[..bad.find(BOB).unwrap()].matches('\n').count() - 1;
    let path = write(files.path(), "bad.json", &bad);
    let (ok, _, err) = import(&db, &[&path]);
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "record 2 (line {line}): `identities[0].provider_data.email` \"not an email\""
        )),
        "line {line} and the field: {err}"
    );
    let no_email =
        json!([{"_id": CAROL, "identities": [{"id": "x", "provider_type": "local-userpass"}]}]);
    let path = write(files.path(), "no-email.json", &no_email.to_string());
    let (ok, _, err) = import(&db, &[&path]);
    assert!(!ok);
    assert!(
        err.contains("no email (looked for `data.email` or `identities[0].provider_data.email`)"),
        "{err}"
    );
    let path = write(
        files.path(),
        "good.json",
        &pretty(json!([user(ALICE, "Alice@Example.com")])),
    );
    let (ok, out, err) = import(&db, &[&path]);
    assert!(ok && out.contains("imported 1 user "), "{out}{err}");
    assert!(err.is_empty(), "no progress output when piped: {err:?}");
    let store = appkeys_server::Store::connect(&db.url).await.unwrap();
    let sql =
        format!("SELECT COUNT(*) FROM users WHERE id = '{ALICE}' AND email = 'alice@example.com'");
    assert_eq!(store.count(&sql).await.unwrap(), 1);
}

/// Issue 34: a missing SQLite database is an error that says how to make one; `--create` makes it.
#[tokio::test]
async fn a_missing_database_is_created_only_with_create() {
    let files = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/data/appkeys.db", files.path().display());
    let path = write(
        files.path(),
        "users.json",
        &json!([{"_id": ALICE, "identities": [], "data": {"email": "a@example.com"}}]).to_string(),
    );
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(BIN)
            .args([
                "users",
                "import",
                &path,
                "--app",
                APP,
                "--database-url",
                &url,
            ])
            .args(extra)
            .env_remove("APPKEYS_DATABASE_URL")
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let (ok, _, err) = run(&[]);
    assert!(!ok);
    assert!(
        err.contains("no database at") && err.contains("--create"),
        "{err}"
    );
    assert!(!files.path().join("data").exists(), "nothing created");
    let (ok, out, err) = run(&["--create"]);
    assert!(ok && out.contains("imported 1 user "), "{out}{err}");
    let store = appkeys_server::Store::connect(&url).await.unwrap();
    assert_eq!(store.count("SELECT COUNT(*) FROM users").await.unwrap(), 1);
}

/// Issue 34: `users --help` lists every action, `import` included.
#[test]
fn users_help_lists_import() {
    let out = std::process::Command::new(BIN)
        .args(["users", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let commands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for action in [
        "list",
        "show",
        "disable",
        "enable",
        "confirm",
        "import",
        "custom-data",
        "delete",
    ] {
        assert!(commands.contains(&action), "{action} missing: {commands:?}");
    }
    let about = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .unwrap();
    let about = String::from_utf8_lossy(&about.stdout).into_owned();
    let users_line = about
        .lines()
        .find(|l| l.trim_start().starts_with("users "))
        .unwrap();
    assert!(users_line.contains("import"), "{users_line}");
}

/// Issue 34: on a terminal the import says what it is doing (and counts records once a second on large
/// files); piped, it prints the report alone. util-linux's `script` gives the command a terminal.
#[tokio::test]
async fn progress_shows_on_a_terminal_only() {
    let (db, files) = (fresh_db().await, tempfile::tempdir().unwrap());
    let _server = ServerProcess::start(&[], &db.url, &[]);
    let path = write(files.path(), "users.json", &admin_api_pages());
    let command = format!(
        "'{BIN}' users import '{path}' --app {APP} --database-url '{}' --dry-run",
        db.url
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("APPKEYS_DATABASE_URL")
        .output()
        .expect("util-linux script");
    let terminal = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{terminal}");
    assert!(terminal.contains(&format!("reading {path}…")), "{terminal}");
    assert!(terminal.contains("would import 3 users"), "{terminal}");
    let (ok, out, err) = import(&db, &[&path, "--dry-run"]);
    assert!(
        ok && !out.contains("reading") && err.is_empty(),
        "piped: {out}{err}"
    );
}
