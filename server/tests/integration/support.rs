//! Test harness: fresh databases, the in-process app, a request helper and a real-socket server.

#![allow(dead_code)]

use std::{path::PathBuf, time::Duration};

use appkeys_server::{app, AppState, Config, Store};
use axum::{
    body::Body,
    http::{header, HeaderMap, Method, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

pub const APP: &str = "appkeys-demo";
pub const P: &str = "/api/client/v2.0";

/// `P/auth/api_keys`, written out here rather than taken from `appkeys_protocol` so the tests check the paths.
pub fn keys_path() -> String {
    format!("{P}/auth/api_keys")
}

/// `P/auth/api_keys/{id}`.
pub fn key_path(id: &str) -> String {
    format!("{P}/auth/api_keys/{id}")
}

/// A fresh, empty database.
pub struct TestDb {
    pub url: String,
    /// The temporary directory of a SQLite database (kept alive for the test).
    pub dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.path().join("data").join("appkeys.db"))
    }
}

fn random_hex(n: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// A fresh database for the backend selected by the environment.
pub async fn fresh_db() -> TestDb {
    match std::env::var("APPKEYS_TEST_BACKEND").as_deref() {
        Ok("postgres") => fresh_pg().await,
        Ok("sqlite") | Err(_) => fresh_sqlite(),
        Ok(other) => panic!("unknown APPKEYS_TEST_BACKEND {other}"),
    }
}

/// A fresh SQLite database (a path whose parent directory does not exist yet).
pub fn fresh_sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}",
        dir.path().join("data").join("appkeys.db").display()
    );
    TestDb {
        url,
        dir: Some(dir),
    }
}

async fn fresh_pg() -> TestDb {
    use sqlx::{Connection, Executor};
    let admin = std::env::var("APPKEYS_TEST_PG_ADMIN_URL")
        .expect("APPKEYS_TEST_BACKEND=postgres needs APPKEYS_TEST_PG_ADMIN_URL");
    let name = format!("appkeys_test_{}", random_hex(6));
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to APPKEYS_TEST_PG_ADMIN_URL");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("CREATE DATABASE");
    conn.close().await.ok();
    let (base, _) = admin
        .rsplit_once('/')
        .expect("admin URL has a database path");
    TestDb {
        url: format!("{base}/{name}"),
        dir: None,
    }
}

/// An in-process server.
pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub db: TestDb,
    pub config: Config,
}

/// The signing secret of PostgreSQL test servers (PostgreSQL needs a configured one; SQLite tests
/// use the generated file).
pub const PG_TEST_SECRET: &str = "postgres-test-secret-postgres-test-secret";

/// The access-token signing key file of PostgreSQL test servers (PostgreSQL needs a configured one;
/// SQLite tests use the generated file): one key made per test process, shared by its instances.
pub fn pg_signing_key_file() -> &'static str {
    static FILE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("appkeys-test-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("signing-key.pem");
        if !path.exists() {
            appkeys_server::crypto::secrets::write_new_private_file(
                &path,
                appkeys_server::crypto::signing::generate_pem().as_bytes(),
            )
            .unwrap();
        }
        path.display().to_string()
    })
}

pub fn is_postgres() -> bool {
    std::env::var("APPKEYS_TEST_BACKEND").as_deref() == Ok("postgres")
}

pub fn config() -> Config {
    Config {
        apps: vec![APP.to_owned(), "second-app".to_owned()],
        access_token_ttl: 1800,
        public_url: "http://appkeys.test:9090/".to_owned(),
        jwt_secrets: if is_postgres() {
            vec![PG_TEST_SECRET.to_owned()]
        } else {
            Vec::new()
        },
        signing_keys: if is_postgres() {
            appkeys_server::crypto::signing::read_file(pg_signing_key_file().as_ref()).unwrap()
        } else {
            Vec::new()
        },
        ..Config::default()
    }
}

impl TestApp {
    pub async fn new() -> TestApp {
        TestApp::with_config(config()).await
    }

    pub async fn with_config(config: Config) -> TestApp {
        TestApp::on(fresh_db().await, config).await
    }

    pub async fn on(db: TestDb, config: Config) -> TestApp {
        let store = Store::connect(&db.url).await.expect("open store");
        let state = AppState::new(store, &config).await.expect("state");
        TestApp {
            router: app(state.clone()),
            state,
            db,
            config,
        }
    }

    /// Closes the pool and opens the same database again with a new app (a restart).
    pub async fn restart(self) -> TestApp {
        let TestApp {
            state, db, config, ..
        } = self;
        state.store().close().await;
        drop(state);
        TestApp::on(db, config).await
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// A request with an optional bearer token and an optional raw body (sent as JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Resp {
        let mut b = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .header(header::ACCEPT, "application/json");
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = match body {
            Some(s) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(s.to_owned())
            }
            None => Body::empty(),
        };
        self.send(b.body(body).unwrap()).await
    }

    pub async fn register(&self, email: &str, password: &str) -> Resp {
        self.call(
            "POST",
            &format!("{P}/app/{APP}/auth/providers/local-userpass/register"),
            None,
            Some(&json!({ "email": email, "password": password }).to_string()),
        )
        .await
    }

    pub async fn login(&self, provider: &str, body: Value) -> Resp {
        self.call(
            "POST",
            &format!("{P}/app/{APP}/auth/providers/{provider}/login"),
            None,
            Some(&body.to_string()),
        )
        .await
    }

    /// Registers and logs in an email/password user.
    pub async fn user(&self, email: &str) -> Tokens {
        let r = self.register(email, "pass-phrase-1").await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let r = self
            .login(
                "local-userpass",
                json!({ "username": email, "password": "pass-phrase-1" }),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        Tokens::from(&r)
    }

    pub async fn anon(&self) -> Tokens {
        let r = self.login("anon-user", json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        Tokens::from(&r)
    }

    pub async fn key_login(&self, key: &str) -> Resp {
        self.login("api-key", json!({ "key": key })).await
    }

    /// Creates a key; returns the create response.
    pub async fn create_key(&self, refresh: &str, name: &str) -> Resp {
        self.call(
            "POST",
            &keys_path(),
            Some(refresh),
            Some(&json!({ "name": name }).to_string()),
        )
        .await
    }

    /// Creates a key and returns `(id, secret)`.
    pub async fn new_key(&self, refresh: &str, name: &str) -> (String, String) {
        let r = self.create_key(refresh, name).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let j = r.json();
        (
            j["_id"].as_str().unwrap().to_owned(),
            j["key"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn profile(&self, access: &str) -> Resp {
        self.call("GET", &format!("{P}/auth/profile"), Some(access), None)
            .await
    }

    pub async fn refresh(&self, refresh: &str) -> Resp {
        self.call("POST", &format!("{P}/auth/session"), Some(refresh), None)
            .await
    }
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
    pub device_id: String,
}

impl From<&Resp> for Tokens {
    fn from(r: &Resp) -> Self {
        let j = r.json();
        Tokens {
            access: j["access_token"].as_str().unwrap().to_owned(),
            refresh: j["refresh_token"].as_str().unwrap().to_owned(),
            user_id: j["user_id"].as_str().unwrap().to_owned(),
            device_id: j["device_id"].as_str().unwrap().to_owned(),
        }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} {}", self.status, self.text()))
    }

    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap())
    }

    /// Asserts a JSON error with this status and code, exact content type, and returns the message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(
            self.content_type(),
            Some("application/json"),
            "{}",
            self.text()
        );
        let j = self.json();
        assert_eq!(j["error_code"], code, "{}", self.text());
        let msg = j["error"].as_str().expect("error message").to_owned();
        assert!(!msg.is_empty());
        msg
    }

    /// Asserts 204 with no body and no content type.
    #[track_caller]
    pub fn assert_no_content(&self) {
        assert_eq!(self.status, StatusCode::NO_CONTENT, "{}", self.text());
        assert!(self.body.is_empty());
        assert_eq!(self.content_type(), None);
    }
}

/// Decodes a JWT payload (without checking the signature).
/// The decoded header of a JWT.
pub fn jwt_header(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON payload")
}

/// Serves the app on a real loopback socket; returns the base URL and the server task.
pub async fn serve(router: Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (format!("http://{addr}"), task)
}

/// A real HTTP/1.1 client.
pub struct HttpClient {
    inner: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes_shim::Bytes>,
    >,
}

pub mod bytes_shim {
    pub use axum::body::Bytes;
}

impl HttpClient {
    pub fn new() -> Self {
        HttpClient {
            // Idle connections are let go well before the server closes them (its header-read
            // timeout, 10 s, also bounds the wait between requests): reusing one the server is closing
            // at that moment fails the request with `IncompleteMessage`, as with any HTTP client.
            inner:
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .pool_idle_timeout(std::time::Duration::from_secs(4))
                    .pool_timer(hyper_util::rt::TokioTimer::new())
                    .build_http(),
        }
    }

    pub async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        self.try_request(method, url, headers, body)
            .await
            .expect("HTTP request")
    }

    /// [`Self::request`], with the transport error (connection closed, refused…) as an `Err`.
    pub async fn try_request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Resp, hyper_util::client::legacy::Error> {
        let mut b = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        // Like every App Services client: a body is declared JSON (issue 21: undeclared bodies are 415).
        let declared = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !declared {
            b = b.header("content-type", "application/json");
        }
        let req = b
            .body(http_body_util::Full::new(bytes_shim::Bytes::from(
                body.unwrap_or_default(),
            )))
            .unwrap();
        let res = self.inner.request(req).await?;
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        Ok(Resp {
            status,
            headers,
            body,
        })
    }
}

/// `field` of every object in a JSON array, as strings (e.g. the names of a key listing, in order).
pub fn str_fields<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|item| item[field].as_str().expect("a string field"))
        .collect()
}

/// The server binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_appkeys-server");

/// A real `appkeys-server` process (killed on drop), its URL and what it wrote to stderr.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub url: String,
    pub addr: std::net::SocketAddr,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

/// The environment of a test server: none of the developer's `APPKEYS_*` settings, and on
/// PostgreSQL the test secret (unless the test brings its own).
fn server_command(args: &[&str], db_url: &str, env: &[(&str, &str)]) -> std::process::Command {
    let mut command = std::process::Command::new(BIN);
    command
        .args(["--listen", "127.0.0.1:0", "--database-url", db_url])
        .args(args)
        .env("RUST_LOG", "warn");
    for (k, _) in std::env::vars() {
        if k.starts_with("APPKEYS_") && !k.starts_with("APPKEYS_TEST_") {
            command.env_remove(k);
        }
    }
    let own_secret = env.iter().any(|(k, _)| k.starts_with("APPKEYS_JWT"))
        || args.contains(&"--jwt-secret-file");
    if is_postgres() && db_url.starts_with("postgres") && !own_secret {
        command.env("APPKEYS_JWT_SECRET", PG_TEST_SECRET);
    }
    let own_key = env.iter().any(|(k, _)| *k == "APPKEYS_SIGNING_KEY_FILE")
        || args.contains(&"--signing-key-file");
    if db_url.starts_with("postgres") && !own_key {
        command.env("APPKEYS_SIGNING_KEY_FILE", pg_signing_key_file());
    }
    command.envs(env.iter().copied());
    // An empty value means "unset" (e.g. a PostgreSQL server without the signing key the tests give).
    for (k, v) in env {
        if v.is_empty() {
            command.env_remove(k);
        }
    }
    command
}

impl ServerProcess {
    /// Starts the binary and waits for its `listening on` line; panics with its stderr if it exits.
    pub fn start(args: &[&str], db_url: &str, env: &[(&str, &str)]) -> ServerProcess {
        ServerProcess::try_start(args, db_url, env)
            .unwrap_or_else(|(status, err)| panic!("appkeys-server exited ({status}):\n{err}"))
    }

    /// Like [`ServerProcess::start`], but a server that refuses to start gives its exit status and
    /// stderr.
    pub fn try_start(
        args: &[&str],
        db_url: &str,
        env: &[(&str, &str)],
    ) -> Result<ServerProcess, (std::process::ExitStatus, String)> {
        use std::io::{BufRead, BufReader, Read};
        let mut child = server_command(args, db_url, env)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn appkeys-server");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line);
        match line.trim_end().strip_prefix("listening on ") {
            Some(url) => {
                let url = url.to_owned();
                let addr = url.trim_start_matches("http://").parse().unwrap();
                Ok(ServerProcess {
                    child,
                    url,
                    addr,
                    stderr,
                })
            }
            None => {
                let status = child.wait().unwrap();
                std::thread::sleep(Duration::from_millis(100));
                let text = stderr.lock().unwrap().clone();
                Err((status, text))
            }
        }
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// SIGTERM, then waits (at most `limit`) for the exit: its status and how long it took.
    pub fn sigterm(mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let started = std::time::Instant::now();
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < limit,
                "no exit within {limit:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON body.
pub fn body(value: Value) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(&value).unwrap())
}

/// The password of the process tests' users.
pub const PASSWORD: &str = "correct horse battery";

/// A client that the server (started with `--trust-proxy 127.0.0.1`) sees as `ip`.
pub struct Client {
    pub http: std::sync::Arc<HttpClient>,
    pub url: String,
    pub ip: &'static str,
}

impl Client {
    pub fn new(server: &ServerProcess, ip: &'static str) -> Client {
        Client {
            http: std::sync::Arc::new(HttpClient::new()),
            url: server.url.clone(),
            ip,
        }
    }

    pub async fn post(&self, path: &str, value: serde_json::Value) -> Resp {
        let headers = [
            ("content-type", "application/json"),
            ("x-forwarded-for", self.ip),
        ];
        self.http
            .request(
                "POST",
                &format!("{}{path}", self.url),
                &headers,
                body(value),
            )
            .await
    }

    pub async fn register(&self, email: &str) -> Resp {
        let path = format!("{P}/app/{APP}/auth/providers/local-userpass/register");
        self.post(&path, json!({"email": email, "password": PASSWORD}))
            .await
    }

    pub async fn password_login(&self, email: &str, password: &str) -> Resp {
        let path = format!("{P}/app/{APP}/auth/providers/local-userpass/login");
        self.post(&path, json!({"username": email, "password": password}))
            .await
    }

    /// A password login from the device `device_id` (as realm-web sends its stored device id).
    pub async fn password_login_on(&self, email: &str, password: &str, device_id: &str) -> Resp {
        let path = format!("{P}/app/{APP}/auth/providers/local-userpass/login");
        let body = json!({"username": email, "password": password, "options": {"device": {"deviceId": device_id}}});
        self.post(&path, body).await
    }

    /// A password login from a device holding `secret` (the `device_secret` an earlier login of the
    /// account gave it, as the appkeys SDK sends it back).
    pub async fn password_login_with(&self, email: &str, password: &str, secret: &str) -> Resp {
        let path = format!("{P}/app/{APP}/auth/providers/local-userpass/login");
        let body = json!({"username": email, "password": password, "device_secret": secret});
        self.post(&path, body).await
    }

    /// A successful password login; the device secret it gave.
    pub async fn device_secret(&self, email: &str, password: &str) -> String {
        let r = self.password_login(email, password).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let secret = r.json()["device_secret"].as_str().map(str::to_owned);
        secret.expect("a password login without a secret gets one")
    }

    pub async fn key_login(&self, key: &str) -> Resp {
        let path = format!("{P}/app/{APP}/auth/providers/api-key/login");
        self.post(&path, json!({"key": key})).await
    }

    pub async fn anonymous(&self) -> Resp {
        self.post(
            &format!("{P}/app/{APP}/auth/providers/anon-user/login"),
            json!({}),
        )
        .await
    }
}

impl Client {
    /// `POST auth/api_keys` with `refresh`: the new key's id and secret.
    pub async fn create_key(&self, refresh: &str, name: &str) -> (String, String) {
        let r = self
            .http
            .request(
                "POST",
                &format!("{}{}", self.url, keys_path()),
                &[
                    ("content-type", "application/json"),
                    ("authorization", &format!("Bearer {refresh}")),
                ],
                body(json!({ "name": name })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let k = r.json();
        (
            k["_id"].as_str().unwrap().to_owned(),
            k["key"].as_str().unwrap().to_owned(),
        )
    }

    /// `POST auth/session` with `token`.
    pub async fn refresh(&self, token: &str) -> Resp {
        self.http
            .request(
                "POST",
                &format!("{}{P}/auth/session", self.url),
                &[("authorization", &format!("Bearer {token}"))],
                None,
            )
            .await
    }
}
