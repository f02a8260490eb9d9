//! Issue 24: the `custom-token` provider (realm's `Credentials.jwt`) against a real server process and a
//! test identity provider that serves its JWKS over loopback (keys made here).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use appkeys_server::crypto::signing::{self, SigningKey};
use axum::http::StatusCode;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::support::*;

const AUDIENCE: &str = "https://api.example.test";
const ISSUER: &str = "https://idp.example.test/";

/// How the test identity provider answers `GET /jwks.json`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ok,
    /// Answers after 30 s.
    Slow,
    /// 500.
    Down,
}

/// A test identity provider: a JWKS on loopback whose keys and behaviour the test changes.
pub struct Idp {
    pub url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    mode: Arc<Mutex<Mode>>,
    fetches: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

impl Idp {
    pub async fn start(keys: &[&EcKey]) -> Idp {
        let keys = Arc::new(Mutex::new(
            keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>(),
        ));
        let mode = Arc::new(Mutex::new(Mode::Ok));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (k, m, f) = (keys.clone(), mode.clone(), fetches.clone());
        let router = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let (k, m, f) = (k.clone(), m.clone(), f.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    let mode = *m.lock().unwrap();
                    match mode {
                        Mode::Down => (StatusCode::INTERNAL_SERVER_ERROR, "down".to_owned()),
                        Mode::Slow => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            (StatusCode::OK, "{}".to_owned())
                        }
                        Mode::Ok => {
                            let keys = k.lock().unwrap().clone();
                            (StatusCode::OK, json!({ "keys": keys }).to_string())
                        }
                    }
                }
            }),
        );
        let (base, task) = serve(router).await;
        Idp {
            url: format!("{base}/jwks.json"),
            keys,
            mode,
            fetches,
            _task: task,
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn publish(&self, key: &EcKey) {
        self.keys.lock().unwrap().push(key.jwk.clone());
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// A P-256 key of the identity provider.
pub struct EcKey {
    pub kid: String,
    pub pem: String,
    pub jwk: Value,
}

impl EcKey {
    pub fn new() -> EcKey {
        let pem = signing::generate_pem();
        let key = SigningKey::from_pem(&pem, "test key").unwrap();
        EcKey {
            kid: key.kid.clone(),
            jwk: serde_json::to_value(&key.jwk).unwrap(),
            pem,
        }
    }

    /// An ES256 token with this key's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let key = EncodingKey::from_ec_pem(self.pem.as_bytes()).unwrap();
        encode(&header, claims, &key).unwrap()
    }
}

/// The in-process settings of an HS256 custom JWT provider with secret [`SECRET_A`], the app id as audience
/// and the metadata fields `metadata` (`FIELD=CLAIM.PATH`).
pub(crate) fn hs256_provider(metadata: &[&str]) -> appkeys_server::config::CustomJwtConfig {
    appkeys_server::config::CustomJwtConfig {
        jwks_url: None,
        secrets: vec![SECRET_A.to_owned()],
        public_keys: Vec::new(),
        audiences: Vec::new(),
        issuer: None,
        metadata: metadata
            .iter()
            .map(|m| appkeys_server::config::MetadataField::parse(m).unwrap())
            .collect(),
        jwks_timeout: std::time::Duration::from_secs(5),
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims of a valid token for `sub`.
pub fn claims(sub: &str) -> Value {
    json!({
        "sub": sub, "aud": [AUDIENCE], "iss": ISSUER, "iat": now(), "exp": now() + 600,
        "profile": {"name": "Ada Lovelace"}, "org": {"team": "engines"},
    })
}

/// `POST …/custom-token/login` (`?link=true` with `access`).
pub async fn jwt_login(c: &Client, token: &str) -> Resp {
    c.post(
        &format!("{P}/app/{APP}/auth/providers/custom-token/login"),
        json!({ "token": token }),
    )
    .await
}

/// A server using the identity provider at `idp_url` (its database is kept with it).
async fn start(idp_url: &str, extra: &[&str]) -> (ServerProcess, TestDb) {
    let mut args = vec![
        "--trust-proxy",
        "127.0.0.1",
        "--custom-jwt-jwks-url",
        idp_url,
        "--custom-jwt-audience",
        AUDIENCE,
        "--custom-jwt-issuer",
        ISSUER,
        "--custom-jwt-metadata",
        "name=profile.name",
        "--custom-jwt-metadata",
        "team!=org.team",
    ];
    args.extend_from_slice(extra);
    let db = fresh_db().await;
    (ServerProcess::start(&args, &db.url, &[]), db)
}

async fn get(c: &Client, path: &str, token: &str) -> Resp {
    c.http
        .request(
            "GET",
            &format!("{}{path}", c.url),
            &[("authorization", &format!("Bearer {token}"))],
            None,
        )
        .await
}

#[tokio::test]
async fn one_subject_is_one_user_with_metadata_and_api_keys() {
    let key = EcKey::new();
    let idp = Idp::start(&[&key]).await;
    let (server, _db) = start(&idp.url, &[]).await;
    let c = Client::new(&server, "10.1.0.1");
    let r = jwt_login(&c, &key.sign(&claims("auth0|ada"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let first = Tokens::from(&r);
    // A new token of the same subject (another login later) is the same user; another subject is not.
    let mut later = claims("auth0|ada");
    later["iat"] = json!(now() - 5);
    let again = Tokens::from(&jwt_login(&c, &key.sign(&later)).await);
    assert_eq!(again.user_id, first.user_id);
    let other = Tokens::from(&jwt_login(&c, &key.sign(&claims("auth0|bob"))).await);
    assert_ne!(other.user_id, first.user_id);
    let profile = get(&c, &format!("{P}/auth/profile"), &first.access)
        .await
        .json();
    assert_eq!(
        profile["identities"],
        json!([{"id": "auth0|ada", "provider_type": "custom-token", "provider_id": "custom-token"}])
    );
    assert_eq!(profile["data"]["name"], "Ada Lovelace");
    assert_eq!(profile["data"]["team"], "engines");
    assert_eq!(profile["type"], "normal");
    // Custom-token users are not anonymous: they own user API keys, whose logins are theirs.
    let (_, secret) = c.create_key(&first.refresh, "ci").await;
    let by_key = Tokens::from(&c.key_login(&secret).await);
    assert_eq!(by_key.user_id, first.user_id);
    // Only the first login fetched the keys.
    assert_eq!(idp.fetches(), 1);
}

#[tokio::test]
async fn bad_tokens_are_refused_audited_and_rate_limited() {
    let key = EcKey::new();
    let stranger = EcKey::new();
    let idp = Idp::start(&[&key]).await;
    let (server, db) = start(&idp.url, &["--login-failures-per-ip", "40"]).await;
    let c = Client::new(&server, "10.2.0.1");
    assert_eq!(
        jwt_login(&c, &key.sign(&claims("u1"))).await.status,
        StatusCode::OK
    );
    let with = |k: &str, v: Value| {
        let mut c = claims("u1");
        c[k] = v;
        key.sign(&c)
    };
    let without = |k: &str| {
        let mut c = claims("u1");
        c.as_object_mut().unwrap().remove(k);
        key.sign(&c)
    };
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    // HS256 keyed with what is public (the JWK's coordinates): the algorithm is pinned to the key's.
    let confused = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        let secret = format!(
            "{}{}",
            key.jwk["x"].as_str().unwrap(),
            key.jwk["y"].as_str().unwrap()
        );
        encode(
            &header,
            &claims("u1"),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": key.kid})),
        b64(&claims("u1"))
    );
    let tampered = {
        let good = key.sign(&claims("u1"));
        let parts: Vec<&str> = good.split('.').collect();
        format!("{}.{}.{}", parts[0], b64(&claims("someone-else")), parts[2])
    };
    let oversized = with("padding", json!("x".repeat(2100)));
    let cases = [
        ("expired", with("exp", json!(now() - 3600))),
        ("wrong audience", with("aud", json!("appkeys-demo-other"))),
        ("wrong issuer", with("iss", json!("https://evil.example/"))),
        ("no issuer", without("iss")),
        ("not yet valid", with("nbf", json!(now() + 3600))),
        ("issued in the future", with("iat", json!(now() + 3600))),
        ("no exp", without("exp")),
        ("no sub", without("sub")),
        ("no aud", without("aud")),
        ("missing required metadata", without("org")),
        ("unknown kid", stranger.sign(&claims("u1"))),
        ("HS256 with the public key", confused),
        ("alg none", none),
        ("tampered", tampered),
        ("oversized", oversized),
        ("not a JWT", "not-a-token".to_owned()),
    ];
    for (what, token) in &cases {
        let r = jwt_login(&c, token).await;
        let message = r.assert_error(401, "AuthError");
        assert!(
            message.starts_with("invalid custom JWT"),
            "{what}: {message}"
        );
    }
    // The unknown kid fetched the JWKS once more at most (the first login fetched it a moment ago).
    assert_eq!(idp.fetches(), 1);
    // A body without a token is a 400.
    let r = c
        .post(
            &format!("{P}/app/{APP}/auth/providers/custom-token/login"),
            json!({}),
        )
        .await;
    r.assert_error(400, "MissingParameter");
    // Past the client's failure limit even a good token waits (429 with Retry-After); others are served.
    let mut limited = None;
    for _ in 0..40 {
        let r = jwt_login(&c, &with("exp", json!(1))).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("no 429 after 40 more failures");
    assert!(limited.headers.contains_key("retry-after"));
    let r = jwt_login(&c, &key.sign(&claims("u1"))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let other = Client::new(&server, "10.2.0.2");
    assert_eq!(
        jwt_login(&other, &key.sign(&claims("u1"))).await.status,
        StatusCode::OK
    );
    // The failures are in the audit log.
    let out = std::process::Command::new(BIN)
        .args(["audit", "--database-url", &db.url])
        .env_remove("APPKEYS_DATABASE_URL")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.matches("invalid_token").count() >= cases.len(),
        "{text}"
    );
}

#[tokio::test]
async fn a_slow_or_down_jwks_gives_503_in_time_and_cached_keys_keep_working() {
    let key = EcKey::new();
    let idp = Idp::start(&[&key]).await;
    idp.set_mode(Mode::Slow);
    let (server, _db) = start(&idp.url, &["--custom-jwt-jwks-timeout", "1"]).await;
    let c = Client::new(&server, "10.3.0.1");
    let started = Instant::now();
    let r = jwt_login(&c, &key.sign(&claims("u1"))).await;
    r.assert_error(503, "ServiceUnavailable");
    assert!(r.headers.contains_key("retry-after"));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // Within the retry pause nobody waits on the provider again.
    let started = Instant::now();
    jwt_login(&c, &key.sign(&claims("u1")))
        .await
        .assert_error(503, "ServiceUnavailable");
    assert!(started.elapsed() < Duration::from_millis(500));
    // The provider is back: after the pause the keys are fetched and logins work.
    idp.set_mode(Mode::Ok);
    tokio::time::sleep(Duration::from_millis(5200)).await;
    let r = jwt_login(&c, &key.sign(&claims("u1"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Down again: the cached key keeps working, without a fetch; a new key is unknown until a refresh.
    idp.set_mode(Mode::Down);
    let fetched = idp.fetches();
    for _ in 0..3 {
        let r = jwt_login(&c, &key.sign(&claims("u1"))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let rotated = EcKey::new();
    idp.publish(&rotated);
    jwt_login(&c, &rotated.sign(&claims("u1")))
        .await
        .assert_error(401, "AuthError");
    assert_eq!(idp.fetches(), fetched, "no fetch within the refresh pause");
}

#[tokio::test]
async fn a_jwks_that_never_answered_gives_503_not_a_hang() {
    let key = EcKey::new();
    let idp = Idp::start(&[&key]).await;
    idp.set_mode(Mode::Down);
    let (server, _db) = start(&idp.url, &[]).await;
    let c = Client::new(&server, "10.4.0.1");
    let r = jwt_login(&c, &key.sign(&claims("u1"))).await;
    r.assert_error(503, "ServiceUnavailable");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=5).contains(&retry), "{retry}");
}

/// A private secret file with these lines.
pub fn secret_file(dir: &std::path::Path, lines: &[&str], mode: u32) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("secrets-{}", lines.len()));
    std::fs::write(&path, lines.join("\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.display().to_string()
}

pub fn hs256(secret: &str, claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

pub const SECRET_A: &str = "first custom JWT secret, at least 32 characters";
pub const SECRET_B: &str = "second custom JWT secret, at least 32 characters";

#[tokio::test]
async fn hs256_secret_file_mode_and_default_audience() {
    let dir = tempfile::tempdir().unwrap();
    let file = secret_file(dir.path(), &["# rotated", SECRET_A, "", SECRET_B], 0o600);
    let db = fresh_db().await;
    let server = ServerProcess::start(
        &[
            "--trust-proxy",
            "127.0.0.1",
            "--custom-jwt-secret-file",
            &file,
        ],
        &db.url,
        &[],
    );
    let c = Client::new(&server, "10.5.0.1");
    // Without --custom-jwt-audience the audience is the app id.
    let mine = |sub: &str| json!({"sub": sub, "aud": APP, "exp": now() + 60});
    let a = Tokens::from(&jwt_login(&c, &hs256(SECRET_A, &mine("s1"))).await);
    let b = Tokens::from(&jwt_login(&c, &hs256(SECRET_B, &mine("s1"))).await);
    assert_eq!(a.user_id, b.user_id, "either secret verifies");
    let mut foreign = mine("s1");
    foreign["aud"] = json!("another-app");
    jwt_login(&c, &hs256(SECRET_A, &foreign))
        .await
        .assert_error(401, "AuthError");
    let wrong = "a secret nobody configured, 32 characters or more";
    jwt_login(&c, &hs256(wrong, &mine("s1")))
        .await
        .assert_error(401, "AuthError");
    // An asymmetric token cannot pass as HS256 here.
    jwt_login(&c, &EcKey::new().sign(&mine("s1")))
        .await
        .assert_error(401, "AuthError");
    // Refused at start: an exposed file, a short or long secret, both key sources, settings without keys.
    let exposed = secret_file(dir.path(), &[SECRET_A, SECRET_B, "x"], 0o644);
    let short = secret_file(dir.path(), &["too short"], 0o600);
    let long = "l".repeat(513);
    let long = secret_file(dir.path(), &[SECRET_A, &long], 0o600);
    let refusals: [(&[&str], &str); 5] = [
        (
            &["--custom-jwt-secret-file", &exposed],
            "readable by group or others",
        ),
        (&["--custom-jwt-secret-file", &short], "too short"),
        (&["--custom-jwt-secret-file", &long], "longer than 512"),
        (
            &[
                "--custom-jwt-secret-file",
                &file,
                "--custom-jwt-jwks-url",
                "https://idp.test/jwks",
            ],
            "cannot be used with",
        ),
        (
            &["--custom-jwt-audience", "x"],
            "need --custom-jwt-jwks-url",
        ),
    ];
    for (args, expected) in refusals {
        let db = fresh_db().await;
        let Err((status, err)) = ServerProcess::try_start(args, &db.url, &[]) else {
            panic!("{args:?} started");
        };
        assert!(!status.success());
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains(SECRET_A), "a secret was printed: {err}");
    }
    let db = fresh_db().await;
    let Err((_, err)) = ServerProcess::try_start(
        &["--custom-jwt-jwks-url", "http://idp.example.com/jwks.json"],
        &db.url,
        &[],
    ) else {
        panic!("a plain-http JWKS URL off loopback was accepted");
    };
    assert!(err.contains("must be https"), "{err}");
}

#[tokio::test]
async fn off_without_configuration() {
    let db = fresh_db().await;
    let server = ServerProcess::start(&[], &db.url, &[]);
    let c = Client::new(&server, "127.0.0.1");
    jwt_login(&c, &hs256(SECRET_A, &json!({"sub": "x"})))
        .await
        .assert_error(404, "AuthProviderNotFound");
}

#[tokio::test]
async fn an_imported_custom_token_identity_logs_in_as_its_user() {
    const IMPORTED: &str = "5f5e1a2b3c4d5e6f7a8b9c0d";
    let db = fresh_db().await;
    appkeys_server::Store::connect(&db.url)
        .await
        .unwrap()
        .close()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("users.json");
    let users = json!([{"_id": IMPORTED, "type": "normal", "creation_date": 1_600_000_000, "disabled": false,
        "identities": [{"id": "auth0|imported", "provider_type": "custom-token", "provider_id": "p"}], "data": {}}]);
    std::fs::write(&export, users.to_string()).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["users", "import", export.to_str().unwrap(), "--app", APP])
        .args(["--database-url", &db.url])
        .env_remove("APPKEYS_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = secret_file(dir.path(), &[SECRET_A], 0o600);
    let server = ServerProcess::start(&["--custom-jwt-secret-file", &file], &db.url, &[]);
    let c = Client::new(&server, "127.0.0.1");
    let token = hs256(
        SECRET_A,
        &json!({"sub": "auth0|imported", "aud": APP, "exp": now() + 60}),
    );
    let r = jwt_login(&c, &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(Tokens::from(&r).user_id, IMPORTED);
    let profile = get(&c, &format!("{P}/auth/profile"), &Tokens::from(&r).access)
        .await
        .json();
    assert_eq!(profile["identities"][0]["id"], "auth0|imported");
    assert_eq!(profile["identities"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn custom_token_sessions_are_capped_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let file = secret_file(dir.path(), &[SECRET_A], 0o600);
    let db = fresh_db().await;
    let server = ServerProcess::start(
        &[
            "--custom-jwt-secret-file",
            &file,
            "--max-sessions-per-user",
            "10",
        ],
        &db.url,
        &[],
    );
    let c = Client::new(&server, "127.0.0.1");
    let token = hs256(
        SECRET_A,
        &json!({"sub": "often", "aud": APP, "exp": now() + 600}),
    );
    let first = Tokens::from(&jwt_login(&c, &token).await);
    for _ in 0..39 {
        assert_eq!(jwt_login(&c, &token).await.status, StatusCode::OK);
    }
    let store = appkeys_server::Store::connect(&db.url).await.unwrap();
    let mut live = i64::MAX;
    for _ in 0..50 {
        live = store.count("SELECT COUNT(*) FROM sessions").await.unwrap();
        if live <= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(live <= 10, "{live} sessions of one user, cap 10");
    c.refresh(&first.refresh)
        .await
        .assert_error(401, "InvalidSession");
}
