//! Issue 31: `--config FILE` — the serving flags from TOML, overridden by flags and environment variables;
//! unknown keys and wrong values refuse to start with the line and the key.

use axum::http::StatusCode;

use crate::support::*;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The status of registering with a 10-character password.
async fn register_ten(server: &ServerProcess, email: &str) -> StatusCode {
    let c = Client::new(server, "127.0.0.1");
    let path = format!("{P}/app/{APP}/auth/providers/local-userpass/register");
    c.post(
        &path,
        serde_json::json!({"email": email, "password": "0123456789"}),
    )
    .await
    .status
}

#[tokio::test]
async fn a_config_file_sets_flags_and_flags_and_env_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "appkeys.toml",
        "# the operator's settings\nmin-password-length = 12\nregistrations-per-ip = 50\napp = [\"appkeys-demo\"]\n",
    );
    let db = fresh_db().await;
    let server = ServerProcess::start(&["--config", &file], &db.url, &[]);
    assert_eq!(
        register_ten(&server, "a@example.com").await,
        StatusCode::BAD_REQUEST
    );
    drop(server);
    let server = ServerProcess::start(
        &["--config", &file, "--min-password-length", "8"],
        &db.url,
        &[],
    );
    assert_eq!(
        register_ten(&server, "b@example.com").await,
        StatusCode::CREATED
    );
    drop(server);
    let server = ServerProcess::start(
        &[],
        &db.url,
        &[
            ("APPKEYS_CONFIG", &file),
            ("APPKEYS_MIN_PASSWORD_LENGTH", "8"),
        ],
    );
    assert_eq!(
        register_ten(&server, "c@example.com").await,
        StatusCode::CREATED
    );
    drop(server);
    let server = ServerProcess::start(&[], &db.url, &[("APPKEYS_CONFIG", &file)]);
    assert_eq!(
        register_ten(&server, "d@example.com").await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn unknown_keys_and_wrong_values_name_the_line_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db().await;
    for (text, says) in [
        (
            "min-password-length = 12\n\nmin-pasword-length = 8\n",
            ":3: `min-pasword-length`: not a setting",
        ),
        (
            "\nmin-password-length = \"twelve\"\n",
            ":2: `min-password-length`: invalid value 'twelve'",
        ),
        (
            "email-confirmation = \"yes\"\n",
            ":1: `email-confirmation`: expected true or false",
        ),
        (
            "min-password-length = [8, 9]\n",
            ":1: `min-password-length`: expected one value, not a list",
        ),
        ("[server]\nlisten = \"x\"\n", ":1: `server`: not a setting"),
        ("min-password-length = \n", "TOML parse error"),
    ] {
        let file = write(dir.path(), "bad.toml", text);
        let Err((status, err)) = ServerProcess::try_start(&["--config", &file], &db.url, &[])
        else {
            panic!("started with {text:?}");
        };
        assert!(!status.success());
        assert!(err.contains(says), "{text:?}: {err}");
    }
}
