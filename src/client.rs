//! The SDK state machine: apps, users, tokens, refresh-and-retry, API keys, storage.
//!
//! Mirrors realm-web 2.0.1 (see `protocol.md` §6–§7): users live in a stack (most recent first),
//! logging in again as a known `user_id` reuses that user, a 401 `InvalidSession` on an
//! access-token request refreshes once (shared by all concurrent callers) and retries once, and a
//! 401 on a refresh-token request logs the user out.
//!
//! The core does no I/O ("sans-IO"): every SDK operation is a [`Task`] that [`AppCore::step`]
//! advances with [`Input`]s (the response to the request it asked for, or the outcome of a refresh
//! it waited for) and that answers with the next [`Step`]: a request to send, a refresh to wait for,
//! or its result. The wasm layer drives tasks with `fetch` promises; the native tests drive them
//! against an in-memory server. No futures, no executor: that is what keeps the wasm small.
use crate::error::{AppErrorData, Error};
use crate::http::{build_request, HttpRequest, HttpResponse};
use crate::json::{self, Json};
#[allow(unused_imports)]
use crate::prelude::*;
use crate::slot::Slot;
use appkeys_protocol::{
    is_object_id, trim_trailing_slashes, Endpoint, Method, Provider, TokenKind, ZERO_DEVICE_ID,
};
use core::cell::Cell;

/// What the core needs to know of the platform that drives it.
pub trait Platform {
    /// Parsed JSON values.
    type Json: Json;
    /// Why a request could not be made (a network error), or why a refresh that a task waited for
    /// failed. Passed through to the caller untouched.
    type Error: Clone;
    /// A handle of an in-flight refresh that other tasks can wait for (a JS `Promise` in the wasm
    /// build).
    type Pending: Clone;
}

/// A synchronous key/value store for persisted users (`localStorage`, memory, or the app's own).
pub trait Store {
    /// Reads a value.
    fn get(&self, key: &str) -> Option<String>;
    /// Writes a value.
    fn set(&self, key: &str, value: &str);
    /// Deletes a value.
    fn remove(&self, key: &str);
}

/// An in-memory [`Store`].
#[derive(Default)]
pub struct MemoryStore(Slot<Vec<(String, String)>>);

impl MemoryStore {
    /// Every entry (for tests).
    pub fn entries(&self) -> Vec<(String, String)> {
        self.0.get()
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &str) -> Option<String> {
        self.0.update(|entries| {
            entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        })
    }
    fn set(&self, key: &str, value: &str) {
        self.remove(key);
        self.0
            .update(|e| e.push((key.to_owned(), value.to_owned())));
    }
    fn remove(&self, key: &str) {
        self.0.update(|e| e.retain(|(k, _)| k != key));
    }
}

/// Result type of the core.
pub type Result<T, P> = core::result::Result<T, Error<<P as Platform>::Error>>;

/// `user.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    /// Has a refresh token.
    Active,
    /// Known to the app, but without tokens.
    LoggedOut,
    /// Removed from the app.
    Removed,
}

impl UserState {
    /// The JS spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::LoggedOut => "logged-out",
            UserState::Removed => "removed",
        }
    }
}

/// One user of an app. Shared (`Rc`) between the app's stack and the JS `User` object.
pub struct UserCore<P: Platform> {
    id: String,
    provider_type: String,
    access_token: Slot<Option<String>>,
    refresh_token: Slot<Option<String>>,
    profile: Slot<Option<P::Json>>,
    device_id: Slot<Option<String>>,
    removed: Cell<bool>,
    /// The refresh request in flight for this user, which concurrent 401s wait for.
    refreshing: Slot<Option<P::Pending>>,
}

/// Shows the id, provider and state only: tokens are secrets and never printed.
impl<P: Platform> core::fmt::Debug for UserCore<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("provider_type", &self.provider_type)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl<P: Platform> UserCore<P> {
    fn new(id: String, provider_type: String) -> Rc<Self> {
        Rc::new(UserCore {
            id,
            provider_type,
            access_token: Slot::new(None),
            refresh_token: Slot::new(None),
            profile: Slot::new(None),
            device_id: Slot::new(None),
            removed: Cell::new(false),
            refreshing: Slot::new(None),
        })
    }
    /// User id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Provider of the first login (`local-userpass`, `api-key`, `anon-user`).
    pub fn provider_type(&self) -> &str {
        &self.provider_type
    }
    /// Current access token.
    pub fn access_token(&self) -> Option<String> {
        self.access_token.get()
    }
    /// Current refresh token.
    pub fn refresh_token(&self) -> Option<String> {
        self.refresh_token.get()
    }
    /// The profile as fetched from `GET auth/profile` (whole body).
    pub fn profile(&self) -> Option<P::Json> {
        self.profile.get()
    }
    /// Device id from the last login (never the zero id).
    pub fn device_id(&self) -> Option<String> {
        self.device_id.get()
    }
    /// `active` / `logged-out` / `removed`.
    pub fn state(&self) -> UserState {
        if self.removed.get() {
            UserState::Removed
        } else if self.refresh_token.update(|t| t.is_some()) {
            UserState::Active
        } else {
            UserState::LoggedOut
        }
    }
    /// The refresh in flight for this user, if any.
    pub fn refreshing(&self) -> Option<P::Pending> {
        self.refreshing.get()
    }
    /// Registers the refresh in flight for this user (an [`Op::Refresh`] task, which clears it when
    /// done).
    pub fn set_refreshing(&self, pending: P::Pending) {
        self.refreshing.set(Some(pending));
    }
    fn token(&self, kind: TokenKind) -> Option<String> {
        match kind {
            TokenKind::None => None,
            TokenKind::Access => self.access_token(),
            TokenKind::Refresh => self.refresh_token(),
        }
    }
}

/// Login credentials: provider name and JSON payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Provider name.
    pub provider: &'static str,
    /// JSON object sent as the login body.
    pub payload: String,
}

impl Credentials {
    /// Email and password (sent as `username`, like realm-web).
    pub fn email_password(email: &str, password: &str) -> Self {
        Credentials {
            provider: Provider::LocalUserpass.as_str(),
            payload: json::object(&[("username", email), ("password", password)]),
        }
    }
    /// Anonymous.
    pub fn anonymous() -> Self {
        Credentials {
            provider: Provider::AnonUser.as_str(),
            payload: "{}".to_owned(),
        }
    }
    /// A user API key.
    pub fn api_key(key: &str) -> Self {
        Credentials {
            provider: Provider::ApiKey.as_str(),
            payload: json::object(&[("key", key)]),
        }
    }
}

/// App configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// App id.
    pub id: String,
    /// Base URL of the server (location requests go there).
    pub base_url: String,
    /// Use `base_url` for every request instead of asking `GET …/location` for the hostname.
    pub skip_location_request: bool,
}

/// The API-key operations that take a key id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOp {
    /// `GET auth/api_keys/{id}`
    Fetch,
    /// `PUT auth/api_keys/{id}/enable`
    Enable,
    /// `PUT auth/api_keys/{id}/disable`
    Disable,
    /// `DELETE auth/api_keys/{id}`
    Delete,
}

/// Message of the `TypeError` for malformed key ids.
pub const BAD_KEY_ID: &str = "Expected an API key id: a string of 24 hexadecimal characters";
/// Message when a `User` that this app does not know is passed in.
pub const UNKNOWN_USER: &str = "The user was never logged into this app";

/// One app: configuration, storage and its users.
pub struct AppCore<P: Platform, S: Store> {
    config: Config,
    hostname: Slot<Option<String>>,
    store: S,
    users: Slot<Vec<Rc<UserCore<P>>>>,
}

impl<P: Platform, S: Store> AppCore<P, S> {
    /// Creates the app and restores the users persisted in `store` for this app id.
    pub fn new(config: Config, store: S) -> Self {
        let app = AppCore {
            config,
            hostname: Slot::new(None),
            store,
            users: Slot::new(Vec::new()),
        };
        app.hydrate();
        app
    }

    /// App id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// All known (active and logged-out) users, most recent first.
    pub fn users(&self) -> Vec<Rc<UserCore<P>>> {
        self.users.get()
    }

    /// The most recent active user.
    pub fn current_user(&self) -> Option<Rc<UserCore<P>>> {
        self.users()
            .into_iter()
            .find(|u| u.state() == UserState::Active)
    }

    /// Moves `user` to the top of the stack.
    pub fn switch_user(&self, user: &Rc<UserCore<P>>) -> Result<(), P> {
        self.users.update(|users| {
            if !users.iter().any(|u| Rc::ptr_eq(u, user)) {
                return Err(Error::Other(UNKNOWN_USER));
            }
            users.retain(|u| !Rc::ptr_eq(u, user));
            users.insert(0, user.clone());
            Ok(())
        })
    }

    // ---- storage -------------------------------------------------------------------------------

    /// Storage key: `appkeys:app(<id>):<suffix>`.
    pub fn storage_key(&self, suffix: &str) -> String {
        let mut k = String::from("appkeys:app(");
        k.push_str(&self.config.id);
        k.push_str("):");
        k.push_str(suffix);
        k
    }

    /// Storage key of a user field: `appkeys:app(<id>):user(<user id>):<field>`.
    pub fn user_storage_key(&self, user_id: &str, field: &str) -> String {
        let mut k = self.storage_key("user(");
        k.push_str(user_id);
        k.push_str("):");
        k.push_str(field);
        k
    }

    fn put(&self, key: String, value: Option<&str>) {
        match value {
            Some(v) => self.store.set(&key, v),
            None => self.store.remove(&key),
        }
    }

    /// Persists the user ids, most recent first. Like realm-web, ids stored by other `App` instances
    /// sharing the storage (another tab) are kept after ours, except `dropped`.
    fn save_user_ids(&self, dropped: Option<&str>) {
        let key = self.storage_key("userIds");
        let stored = self
            .store
            .get(&key)
            .and_then(|t| P::Json::parse_strings(&t))
            .unwrap_or_default();
        let users = self.users();
        let mut ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
        for id in &stored {
            if Some(id.as_str()) != dropped && !ids.contains(&id.as_str()) {
                ids.push(id);
            }
        }
        self.store.set(&key, &P::Json::array_text(&ids));
    }

    fn save_tokens(&self, user: &UserCore<P>) {
        self.put(
            self.user_storage_key(&user.id, "accessToken"),
            user.access_token().as_deref(),
        );
        self.put(
            self.user_storage_key(&user.id, "refreshToken"),
            user.refresh_token().as_deref(),
        );
    }

    fn set_tokens(&self, user: &UserCore<P>, access: Option<String>, refresh: Option<String>) {
        user.access_token.set(access);
        user.refresh_token.set(refresh);
        self.save_tokens(user);
    }

    fn hydrate(&self) {
        let Some(text) = self.store.get(&self.storage_key("userIds")) else {
            return;
        };
        let Some(ids) = P::Json::parse_strings(&text) else {
            // Corrupt: forget it rather than fail every page load.
            self.store.remove(&self.storage_key("userIds"));
            return;
        };
        let mut users = Vec::new();
        for id in ids {
            let Some(provider) = self.store.get(&self.user_storage_key(&id, "providerType")) else {
                continue;
            };
            let get = |field: &str| self.store.get(&self.user_storage_key(&id, field));
            let user = UserCore::<P>::new(id.clone(), provider);
            user.access_token.set(get("accessToken"));
            user.refresh_token.set(get("refreshToken"));
            user.device_id.set(get("deviceId"));
            user.profile
                .set(get("profile").and_then(|p| P::Json::parse(&p)));
            users.push(user);
        }
        self.users.set(users);
    }

    // ---- tasks -------------------------------------------------------------------------------

    /// Advances `task` with `input` ([`Input::Start`] first) and says what it needs next.
    pub fn step(&self, task: &mut Task<P>, input: Input<P>) -> Step<P> {
        let step = match input {
            Input::Start => self.begin(task),
            Input::Response(response) => self.on_response(task, response),
            Input::Refreshed => self.send(task),
            // `logOut` ignores a failed `DELETE auth/session` (realm-web does too).
            Input::Failed(_) if task.req == Req::LogOut && task.phase == Phase::Request => {
                self.finish(task, None)
            }
            Input::Failed(e) => Err(Error::Transport(e)),
        };
        let step = step.unwrap_or_else(|e| Step::Done(Err(e)));
        if let (Step::Done(_), Op::Refresh, Some(user)) = (&step, task.op, &task.user) {
            // Later 401s start a new refresh.
            user.refreshing.set(None);
        }
        step
    }

    fn begin(&self, t: &mut Task<P>) -> Result<Step<P>, P> {
        let user = t.user.clone();
        let known = |u: &Rc<UserCore<P>>| self.users().iter().any(|k| Rc::ptr_eq(k, u));
        match (t.op, user) {
            (Op::LogIn, _) => {
                // realm-web reuses an existing anonymous user; we only reuse one still logged in.
                let reuse = self.users().into_iter().find(|u| {
                    t.provider == Provider::AnonUser.as_str()
                        && u.provider_type == t.provider
                        && u.state() == UserState::Active
                });
                match reuse {
                    Some(user) => {
                        self.switch_user(&user)?;
                        t.user = Some(user);
                        self.request(t, Req::Profile)
                    }
                    None => self.request(t, Req::Login),
                }
            }
            (Op::Register, _) => self.request(t, Req::Register),
            (Op::Refresh, _) => self.request(t, Req::Session),
            (Op::Call(Req::Key(_)), _) if !is_object_id(&t.key_id) => Err(Error::Type(BAD_KEY_ID)),
            (Op::Call(req), _) => self.request(t, req),
            (Op::LogOut, Some(user)) => self.log_out(t, &user),
            (Op::RemoveUser, Some(user)) if known(&user) => self.remove(t, &user),
            (Op::DeleteUser, Some(user)) if known(&user) => self.request(t, Req::DeleteUser),
            _ => Err(Error::Other(UNKNOWN_USER)),
        }
    }

    /// Sends `req` next, with a fresh retry allowance.
    fn request(&self, t: &mut Task<P>, req: Req) -> Result<Step<P>, P> {
        t.req = req;
        t.retry = true;
        self.send(t)
    }

    /// The request for `t.req` (after the location request, when the hostname is not known yet).
    fn send(&self, t: &mut Task<P>) -> Result<Step<P>, P> {
        let base = trim_trailing_slashes(&self.config.base_url);
        let hostname = self.hostname.get();
        let request = match hostname {
            None if !self.config.skip_location_request => {
                t.phase = Phase::Location;
                let location = Endpoint::Location {
                    app_id: &self.config.id,
                };
                build_request(base, &location, None, None)
            }
            origin => {
                t.phase = Phase::Request;
                let endpoint = t.endpoint(&self.config.id);
                let token = t.user.as_ref().and_then(|u| u.token(endpoint.token()));
                let body = match t.req {
                    Req::Login | Req::Register | Req::Create => Some(t.body.clone()),
                    _ => None,
                };
                let origin = origin.as_deref().unwrap_or(base);
                let request = build_request(origin, &endpoint, token.as_deref(), body);
                t.used = token;
                request
            }
        };
        t.method = request.method;
        t.url.clone_from(&request.url);
        Ok(Step::Send(request))
    }

    fn on_response(&self, t: &mut Task<P>, response: HttpResponse<P::Json>) -> Result<Step<P>, P> {
        if !response.ok() {
            let error = AppErrorData::from_parts(t.method, t.url.clone(), &response);
            let kind = t.endpoint("").token();
            if let (true, Phase::Request, Some(user)) =
                (error.is_invalid_session(), t.phase, &t.user)
            {
                if kind == TokenKind::Refresh {
                    self.set_tokens(user, None, None);
                } else if kind == TokenKind::Access && t.retry {
                    // Refresh once and retry once; skip the refresh when another call already
                    // replaced the token this request used.
                    t.retry = false;
                    let current = user.access_token();
                    if current.is_none() || current == t.used {
                        t.phase = Phase::Refresh;
                        return Ok(Step::Refresh(user.clone()));
                    }
                    return self.send(t);
                }
            }
            if t.req == Req::LogOut && t.phase == Phase::Request {
                return self.finish(t, None);
            }
            return Err(Error::App(Box::new(error)));
        }
        if t.phase == Phase::Location {
            let hostname = response
                .body
                .and_then(|b| b.str_field("hostname"))
                .ok_or(Error::Other("Expected response to contain a 'hostname'"))?;
            self.hostname
                .set(Some(trim_trailing_slashes(&hostname).to_owned()));
            return self.send(t);
        }
        self.finish(t, response.body)
    }

    /// `t.req` succeeded with `body`: what the operation does next.
    fn finish(&self, t: &mut Task<P>, body: Option<P::Json>) -> Result<Step<P>, P> {
        let user = t.user.clone();
        let done = |output| Ok(Step::Done(Ok(output)));
        match (t.req, user) {
            (Req::Login, _) => {
                let user = self.logged_in(t, body)?;
                t.user = Some(user);
                self.request(t, Req::Profile)
            }
            (Req::Profile, Some(user)) => {
                if let Some(text) = body.as_ref().and_then(Json::stringify) {
                    self.store
                        .set(&self.user_storage_key(&user.id, "profile"), &text);
                }
                user.profile.set(body);
                done(if t.op == Op::LogIn {
                    Output::User(user)
                } else {
                    Output::None
                })
            }
            (Req::Session, Some(user)) => {
                let access = body
                    .and_then(|b| b.str_field("access_token"))
                    .ok_or(Error::Other("Expected an 'access_token' in the response"))?;
                user.access_token.set(Some(access));
                self.save_tokens(&user);
                done(Output::None)
            }
            (Req::LogOut, Some(user)) => {
                self.set_tokens(&user, None, None);
                if user.removed.get() {
                    self.store
                        .remove(&self.user_storage_key(&user.id, "profile"));
                }
                done(Output::None)
            }
            (Req::DeleteUser, Some(user)) if t.op == Op::DeleteUser => self.remove(t, &user),
            (Req::Create | Req::List | Req::Key(KeyOp::Fetch), _) => done(Output::Json(body)),
            _ => done(Output::None),
        }
    }

    /// `logOut`: `DELETE auth/session` with the refresh token (when there is one; its failure is
    /// ignored), then both tokens are forgotten.
    fn log_out(&self, t: &mut Task<P>, user: &Rc<UserCore<P>>) -> Result<Step<P>, P> {
        if user.refresh_token().is_some() {
            return self.request(t, Req::LogOut);
        }
        t.req = Req::LogOut;
        self.finish(t, None)
    }

    /// `removeUser`: forget the user (state `removed`), log it out, drop its profile.
    fn remove(&self, t: &mut Task<P>, user: &Rc<UserCore<P>>) -> Result<Step<P>, P> {
        self.users
            .update(|users| users.retain(|u| !Rc::ptr_eq(u, user)));
        user.removed.set(true);
        self.save_user_ids(Some(&user.id));
        self.log_out(t, user)
    }

    /// The login response: stores the tokens and puts the user on top.
    fn logged_in(&self, t: &Task<P>, body: Option<P::Json>) -> Result<Rc<UserCore<P>>, P> {
        let field = |name| body.as_ref().and_then(|b| b.str_field(name));
        let (Some(access), Some(refresh), Some(user_id)) = (
            field("access_token"),
            field("refresh_token"),
            field("user_id"),
        ) else {
            return Err(Error::Other(
                "Expected tokens and a user_id in the login response",
            ));
        };
        let device_id = field("device_id").filter(|d| d != ZERO_DEVICE_ID);
        let existing = self.users().into_iter().find(|u| u.id == user_id);
        let user = match existing {
            Some(user) => user,
            None => {
                let user = UserCore::new(user_id, t.provider.to_owned());
                // Added at the end; `switch_user` below moves it to the front.
                self.users.update(|users| users.push(user.clone()));
                self.store.set(
                    &self.user_storage_key(&user.id, "providerType"),
                    &user.provider_type,
                );
                user
            }
        };
        user.removed.set(false);
        self.set_tokens(&user, Some(access), Some(refresh));
        if let Some(device) = device_id {
            self.store.set(&self.storage_key("deviceId"), &device);
            self.store
                .set(&self.user_storage_key(&user.id, "deviceId"), &device);
            user.device_id.set(Some(device));
        }
        self.switch_user(&user)?;
        self.save_user_ids(None);
        Ok(user)
    }
}

/// An SDK operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `app.logIn(credentials)`: login request, then the profile.
    LogIn,
    /// `app.emailPasswordAuth.registerUser({ email, password })`.
    Register,
    /// One request on behalf of the task's user: `refreshProfile()` ([`Req::Profile`]) and the
    /// `user.apiKeys` methods ([`Req::Create`], [`Req::List`], [`Req::Key`]).
    Call(Req),
    /// `user.logOut()`.
    LogOut,
    /// `app.removeUser(user)`.
    RemoveUser,
    /// `app.deleteUser(user)`: `DELETE auth/delete` with that user's access token, then remove it.
    DeleteUser,
    /// `POST auth/session` with the refresh token: the one refresh concurrent callers share (the
    /// driver starts it for [`Step::Refresh`] and for `user.refreshAccessToken()`).
    Refresh,
}

/// The requests tasks send (endpoints without their parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Req {
    /// `POST …/auth/providers/{provider}/login`
    Login,
    /// `POST …/local-userpass/register`
    Register,
    /// `GET auth/profile`
    Profile,
    /// `POST auth/session`
    Session,
    /// `DELETE auth/session`
    LogOut,
    /// `DELETE auth/delete`
    DeleteUser,
    /// `POST auth/api_keys`
    Create,
    /// `GET auth/api_keys`
    List,
    /// `GET/PUT/DELETE auth/api_keys/{id}…`
    Key(KeyOp),
}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the location request.
    Location,
    /// Waiting for the response to `req`.
    Request,
    /// Waiting for a refresh, then `req` is sent again.
    Refresh,
}

/// One SDK operation in progress (see [`AppCore::step`]).
pub struct Task<P: Platform> {
    op: Op,
    user: Option<Rc<UserCore<P>>>,
    /// Login provider.
    provider: &'static str,
    /// Request body (login, register, create).
    body: String,
    /// The key id (key operations).
    key_id: String,
    req: Req,
    phase: Phase,
    retry: bool,
    /// The token the last request carried.
    used: Option<String>,
    method: Method,
    url: String,
}

impl<P: Platform> Task<P> {
    /// A task for `op` on behalf of `user`.
    pub fn new(op: Op, user: Option<Rc<UserCore<P>>>) -> Self {
        Task {
            op,
            user,
            provider: "",
            body: String::new(),
            key_id: String::new(),
            req: Req::Profile,
            phase: Phase::Request,
            retry: false,
            used: None,
            method: Method::Get,
            url: String::new(),
        }
    }

    /// `app.logIn(credentials)`.
    pub fn log_in(credentials: &Credentials) -> Self {
        let mut t = Task::new(Op::LogIn, None);
        t.provider = credentials.provider;
        t.body.clone_from(&credentials.payload);
        t
    }

    /// `app.emailPasswordAuth.registerUser({ email, password })`.
    pub fn register(email: &str, password: &str) -> Self {
        let mut t = Task::new(Op::Register, None);
        t.body = P::Json::object_text(&[("email", email), ("password", password)]);
        t
    }

    /// `user.apiKeys.create(name)`.
    pub fn create_key(user: &Rc<UserCore<P>>, name: &str) -> Self {
        let mut t = Task::new(Op::Call(Req::Create), Some(user.clone()));
        t.body = P::Json::object_text(&[("name", name)]);
        t
    }

    /// `user.apiKeys.fetch/enable/disable/delete(id)`; the id must be 24 hex digits (checked
    /// before any request).
    pub fn key(user: &Rc<UserCore<P>>, op: KeyOp, id: &str) -> Self {
        let mut t = Task::new(Op::Call(Req::Key(op)), Some(user.clone()));
        t.key_id = id.to_owned();
        t
    }

    /// The operation.
    pub fn op(&self) -> Op {
        self.op
    }

    fn endpoint<'a>(&'a self, app_id: &'a str) -> Endpoint<'a> {
        let id = &self.key_id;
        match self.req {
            Req::Login => Endpoint::Login {
                app_id,
                provider: self.provider,
            },
            Req::Register => Endpoint::Register { app_id },
            Req::Profile => Endpoint::Profile,
            Req::Session => Endpoint::RefreshSession,
            Req::LogOut => Endpoint::LogOut,
            Req::DeleteUser => Endpoint::DeleteUser,
            Req::Create => Endpoint::CreateApiKey,
            Req::List => Endpoint::ListApiKeys,
            Req::Key(KeyOp::Fetch) => Endpoint::FetchApiKey { id },
            Req::Key(KeyOp::Enable) => Endpoint::EnableApiKey { id },
            Req::Key(KeyOp::Disable) => Endpoint::DisableApiKey { id },
            Req::Key(KeyOp::Delete) => Endpoint::DeleteApiKey { id },
        }
    }
}

/// What a task is given.
pub enum Input<P: Platform> {
    /// The first step.
    Start,
    /// The response to the request of the last [`Step::Send`].
    Response(HttpResponse<P::Json>),
    /// The request of the last [`Step::Send`] could not be made, or the refresh of the last
    /// [`Step::Refresh`] failed.
    Failed(P::Error),
    /// The refresh of the last [`Step::Refresh`] succeeded.
    Refreshed,
}

/// What a task needs next.
pub enum Step<P: Platform> {
    /// Send this request; answer with [`Input::Response`] or [`Input::Failed`].
    Send(HttpRequest),
    /// Wait for the user's refresh (the one in [`UserCore::refreshing`], or a new [`Op::Refresh`]
    /// task registered there); answer with [`Input::Refreshed`] or [`Input::Failed`].
    Refresh(Rc<UserCore<P>>),
    /// Finished.
    Done(Result<Output<P>, P>),
}

/// The result of a task.
pub enum Output<P: Platform> {
    /// No value (`Promise<void>`).
    None,
    /// `logIn`'s user.
    User(Rc<UserCore<P>>),
    /// The response body of a `user.apiKeys` call that has one (`create`, `fetch`, `fetchAll`).
    Json(Option<P::Json>),
}
