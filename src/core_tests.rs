//! Native tests of the core against an in-memory fake server (pure logic: request building, token
//! rules, user state, storage). The real-server tests are the wasm-bindgen tests in `tests/` and the
//! JS suites.
use crate::app::{AppCore, Config, KeyOp, User};
use crate::credentials::Credentials;
use crate::error::Error;
use crate::platform::{HttpRequest, HttpResponse, Platform};
use crate::storage::{MemoryStore, Store, UserField};
use crate::user::UserState;
use appkeys_protocol::wire::ApiKey;
use appkeys_protocol::{Endpoint, Method, TokenKind, UserpassAction};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

const UID: &str = "5eb5931548d79bc784adf46e";
const KID: &str = "6a000000000000000000000a";
const HOST: &str = "http://api.test:1";

/// A tiny App Services server: tokens `access-N` / `refresh-M`, one user, API keys in memory.
struct Server {
    log: RefCell<Vec<HttpRequest>>,
    access: RefCell<String>,
    refresh: RefCell<String>,
    refreshes: Cell<u32>,
    keys: RefCell<Vec<Value>>,
    /// When set, every access-token request is refused (a server that rejects fresh tokens).
    reject_all_access: Cell<bool>,
    /// When set, `POST auth/session` fails with 401.
    reject_refresh: Cell<bool>,
    offline: Cell<bool>,
}

fn reply(status: u16, body: Option<Value>) -> HttpResponse {
    let status_text = match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "",
    };
    HttpResponse {
        status,
        status_text: status_text.into(),
        json: body.map(|b| b.to_string()),
    }
}

fn invalid_session() -> HttpResponse {
    reply(
        401,
        Some(
            json!({"error": "invalid session: access token expired", "error_code": "InvalidSession"}),
        ),
    )
}

impl Server {
    fn new() -> Rc<Server> {
        Rc::new(Server {
            log: RefCell::new(Vec::new()),
            access: RefCell::new("access-0".into()),
            refresh: RefCell::new("refresh-0".into()),
            refreshes: Cell::new(0),
            keys: RefCell::new(Vec::new()),
            reject_all_access: Cell::new(false),
            reject_refresh: Cell::new(false),
            offline: Cell::new(false),
        })
    }

    fn requests(&self, method: Method, path_end: &str) -> usize {
        let log = self.log.borrow();
        log.iter()
            .filter(|r| r.method == method && r.url.ends_with(path_end))
            .count()
    }

    /// Makes the current access token invalid (as if expired).
    fn expire_access(&self) {
        let next = format!("{}-expired", self.access.borrow());
        *self.access.borrow_mut() = next;
    }

    fn handle(&self, r: &HttpRequest) -> HttpResponse {
        let path = r
            .url
            .split("/api/client/v2.0")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let bearer = r
            .header("Authorization")
            .and_then(|h| h.strip_prefix("Bearer "));
        let access_ok =
            !self.reject_all_access.get() && bearer == Some(self.access.borrow().as_str());
        let refresh_ok = bearer == Some(self.refresh.borrow().as_str());
        let body: Value = r
            .body
            .as_deref()
            .map(|b| serde_json::from_str(b).unwrap())
            .unwrap_or(Value::Null);
        match (r.method, path.as_str()) {
            (Method::Get, "/app/demo/location") => reply(
                200,
                Some(
                    json!({"hostname": HOST, "deployment_model": "LOCAL", "location": "local", "ws_hostname": "ws://api.test:1"}),
                ),
            ),
            (Method::Post, "/app/demo/auth/providers/local-userpass/register") => reply(201, None),
            (Method::Post, p)
                if p.starts_with("/app/demo/auth/providers/local-userpass/")
                    && !p.contains("/login") =>
            {
                if body.get("token") == Some(&json!("used")) {
                    return reply(
                        400,
                        Some(
                            json!({"error": "invalid token data", "error_code": "UserpassTokenInvalid"}),
                        ),
                    );
                }
                reply(if p.ends_with("/send") { 202 } else { 204 }, None)
            }
            (Method::Post, "/auth/session") if self.reject_refresh.get() => invalid_session(),
            (Method::Post, p) if p.starts_with("/app/demo/auth/providers/") => {
                if body.get("password") == Some(&json!("wrong"))
                    || body.get("key") == Some(&json!("bad"))
                {
                    return reply(
                        401,
                        Some(json!({"error": "unauthorized", "error_code": "InvalidPassword"})),
                    );
                }
                let n = self.refreshes.get();
                *self.access.borrow_mut() = if p.ends_with("?link=true") {
                    "access-linked".to_owned()
                } else {
                    format!("access-login-{n}")
                };
                *self.refresh.borrow_mut() = format!("refresh-login-{}", self.log.borrow().len());
                let mut login = json!({
                    "access_token": *self.access.borrow(),
                    "refresh_token": *self.refresh.borrow(),
                    "user_id": UID,
                    "device_id": "6b0000000000000000000001",
                });
                // As appkeys-server: a password login that sent no device secret gets one.
                if p.ends_with("local-userpass/login") && body.get("device_secret").is_none() {
                    login["device_secret"] = json!("device-proof-of-a");
                }
                reply(200, Some(login))
            }
            (Method::Get, "/auth/profile") if access_ok => reply(
                200,
                Some(
                    json!({"user_id": UID, "domain_id": "demo", "identities": [{"id": "x", "provider_type": "local-userpass", "provider_id": "local-userpass"}], "data": {"email": "a@b.c"}, "type": "normal"}),
                ),
            ),
            (Method::Delete, "/auth/delete") if access_ok => reply(204, None),
            (_, "/auth/profile") | (_, "/auth/delete") => invalid_session(),
            (Method::Post, "/auth/session") if refresh_ok => {
                self.refreshes.set(self.refreshes.get() + 1);
                let token = format!("access-{}", self.refreshes.get());
                *self.access.borrow_mut() = token.clone();
                reply(201, Some(json!({"access_token": token})))
            }
            (Method::Delete, "/auth/session") => reply(204, None),
            (_, p) if p.starts_with("/auth/") && !refresh_ok => invalid_session(),
            (Method::Post, "/auth/api_keys") => {
                let key = json!({"_id": KID, "key": "secret", "name": body["name"], "disabled": false, "createdAt": 1_700_000_000_000_i64, "lastUsedAt": null, "start": "appk_abc"});
                let mut listed = key.clone();
                listed.as_object_mut().unwrap().remove("key");
                self.keys.borrow_mut().push(listed);
                reply(201, Some(key))
            }
            (Method::Get, "/auth/api_keys") => {
                reply(200, Some(Value::Array(self.keys.borrow().clone())))
            }
            (Method::Get, p) if p == format!("/auth/api_keys/{KID}") => {
                match self.keys.borrow().first() {
                    Some(k) => reply(200, Some(k.clone())),
                    None => reply(
                        404,
                        Some(json!({"error": "API key not found", "error_code": "APIKeyNotFound"})),
                    ),
                }
            }
            (Method::Put, p) if p.starts_with("/auth/api_keys/") => {
                let disabled = p.ends_with("/disable");
                for k in self.keys.borrow_mut().iter_mut() {
                    k["disabled"] = json!(disabled);
                }
                reply(204, None)
            }
            (Method::Delete, p) if p.starts_with("/auth/api_keys/") => {
                self.keys.borrow_mut().clear();
                reply(204, None)
            }
            _ => reply(
                404,
                Some(json!({"error": "no route", "error_code": "NotFound"})),
            ),
        }
    }
}

/// The native platform: the fake server in memory, serde_json for JSON, string errors. A request
/// is answered at once but its response is handed over one poll later, so that concurrent calls
/// really have their requests in flight together.
pub(crate) struct Native(Rc<Server>);

impl Platform for Native {
    type Error = String;

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        if self.0.offline.get() {
            return Err("fetch failed".to_owned());
        }
        let response = self.0.handle(&request);
        self.0.log.borrow_mut().push(request);
        YieldOnce(false).await;
        Ok(response)
    }

    fn to_json<T: Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
    }

    fn from_json<T: DeserializeOwned>(text: &str) -> Option<T> {
        serde_json::from_str(text).ok()
    }
}

/// Pending once, then ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

type Core = AppCore<Native, SharedStore>;
type Outcome<T> = Result<T, Error<String>>;

/// An app over the fake server, with the SDK calls run to completion.
struct App {
    core: Core,
}

impl std::ops::Deref for App {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

fn run<T>(future: impl Future<Output = T>) -> T {
    futures::executor::block_on(future)
}

impl App {
    /// Runs `calls` concurrently; their outcomes in order.
    fn all<T>(&self, calls: Vec<Pin<Box<dyn Future<Output = T> + '_>>>) -> Vec<T> {
        run(futures::future::join_all(calls))
    }

    /// Logs in the fake server's one user with the right password.
    fn sign_in(&self) -> User<Native> {
        self.log_in(&Credentials::email_password("a@b.c", "pw"))
            .unwrap()
    }

    // The SDK calls, as the JS API makes them.

    fn log_in(&self, credentials: &Credentials) -> Outcome<User<Native>> {
        run(self.core.log_in(credentials))
    }
    fn create_api_key(&self, user: &User<Native>, name: &str) -> Outcome<ApiKey> {
        let request = appkeys_protocol::wire::CreateApiKeyRequest {
            name: name.to_owned(),
            expires_at: None,
            scopes: None,
            allowed_ips: Vec::new(),
        };
        run(self.core.create_api_key(user, &request))
    }
    fn fetch_api_key(&self, user: &User<Native>, id: &str) -> Outcome<ApiKey> {
        run(self.core.fetch_api_key(user, id))
    }
    fn fetch_api_keys(&self, user: &User<Native>) -> Outcome<Vec<ApiKey>> {
        run(self.core.fetch_api_keys(user))
    }
    fn api_key_op(&self, user: &User<Native>, op: KeyOp, id: &str) -> Outcome<()> {
        run(self.core.api_key_op(user, op, id))
    }
    fn refresh_profile(&self, user: &User<Native>) -> Outcome<()> {
        run(self.core.refresh_profile(user))
    }
    fn log_out(&self, user: &User<Native>) {
        run(self.core.log_out(user)).unwrap()
    }
    fn remove_user(&self, user: &User<Native>) -> Outcome<()> {
        run(self.core.remove_user(user))
    }
    fn delete_user(&self, user: &User<Native>) -> Outcome<()> {
        run(self.core.delete_user(user))
    }
    fn link_credentials(&self, user: &User<Native>, credentials: &Credentials) -> Outcome<()> {
        run(self.core.link_credentials(user, credentials))
    }
    fn register_user(&self, email: &str, password: &str) -> Outcome<()> {
        run(self.core.register(email, password))
    }
    fn key(&self, store: &SharedStore, field: UserField) -> Option<String> {
        store.get(&self.layout().user(UID, field))
    }
}

/// A store shared between app instances (like one `localStorage`).
#[derive(Clone, Default)]
struct SharedStore(Rc<MemoryStore>);
impl Store for SharedStore {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key)
    }
    fn set(&self, key: &str, value: &str) {
        self.0.set(key, value)
    }
    fn remove(&self, key: &str) {
        self.0.remove(key)
    }
}

fn app_with(server: &Rc<Server>, store: SharedStore, skip_location: bool) -> App {
    let config = Config {
        id: "demo".into(),
        base_url: "http://base.test:9/".into(),
        skip_location_request: skip_location,
    };
    App {
        core: AppCore::new(config, Native(server.clone()), store),
    }
}

fn app(server: &Rc<Server>) -> App {
    app_with(server, SharedStore::default(), false)
}

#[test]
fn requests_carry_the_right_method_url_and_headers_per_route() {
    let ids = ["a", "b"];
    let endpoints = [
        Endpoint::Location { app_id: "demo" },
        Endpoint::Login {
            app_id: "demo",
            provider: "api-key",
        },
        Endpoint::Register { app_id: "demo" },
        Endpoint::Profile,
        Endpoint::RefreshSession,
        Endpoint::LogOut,
        Endpoint::DeleteUser,
        Endpoint::RemoveIdentity,
        Endpoint::CreateApiKey,
        Endpoint::ListApiKeys,
        Endpoint::FetchApiKey { id: KID },
        Endpoint::DeleteApiKey { id: KID },
        Endpoint::EnableApiKey { id: KID },
        Endpoint::DisableApiKey { id: KID },
    ];
    for endpoint in endpoints {
        for body in [None, Some("{}".to_owned())] {
            let r = HttpRequest::new("http://h:1/", &endpoint, Some(ids[0]), body.clone());
            assert_eq!(r.method, endpoint.method());
            assert_eq!(r.url, format!("http://h:1{}", endpoint.path()));
            assert_eq!(r.header("Accept"), Some("application/json"));
            assert_eq!(
                r.header("Content-Type").is_some(),
                body.is_some(),
                "{endpoint:?}"
            );
            let auth = r.header("Authorization");
            match endpoint.token() {
                TokenKind::None => assert_eq!(auth, None, "{endpoint:?}"),
                _ => assert_eq!(auth, Some("Bearer a"), "{endpoint:?}"),
            }
            assert_eq!(r.body, body);
        }
        // No token known: no Authorization header at all.
        let r = HttpRequest::new("http://h:1", &endpoint, None, None);
        assert_eq!(r.header("Authorization"), None);
        assert_eq!(r.headers().len(), 1);
    }
    assert_eq!(
        HttpRequest::new(
            "http://h:1",
            &Endpoint::EnableApiKey { id: KID },
            Some(ids[1]),
            None
        )
        .url,
        format!("http://h:1/api/client/v2.0/auth/api_keys/{KID}/enable")
    );
}

#[test]
fn login_asks_location_then_logs_in_then_fetches_the_profile() {
    let server = Server::new();
    let store = SharedStore::default();
    let app = app_with(&server, store.clone(), false);
    let user = app
        .log_in(&Credentials::email_password("a@b.c", "pw\"1"))
        .unwrap();
    let log = server.log.borrow();
    assert_eq!(log.len(), 3);
    assert_eq!(
        log[0].url,
        "http://base.test:9/api/client/v2.0/app/demo/location"
    );
    assert_eq!(log[0].header("Authorization"), None);
    assert_eq!(log[1].method, Method::Post);
    assert_eq!(
        log[1].url,
        format!("{HOST}/api/client/v2.0/app/demo/auth/providers/local-userpass/login")
    );
    assert_eq!(log[1].header("Authorization"), None);
    let body: Value = serde_json::from_str(log[1].body.as_deref().unwrap()).unwrap();
    assert_eq!(body, json!({"username": "a@b.c", "password": "pw\"1"}));
    assert_eq!(log[2].url, format!("{HOST}/api/client/v2.0/auth/profile"));
    assert_eq!(
        log[2].header("Authorization"),
        Some("Bearer access-login-0")
    );
    drop(log);

    assert_eq!(user.id(), UID);
    assert_eq!(user.state(), UserState::Active);
    assert_eq!(user.provider_type(), "local-userpass");
    assert_eq!(
        user.device_id().as_deref(),
        Some("6b0000000000000000000001")
    );
    assert_eq!(user.profile().unwrap().data.get("email"), Some("a@b.c"));
    assert!(Rc::ptr_eq(&app.current_user().unwrap(), &user));

    let key = |f| app.key(&store, f);
    assert_eq!(key(UserField::AccessToken), user.access_token());
    assert_eq!(key(UserField::RefreshToken), user.refresh_token());
    assert_eq!(
        key(UserField::ProviderType).as_deref(),
        Some("local-userpass")
    );
    assert!(key(UserField::Profile).unwrap().contains("a@b.c"));
    assert_eq!(
        store.get("appkeys:app(demo):userIds"),
        Some(format!("[\"{UID}\"]"))
    );

    // Wrong password: the server's 401 surfaces, nobody is logged in additionally.
    let e = app
        .log_in(&Credentials::email_password("a@b.c", "wrong"))
        .unwrap_err();
    let e = e.app().unwrap();
    assert_eq!(
        (e.status_code, e.error_code.as_deref()),
        (401, Some("InvalidPassword"))
    );
    assert_eq!(
        server.refreshes.get(),
        0,
        "a 401 on a login is never a reason to refresh"
    );
}

#[test]
fn api_key_routes_use_the_refresh_token_and_pass_bodies_through() {
    let server = Server::new();
    let store = SharedStore::default();
    let app = app_with(&server, store.clone(), true);
    let user = app.sign_in();
    let created = app.create_api_key(&user, "apiKeyName").unwrap();
    assert_eq!(created.key.as_deref(), Some("secret"));
    assert_eq!(created.name, "apiKeyName");
    // appkeys-server's extra fields come through.
    assert_eq!(created.created_at, 1_700_000_000_000);
    assert_eq!(created.last_used_at, None);
    assert_eq!(created.start, "appk_abc");
    {
        let log = server.log.borrow();
        let r = log.last().unwrap();
        assert_eq!(r.url, "http://base.test:9/api/client/v2.0/auth/api_keys");
        assert_eq!(
            r.header("Authorization").unwrap(),
            format!("Bearer {}", user.refresh_token().unwrap())
        );
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.body.as_deref(), Some(r#"{"name":"apiKeyName"}"#));
    }
    let fetched = app.fetch_api_key(&user, KID).unwrap();
    assert_eq!(
        fetched,
        ApiKey {
            key: None,
            ..created
        }
    );
    app.api_key_op(&user, KeyOp::Disable, KID).unwrap();
    assert!(app.fetch_api_keys(&user).unwrap()[0].disabled);
    app.api_key_op(&user, KeyOp::Enable, KID).unwrap();
    assert_eq!(server.requests(Method::Put, "/enable"), 1);
    app.api_key_op(&user, KeyOp::Delete, KID).unwrap();
    let e = app.fetch_api_key(&user, KID).unwrap_err();
    assert_eq!(
        e.app().unwrap().error_code.as_deref(),
        Some("APIKeyNotFound")
    );
    assert_eq!(e.app().unwrap().status_code, 404);
    assert_eq!(user.state(), UserState::Active, "a 404 does not log out");

    // Malformed ids fail before any request.
    let before = server.log.borrow().len();
    for bad in [
        "",
        "zz",
        "5eb5931548d79bc784adf46",
        "../../../etc/passwd00000",
        "5eb5931548d79bc784adf46e/x",
    ] {
        let e = app.api_key_op(&user, KeyOp::Delete, bad).unwrap_err();
        assert!(matches!(e, Error::Type(_)), "{bad:?}");
    }
    assert_eq!(server.log.borrow().len(), before);
    // API keys are never persisted.
    let entries = store.0.entries();
    assert!(entries.len() >= 5, "{entries:?}");
    assert!(entries.iter().all(|(_, v)| !v.contains("secret")));
}

#[test]
fn expired_access_token_is_refreshed_once_and_the_request_retried_once() {
    let server = Server::new();
    let store = SharedStore::default();
    let app = app_with(&server, store.clone(), true);
    let user = app.sign_in();
    server.expire_access();
    app.refresh_profile(&user).unwrap();
    assert_eq!(server.refreshes.get(), 1);
    assert_eq!(
        server.requests(Method::Get, "/auth/profile"),
        3,
        "login, 401, retry"
    );
    let refresh = server
        .log
        .borrow()
        .iter()
        .find(|r| r.url.ends_with("/auth/session"))
        .cloned()
        .unwrap();
    assert_eq!(refresh.method, Method::Post);
    assert_eq!(
        refresh.header("Authorization").unwrap(),
        format!("Bearer {}", user.refresh_token().unwrap())
    );
    assert_eq!(user.access_token().as_deref(), Some("access-1"));
    assert_eq!(
        store
            .get(&app.layout().user(UID, UserField::AccessToken))
            .as_deref(),
        Some("access-1")
    );

    // A server that keeps refusing: exactly one refresh and one retry, then the error.
    server.reject_all_access.set(true);
    let e = app.refresh_profile(&user).unwrap_err();
    assert_eq!(
        e.app().unwrap().error_code.as_deref(),
        Some("InvalidSession")
    );
    assert_eq!(server.refreshes.get(), 2);
    assert_eq!(server.requests(Method::Get, "/auth/profile"), 5);
    assert_eq!(
        user.state(),
        UserState::Active,
        "access-token 401s do not log out"
    );
}

#[test]
fn concurrent_401s_share_a_single_refresh() {
    let server = Server::new();
    let app = app_with(&server, SharedStore::default(), true);
    let user = app.sign_in();
    server.expire_access();
    let calls = (0..20)
        .map(|_| {
            Box::pin(app.core.refresh_profile(&user)) as Pin<Box<dyn Future<Output = Outcome<()>>>>
        })
        .collect();
    let results = app.all(calls);
    let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        server.refreshes.get(),
        1,
        "exactly one refresh for 20 concurrent 401s"
    );
    assert_eq!(server.requests(Method::Post, "/auth/session"), 1);
    // 1 at login + 20 rejected + 20 retried.
    assert_eq!(server.requests(Method::Get, "/auth/profile"), 41);

    // The refresh unregisters itself when done: the next 401 starts a new refresh.
    assert!(!user.is_refreshing());
    server.expire_access();
    app.refresh_profile(&user).unwrap();
    assert_eq!(server.refreshes.get(), 2);
    assert!(!user.is_refreshing());
}

#[test]
fn a_401_on_a_refresh_token_request_logs_the_user_out() {
    let server = Server::new();
    let store = SharedStore::default();
    let app = app_with(&server, store.clone(), true);
    let user = app.sign_in();
    *server.refresh.borrow_mut() = "revoked".into();
    let e = app.fetch_api_keys(&user).unwrap_err();
    assert_eq!(e.app().unwrap().status_code, 401);
    assert_eq!(user.state(), UserState::LoggedOut);
    assert_eq!(user.access_token(), None);
    assert_eq!(user.refresh_token(), None);
    assert!(app.current_user().is_none());
    assert_eq!(app.users().len(), 1, "logged-out users stay known");
    assert_eq!(app.key(&store, UserField::RefreshToken), None);
    assert_eq!(app.key(&store, UserField::AccessToken), None);
    assert_eq!(server.refreshes.get(), 0);

    // Same when the refresh itself is refused after an access-token 401.
    let user = app.sign_in();
    server.expire_access();
    server.reject_refresh.set(true);
    // The call fails with the refresh's own error.
    let e = app.refresh_profile(&user).unwrap_err();
    let e = e.app().expect("the refresh's AppError");
    assert_eq!(
        (e.method, e.url.as_str(), e.status_code),
        (
            "POST",
            "http://base.test:9/api/client/v2.0/auth/session",
            401
        )
    );
    assert_eq!(
        server.requests(Method::Get, "/auth/profile"),
        3,
        "2 logins + 1: no retry"
    );
    assert_eq!(user.state(), UserState::LoggedOut);
}

#[test]
fn users_are_deduplicated_switched_logged_out_removed_and_deleted() {
    let server = Server::new();
    let store = SharedStore::default();
    let app = app_with(&server, store.clone(), true);
    let first = app.sign_in();
    // An API key of the same user logs in as the same user object; provider type is kept.
    let again = app.log_in(&Credentials::api_key("secret")).unwrap();
    assert!(Rc::ptr_eq(&first, &again));
    assert_eq!(again.provider_type(), "local-userpass");
    assert_eq!(app.users().len(), 1);
    let body = server
        .log
        .borrow()
        .iter()
        .rev()
        .find(|r| r.url.ends_with("/api-key/login"))
        .unwrap()
        .body
        .clone();
    assert_eq!(body.as_deref(), Some(r#"{"key":"secret"}"#));

    // A second app on the same store restores the user, logged in, with profile.
    let restored = app_with(&server, store.clone(), true);
    let u = restored.current_user().expect("restored from storage");
    assert_eq!(u.id(), UID);
    assert_eq!(u.refresh_token(), first.refresh_token());
    assert_eq!(u.profile().unwrap().data.get("email"), Some("a@b.c"));

    // logOut: DELETE auth/session with the refresh token, then no tokens.
    let refresh = first.refresh_token().unwrap();
    app.log_out(&first);
    let last = server.log.borrow().last().cloned().unwrap();
    assert_eq!(
        (last.method, last.header("Authorization")),
        (Method::Delete, Some(format!("Bearer {refresh}").as_str()))
    );
    assert_eq!(first.state(), UserState::LoggedOut);
    assert!(app.current_user().is_none());
    // Logging out again sends nothing; errors (offline) are ignored.
    server.offline.set(true);
    let n = server.log.borrow().len();
    app.log_out(&first);
    assert_eq!(server.log.borrow().len(), n);
    server.offline.set(false);

    // switchUser with a user of another app instance fails.
    assert!(matches!(app.switch_user(&u), Err(Error::Other(_))));
    app.sign_in();
    app.remove_user(&first).unwrap();
    assert_eq!(first.state(), UserState::Removed);
    assert!(app.users().is_empty());
    assert_eq!(app.key(&store, UserField::Profile), None);
    assert_eq!(
        store.get("appkeys:app(demo):userIds").as_deref(),
        Some("[]")
    );
    assert!(matches!(app.remove_user(&first), Err(Error::Other(_))));

    // deleteUser: DELETE auth/delete with the access token, then removed.
    let user = app.sign_in();
    assert!(!Rc::ptr_eq(&user, &first), "a removed user is not revived");
    app.delete_user(&user).unwrap();
    assert_eq!(server.requests(Method::Delete, "/auth/delete"), 1);
    assert_eq!(user.state(), UserState::Removed);
}

#[test]
fn anonymous_users_are_reused_while_logged_in() {
    let server = Server::new();
    let app = app_with(&server, SharedStore::default(), true);
    let a = app.log_in(&Credentials::Anonymous).unwrap();
    let logins = server.requests(Method::Post, "/anon-user/login");
    let b = app.log_in(&Credentials::Anonymous).unwrap();
    assert!(Rc::ptr_eq(&a, &b));
    assert_eq!(server.requests(Method::Post, "/anon-user/login"), logins);
    let body = server
        .log
        .borrow()
        .iter()
        .find(|r| r.url.ends_with("/anon-user/login"))
        .unwrap()
        .body
        .clone();
    assert_eq!(body.as_deref(), Some("{}"));
}

#[test]
fn location_is_cached_and_transport_errors_pass_through() {
    let server = Server::new();
    let app = app(&server);
    server.offline.set(true);
    let e = app.register_user("a@b.c", "pw").unwrap_err();
    assert_eq!(e, Error::Transport("fetch failed".to_owned()));
    server.offline.set(false);
    app.register_user("a@b.c", "pw").unwrap();
    app.register_user("a@b.c", "pw").unwrap();
    assert_eq!(
        server.requests(Method::Get, "/location"),
        1,
        "failures are not cached, successes are"
    );
    let register = server.log.borrow().last().cloned().unwrap();
    assert_eq!(
        register.url,
        format!("{HOST}/api/client/v2.0/app/demo/auth/providers/local-userpass/register")
    );
    assert_eq!(
        register.body.as_deref(),
        Some(r#"{"email":"a@b.c","password":"pw"}"#)
    );
}

#[test]
fn confirmation_and_reset_calls_post_their_bodies_without_a_token() {
    let server = Server::new();
    let app = app(&server);
    app.sign_in();
    let cases = [
        (
            UserpassAction::Confirm,
            r#"{"token":"t","tokenId":"i"}"#,
            "confirm",
        ),
        (
            UserpassAction::ResendConfirmation,
            r#"{"email":"a@b.c"}"#,
            "confirm/send",
        ),
        (
            UserpassAction::SendReset,
            r#"{"email":"a@b.c"}"#,
            "reset/send",
        ),
        (
            UserpassAction::Reset,
            r#"{"token":"t","tokenId":"i","password":"new-password"}"#,
            "reset",
        ),
    ];
    for (action, body, tail) in cases {
        run(app.core.userpass(action, body.to_owned())).unwrap();
        let sent = server.log.borrow().last().cloned().unwrap();
        assert_eq!(sent.method, Method::Post);
        assert_eq!(
            sent.url,
            format!("{HOST}/api/client/v2.0/app/demo/auth/providers/local-userpass/{tail}")
        );
        assert_eq!(sent.body.as_deref(), Some(body));
        // The current user's tokens are never sent to these routes.
        assert_eq!(sent.header("Authorization"), None, "{tail}");
    }
    let e = run(app.core.userpass(
        UserpassAction::Confirm,
        r#"{"token":"used","tokenId":"i"}"#.to_owned(),
    ))
    .unwrap_err();
    match e {
        Error::App(data) => {
            assert_eq!(data.status_code, 400);
            assert_eq!(data.error_code.as_deref(), Some("UserpassTokenInvalid"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn apps_sharing_a_store_keep_each_others_users() {
    let server = Server::new();
    let store = SharedStore::default();
    // Another tab stored a user this App instance has never seen.
    let other_id = "6a00000000000000000000ff";
    store.set("appkeys:app(demo):userIds", &format!("[\"{other_id}\"]"));
    let app = app_with(&server, store.clone(), true);
    assert!(
        app.users().is_empty(),
        "no providerType stored: not restored"
    );
    let user = app.sign_in();
    assert_eq!(
        store.get("appkeys:app(demo):userIds"),
        Some(format!("[\"{UID}\",\"{other_id}\"]")),
        "merged, ours first"
    );
    app.remove_user(&user).unwrap();
    assert_eq!(
        store.get("appkeys:app(demo):userIds"),
        Some(format!("[\"{other_id}\"]"))
    );
}

#[test]
fn linking_posts_with_the_access_token_then_fetches_the_profile() {
    let server = Server::new();
    let app = app(&server);
    let user = app.log_in(&Credentials::Anonymous).unwrap();
    let (access, refresh) = (user.access_token().unwrap(), user.refresh_token());
    let before = server.log.borrow().len();
    app.link_credentials(&user, &Credentials::jwt("h.p.s"))
        .unwrap();
    let log = server.log.borrow();
    let link = &log[before];
    assert_eq!(link.method, Method::Post);
    assert_eq!(
        link.url,
        format!("{HOST}/api/client/v2.0/app/demo/auth/providers/custom-token/login?link=true")
    );
    assert_eq!(
        link.header("Authorization"),
        Some(format!("Bearer {access}").as_str())
    );
    let body: Value = serde_json::from_str(link.body.as_deref().unwrap()).unwrap();
    assert_eq!(body, json!({"token": "h.p.s"}));
    assert!(log[before + 1].url.ends_with("/auth/profile"));
    assert_eq!(log.len(), before + 2);
    drop(log);
    // The new access token is the user's; the refresh token (its session) stays.
    assert_eq!(user.access_token().as_deref(), Some("access-linked"));
    assert_eq!(user.refresh_token(), refresh);
}

#[test]
fn a_password_login_keeps_the_device_secret_and_sends_it_back() {
    let server = Server::new();
    let store = SharedStore::default();
    let app = app_with(&server, store.clone(), false);
    app.sign_in();
    let kept = store.get("appkeys:app(demo):deviceSecret(a@b.c)");
    assert_eq!(kept.as_deref(), Some("device-proof-of-a"));
    // The next login of that account (any spelling of its address) sends it back; no new one is given.
    app.log_in(&Credentials::email_password("A@B.c", "pw"))
        .unwrap();
    let log = server.log.borrow();
    let logins: Vec<Value> = log
        .iter()
        .filter(|r| r.url.ends_with("/local-userpass/login"))
        .map(|r| serde_json::from_str(r.body.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(logins.len(), 2);
    assert!(logins[0].get("device_secret").is_none());
    assert_eq!(logins[1]["device_secret"], "device-proof-of-a");
    // Other credentials never carry it.
    drop(log);
    app.log_in(&Credentials::api_key("good")).unwrap();
    let last = server
        .log
        .borrow()
        .iter()
        .rev()
        .find(|r| r.url.ends_with("/api-key/login"))
        .cloned();
    assert!(!last.unwrap().body.unwrap().contains("device_secret"));
}

#[test]
fn jwt_payloads_decode_from_base64url() {
    use crate::user::jwt_payload;
    // {"sub":"u","user_data":{"plan":"pro","name":"Zoë"}} with the URL-safe alphabet, no padding.
    let token = "e30.eyJzdWIiOiJ1IiwidXNlcl9kYXRhIjp7InBsYW4iOiJwcm8iLCJuYW1lIjoiWm_DqyJ9fQ.sig";
    assert_eq!(
        jwt_payload(token).as_deref(),
        Some(r#"{"sub":"u","user_data":{"plan":"pro","name":"Zoë"}}"#)
    );
    assert_eq!(jwt_payload("nodots"), None);
    assert_eq!(jwt_payload("a.b!c.d"), None);
}
