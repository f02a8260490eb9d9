//! Native tests of the core against an in-memory fake server (pure logic: request building, token
//! rules, user state, storage). The real-server tests are the wasm-bindgen tests in `tests/`.
use crate::client::{
    AppCore, Config, Credentials, Input, KeyOp, MemoryStore, Op, Output, Platform, Req, Step,
    Store, Task, UserCore, UserState,
};
use crate::error::Error;
use crate::http::{build_request, HttpRequest, HttpResponse};
use crate::json::Json;
use appkeys_protocol::{Endpoint, Method, TokenKind};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

impl Json for Value {
    fn str_field(&self, name: &str) -> Option<String> {
        self.get(name)?.as_str().map(str::to_owned)
    }
    fn field(&self, name: &str) -> Option<Value> {
        self.as_object()?.get(name).cloned()
    }
    fn stringify(&self) -> Option<String> {
        serde_json::to_string(self).ok()
    }
    fn parse(text: &str) -> Option<Value> {
        serde_json::from_str(text).ok()
    }
}

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

fn reply(status: u16, body: Option<Value>) -> HttpResponse<Value> {
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
        body,
    }
}

fn invalid_session() -> HttpResponse<Value> {
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

    fn handle(&self, r: &HttpRequest) -> HttpResponse<Value> {
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
                Some(json!({"hostname": HOST, "deployment_model": "LOCAL"})),
            ),
            (Method::Post, "/app/demo/auth/providers/local-userpass/register") => reply(201, None),
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
                *self.access.borrow_mut() = format!("access-login-{n}");
                *self.refresh.borrow_mut() = format!("refresh-login-{}", self.log.borrow().len());
                reply(
                    200,
                    Some(json!({
                        "access_token": *self.access.borrow(),
                        "refresh_token": *self.refresh.borrow(),
                        "user_id": UID,
                        "device_id": "6b0000000000000000000001",
                    })),
                )
            }
            (Method::Get, "/auth/profile") if access_ok => reply(
                200,
                Some(
                    json!({"user_id": UID, "identities": [{"id": "x", "provider_type": "local-userpass"}], "data": {"email": "a@b.c"}, "type": "normal"}),
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
                let key = json!({"_id": KID, "key": "secret", "name": body["name"], "disabled": false, "extra": 1});
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

/// The native platform: serde_json values, string errors, a refresh is waited for by task id.
struct Native;
impl Platform for Native {
    type Json = Value;
    type Error = String;
    type Pending = usize;
}

type Core = AppCore<Native, SharedStore>;
type User = Rc<UserCore<Native>>;
type Outcome = Result<Output<Native>, Error<String>>;

/// An app and a driver for its tasks against the fake server: a run queue in which every task
/// advances one step per turn, so that concurrent tasks really have their requests in flight
/// together (all first requests are sent before any response is read).
struct App {
    core: Core,
    server: Rc<Server>,
    tasks: RefCell<Vec<Option<Task<Native>>>>,
    /// Tasks waiting for a refresh task: (waiter, refresh task).
    waiting: RefCell<Vec<(usize, usize)>>,
    done: RefCell<Vec<Option<Outcome>>>,
    queue: RefCell<VecDeque<(usize, Input<Native>)>>,
}

impl std::ops::Deref for App {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl App {
    fn spawn(&self, task: Task<Native>) -> usize {
        self.tasks.borrow_mut().push(Some(task));
        self.done.borrow_mut().push(None);
        let id = self.tasks.borrow().len() - 1;
        self.queue.borrow_mut().push_back((id, Input::Start));
        id
    }

    /// Runs every queued task to completion.
    fn run(&self) {
        loop {
            let Some((id, input)) = self.queue.borrow_mut().pop_front() else {
                return;
            };
            let mut task = self.tasks.borrow_mut()[id].take().unwrap();
            match self.core.step(&mut task, input) {
                Step::Send(request) => {
                    // Offline: nothing reaches the server.
                    let input = if self.server.offline.get() {
                        Input::Failed("fetch failed".to_owned())
                    } else {
                        let response = self.server.handle(&request);
                        self.server.log.borrow_mut().push(request);
                        Input::Response(response)
                    };
                    self.queue.borrow_mut().push_back((id, input));
                }
                Step::Refresh(user) => {
                    let refresh = user.refreshing().unwrap_or_else(|| {
                        let r = self.spawn(Task::new(Op::Refresh, Some(user.clone())));
                        user.set_refreshing(r);
                        r
                    });
                    self.waiting.borrow_mut().push((id, refresh));
                }
                Step::Done(outcome) => {
                    // Waiters get the refresh's outcome (in JS: the settled refresh promise).
                    let wake = || match &outcome {
                        Ok(_) => Input::Refreshed,
                        Err(Error::App(e)) => Input::Failed(format!("{} {}", e.method, e.url)),
                        Err(e) => Input::Failed(format!("{e:?}")),
                    };
                    self.waiting.borrow_mut().retain(|&(waiter, refresh)| {
                        if refresh == id {
                            self.queue.borrow_mut().push_back((waiter, wake()));
                        }
                        refresh != id
                    });
                    self.done.borrow_mut()[id] = Some(outcome);
                    continue;
                }
            }
            self.tasks.borrow_mut()[id] = Some(task);
        }
    }

    /// Runs `tasks` concurrently; their outcomes in order.
    fn all(&self, tasks: Vec<Task<Native>>) -> Vec<Outcome> {
        let ids: Vec<usize> = tasks.into_iter().map(|t| self.spawn(t)).collect();
        self.run();
        let mut done = self.done.borrow_mut();
        ids.iter().map(|&id| done[id].take().unwrap()).collect()
    }

    fn one(&self, task: Task<Native>) -> Outcome {
        self.all(vec![task]).pop().unwrap()
    }

    fn user(&self, op: Op, user: &User) -> Task<Native> {
        Task::new(op, Some(user.clone()))
    }

    /// Logs in the fake server's one user with the right password.
    fn sign_in(&self) -> User {
        self.log_in(&Credentials::email_password("a@b.c", "pw"))
            .unwrap()
    }

    // The SDK calls, as the JS API makes them.

    fn log_in(&self, credentials: &Credentials) -> Result<User, Error<String>> {
        match self.one(Task::log_in(credentials))? {
            Output::User(user) => Ok(user),
            _ => panic!("logIn yields a user"),
        }
    }
    fn json(&self, task: Task<Native>) -> Result<Option<Value>, Error<String>> {
        match self.one(task)? {
            Output::Json(body) => Ok(body),
            Output::None => Ok(None),
            Output::User(_) => panic!("not a user call"),
        }
    }
    fn create_api_key(&self, user: &User, name: &str) -> Result<Option<Value>, Error<String>> {
        self.json(Task::create_key(user, name))
    }
    fn fetch_api_keys(&self, user: &User) -> Result<Option<Value>, Error<String>> {
        self.json(self.user(Op::Call(Req::List), user))
    }
    fn api_key_op(&self, user: &User, op: KeyOp, id: &str) -> Result<Option<Value>, Error<String>> {
        self.json(Task::key(user, op, id))
    }
    fn void(&self, task: Task<Native>) -> Result<(), Error<String>> {
        self.one(task).map(|_| ())
    }
    fn refresh_profile(&self, user: &User) -> Result<(), Error<String>> {
        self.void(self.user(Op::Call(Req::Profile), user))
    }
    fn log_out(&self, user: &User) {
        self.void(self.user(Op::LogOut, user)).unwrap()
    }
    fn remove_user(&self, user: &User) -> Result<(), Error<String>> {
        self.void(self.user(Op::RemoveUser, user))
    }
    fn delete_user(&self, user: &User) -> Result<(), Error<String>> {
        self.void(self.user(Op::DeleteUser, user))
    }
    fn register_user(&self, email: &str, password: &str) -> Result<(), Error<String>> {
        self.void(Task::register(email, password))
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
        core: AppCore::new(config, store),
        server: server.clone(),
        tasks: RefCell::default(),
        waiting: RefCell::default(),
        done: RefCell::default(),
        queue: RefCell::default(),
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
        Endpoint::CreateApiKey,
        Endpoint::ListApiKeys,
        Endpoint::FetchApiKey { id: KID },
        Endpoint::DeleteApiKey { id: KID },
        Endpoint::EnableApiKey { id: KID },
        Endpoint::DisableApiKey { id: KID },
    ];
    for endpoint in endpoints {
        for body in [None, Some("{}".to_owned())] {
            let r = build_request("http://h:1/", &endpoint, Some(ids[0]), body.clone());
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
        let r = build_request("http://h:1", &endpoint, None, None);
        assert_eq!(r.header("Authorization"), None);
        assert_eq!(r.headers().len(), 1);
    }
    assert_eq!(
        build_request(
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
    assert_eq!(user.profile().unwrap()["data"]["email"], "a@b.c");
    assert!(Rc::ptr_eq(&app.current_user().unwrap(), &user));

    let key = |f: &str| store.get(&app.user_storage_key(UID, f));
    assert_eq!(key("accessToken"), user.access_token());
    assert_eq!(key("refreshToken"), user.refresh_token());
    assert_eq!(key("providerType").as_deref(), Some("local-userpass"));
    assert!(key("profile").unwrap().contains("a@b.c"));
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
    let created = app.create_api_key(&user, "apiKeyName").unwrap().unwrap();
    assert_eq!(created["key"], "secret");
    assert_eq!(created["extra"], 1, "extra fields pass through");
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
    let fetched = app.api_key_op(&user, KeyOp::Fetch, KID).unwrap().unwrap();
    assert_eq!(
        fetched,
        json!({"_id": KID, "name": "apiKeyName", "disabled": false, "extra": 1})
    );
    assert_eq!(app.api_key_op(&user, KeyOp::Disable, KID).unwrap(), None);
    assert_eq!(
        app.fetch_api_keys(&user).unwrap().unwrap()[0]["disabled"],
        true
    );
    assert_eq!(app.api_key_op(&user, KeyOp::Enable, KID).unwrap(), None);
    assert_eq!(server.requests(Method::Put, "/enable"), 1);
    assert_eq!(app.api_key_op(&user, KeyOp::Delete, KID).unwrap(), None);
    let e = app.api_key_op(&user, KeyOp::Fetch, KID).unwrap_err();
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
            .get(&app.user_storage_key(UID, "accessToken"))
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
        .map(|_| app.user(Op::Call(Req::Profile), &user))
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

    // The refresh task unregisters itself when done: the next 401 starts a new refresh.
    assert_eq!(user.refreshing(), None);
    server.expire_access();
    app.refresh_profile(&user).unwrap();
    assert_eq!(server.refreshes.get(), 2);
    assert_eq!(user.refreshing(), None);
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
    assert_eq!(store.get(&app.user_storage_key(UID, "refreshToken")), None);
    assert_eq!(store.get(&app.user_storage_key(UID, "accessToken")), None);
    assert_eq!(server.refreshes.get(), 0);

    // Same when the refresh itself is refused after an access-token 401.
    let user = app.sign_in();
    server.expire_access();
    server.reject_refresh.set(true);
    // The call fails with the refresh's error (in JS: the same AppError object).
    let Error::Transport(e) = app.refresh_profile(&user).unwrap_err() else {
        panic!("the refresh's error")
    };
    assert!(
        e == "POST http://base.test:9/api/client/v2.0/auth/session",
        "{e}"
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
    assert_eq!(u.profile().unwrap()["data"]["email"], "a@b.c");

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
    assert_eq!(store.get(&app.user_storage_key(UID, "profile")), None);
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
    let a = app.log_in(&Credentials::anonymous()).unwrap();
    let logins = server.requests(Method::Post, "/anon-user/login");
    let b = app.log_in(&Credentials::anonymous()).unwrap();
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
