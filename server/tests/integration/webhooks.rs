//! Issue 31: the webhook outbox for operators, against a real server process — an event whose retry period
//! runs out fails (audited, counted in /metrics) and waits; `webhooks list|retry|purge`; settings that do
//! not fit refuse to start; without webhooks nothing is written.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use crate::customjwt::secret_file;
use crate::support::*;

const SECRET: &str = "a webhook signing secret of at least 32 bytes";

/// A receiver answering `status` (changeable), keeping the verified bodies.
struct Receiver {
    url: String,
    status: Arc<Mutex<StatusCode>>,
    bodies: Arc<Mutex<Vec<String>>>,
    _task: tokio::task::JoinHandle<()>,
}

async fn receiver() -> Receiver {
    let status = Arc::new(Mutex::new(StatusCode::INTERNAL_SERVER_ERROR));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let (s, b) = (status.clone(), bodies.clone());
    let router = axum::Router::new().route(
        "/hooks",
        post(move |headers: HeaderMap, body: String| {
            let (s, b) = (s.clone(), b.clone());
            async move {
                let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
                let timestamp: i64 = header("webhook-timestamp").parse().unwrap_or(0);
                let expected = appkeys_server::service::webhooks::signature(
                    SECRET.as_bytes(),
                    header("webhook-id"),
                    timestamp,
                    &body,
                );
                if header("webhook-signature") != expected {
                    return StatusCode::UNAUTHORIZED;
                }
                let status = *s.lock().unwrap();
                if status.is_success() {
                    b.lock().unwrap().push(body);
                }
                status
            }
        }),
    );
    let (url, task) = serve(router).await;
    Receiver {
        url: format!("{url}/hooks"),
        status,
        bodies,
        _task: task,
    }
}

fn cli(db: &TestDb, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(BIN)
        .args(["webhooks", "--database-url", &db.url])
        .args(args)
        .env_remove("APPKEYS_DATABASE_URL")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn failed_events_wait_for_the_operator_and_are_delivered_on_retry() {
    let r = receiver().await;
    let db = fresh_db().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_file(dir.path(), &[SECRET], 0o600);
    let args = [
        "--webhook-url",
        r.url.as_str(),
        "--webhook-secret-file",
        secret.as_str(),
        "--webhook-retry-for",
        "2",
    ];
    let server = ServerProcess::start(&args, &db.url, &[]);
    let c = Client::new(&server, "127.0.0.1");
    c.register("failing@example.com").await;
    // The receiver keeps failing: after the retry period the event fails, audited.
    let store = appkeys_server::Store::connect(&db.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let failed = store.webhook_counts().await.unwrap().failed;
        if failed == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the event never failed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        store
            .count("SELECT COUNT(*) FROM audit WHERE event = 'webhook.failed'")
            .await
            .unwrap(),
        1
    );
    let (ok, list) = cli(&db, &["list", "--state", "failed"]);
    assert!(ok, "{list}");
    let line = list.lines().nth(1).expect("one failed event");
    assert!(
        line.contains("user.created") && line.contains("HTTP 500"),
        "{line}"
    );
    let id = line.split('\t').next().unwrap().to_owned();
    let metrics = HttpClient::new()
        .request("GET", &format!("{}/metrics", server.url), &[], None)
        .await
        .text();
    assert!(
        metrics.contains("appkeys_webhook_attempts_total{outcome=\"failed\"} 1"),
        "{metrics}"
    );
    // The receiver is back; the operator retries: delivered with the same id.
    *r.status.lock().unwrap() = StatusCode::NO_CONTENT;
    let (ok, out) = cli(&db, &["retry", &id]);
    assert!(ok && out.contains("1 failed events are due again"), "{out}");
    wait_for("the retried delivery", || {
        r.bodies.lock().unwrap().len() == 1
    })
    .await;
    let body: serde_json::Value = serde_json::from_str(&r.bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(body["type"], "user.created");
    let (_, list) = cli(&db, &["list"]);
    assert!(
        list.contains(&format!("{id}\tuser.created\tdelivered")),
        "{list}"
    );
    let (ok, out) = cli(&db, &["purge"]);
    assert!(ok && out.contains("deleted 1 event"), "{out}");
    let (ok, out) = cli(&db, &["retry", "msg_unknown"]);
    assert!(!ok && out.contains("no failed event"), "{out}");
}

#[tokio::test]
async fn without_webhooks_nothing_is_written_and_bad_settings_refuse_to_start() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&[], &db.url, &[]);
    let c = Client::new(&server, "127.0.0.1");
    c.register("quiet@example.com").await;
    let tokens = Tokens::from(&c.password_login("quiet@example.com", PASSWORD).await);
    c.create_key(&tokens.refresh, "k").await;
    let store = appkeys_server::Store::connect(&db.url).await.unwrap();
    assert_eq!(
        store
            .count("SELECT COUNT(*) FROM webhook_outbox")
            .await
            .unwrap(),
        0
    );
    drop(server);
    let dir = tempfile::tempdir().unwrap();
    let short = secret_file(dir.path(), &["short"], 0o600);
    for (args, says) in [
        (
            vec!["--webhook-url", "https://hooks.example.com/in"],
            "--webhook-url needs --webhook-secret-file",
        ),
        (
            vec![
                "--webhook-url",
                "http://hooks.example.com/in",
                "--webhook-secret-file",
                &short,
            ],
            "--webhook-url",
        ),
        (
            vec![
                "--webhook-url",
                "https://hooks.example.com/in",
                "--webhook-secret-file",
                &short,
            ],
            "shorter than 32 bytes",
        ),
        (
            vec!["--webhook-events", "user.created"],
            "need --webhook-url",
        ),
    ] {
        let Err((status, err)) = ServerProcess::try_start(&args, &db.url, &[]) else {
            panic!("started with {args:?}");
        };
        assert!(!status.success());
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let secret = secret_file(dir.path(), &[SECRET], 0o600);
    let Err((_, err)) = ServerProcess::try_start(
        &[
            "--webhook-url",
            "https://hooks.example.com/in",
            "--webhook-secret-file",
            &secret,
            "--webhook-events",
            "user.exploded",
        ],
        &db.url,
        &[],
    ) else {
        panic!("started with an unknown event type");
    };
    assert!(
        err.contains("--webhook-events user.exploded: not an event type"),
        "{err}"
    );
}
