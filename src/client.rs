//! The SDK state machine: apps, users, tokens, refresh-and-retry, API keys, storage.
//!
//! Mirrors realm-web 2.0.1 (see `protocol.md` §6–§7): users live in a stack (most recent first),
//! logging in again as a known `user_id` reuses that user, a 401 `InvalidSession` on an
//! access-token request refreshes once (shared by all concurrent callers) and retries once, and a
//! 401 on a refresh-token request logs the user out.
use crate::error::{AppErrorData, Error};
use crate::flight::Flight;
use crate::http::{build_request, HttpRequest, HttpResponse};
use crate::json::{self, Json};
#[allow(unused_imports)]
use crate::prelude::*;
use appkeys_protocol::{
    is_object_id, trim_trailing_slashes, Endpoint, Provider, TokenKind, ZERO_DEVICE_ID,
};
use core::cell::{Cell, RefCell};
use core::future::Future;

/// Sends HTTP requests. The wasm build binds the global `fetch`; tests use an in-memory fake.
pub trait Transport {
    /// Parsed JSON values.
    type Json: Json;
    /// The transport's own failure (network error).
    type Error: Clone;
    /// Sends one request.
    fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = core::result::Result<HttpResponse<Self::Json>, Self::Error>>;
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
pub struct MemoryStore(RefCell<Vec<(String, String)>>);

impl MemoryStore {
    /// Every entry (for tests).
    pub fn entries(&self) -> Vec<(String, String)> {
        self.0.borrow().clone()
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &str) -> Option<String> {
        let entries = self.0.borrow();
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }
    fn set(&self, key: &str, value: &str) {
        self.remove(key);
        self.0.borrow_mut().push((key.to_owned(), value.to_owned()));
    }
    fn remove(&self, key: &str) {
        self.0.borrow_mut().retain(|(k, _)| k != key);
    }
}

/// Result type of the core.
pub type Result<T, X> = core::result::Result<T, Error<<X as Transport>::Error>>;

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

/// One in-flight refresh, awaited by every concurrent caller.
type RefreshFlight = Rc<Flight<()>>;

/// One user of an app. Shared (`Rc`) between the app's stack and the JS `User` object.
pub struct UserCore<T: Transport> {
    id: String,
    provider_type: String,
    access_token: RefCell<Option<String>>,
    refresh_token: RefCell<Option<String>>,
    profile: RefCell<Option<T::Json>>,
    device_id: RefCell<Option<String>>,
    removed: Cell<bool>,
    refreshing: RefCell<Option<RefreshFlight>>,
}

/// Shows the id, provider and state only: tokens are secrets and never printed.
impl<T: Transport> core::fmt::Debug for UserCore<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("provider_type", &self.provider_type)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl<T: Transport> UserCore<T> {
    fn new(id: String, provider_type: String) -> Rc<Self> {
        Rc::new(UserCore {
            id,
            provider_type,
            access_token: RefCell::new(None),
            refresh_token: RefCell::new(None),
            profile: RefCell::new(None),
            device_id: RefCell::new(None),
            removed: Cell::new(false),
            refreshing: RefCell::new(None),
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
        self.access_token.borrow().clone()
    }
    /// Current refresh token.
    pub fn refresh_token(&self) -> Option<String> {
        self.refresh_token.borrow().clone()
    }
    /// The profile as fetched from `GET auth/profile` (whole body).
    pub fn profile(&self) -> Option<T::Json> {
        self.profile.borrow().clone()
    }
    /// Device id from the last login (never the zero id).
    pub fn device_id(&self) -> Option<String> {
        self.device_id.borrow().clone()
    }
    /// `active` / `logged-out` / `removed`.
    pub fn state(&self) -> UserState {
        if self.removed.get() {
            UserState::Removed
        } else if self.refresh_token.borrow().is_some() {
            UserState::Active
        } else {
            UserState::LoggedOut
        }
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
/// Message when a refresh that a call waited for logged the user out.
pub const LOGGED_OUT: &str = "The user was logged out: its refresh token was refused";
/// Message when a `User` that this app does not know is passed in.
pub const UNKNOWN_USER: &str = "The user was never logged into this app";

/// One app: configuration, transport, storage and its users.
pub struct AppCore<T: Transport, S: Store> {
    config: Config,
    hostname: RefCell<Option<String>>,
    transport: T,
    store: S,
    users: RefCell<Vec<Rc<UserCore<T>>>>,
}

impl<T: Transport, S: Store> AppCore<T, S> {
    /// Creates the app and restores the users persisted in `store` for this app id.
    pub fn new(config: Config, transport: T, store: S) -> Self {
        let app = AppCore {
            config,
            hostname: RefCell::new(None),
            transport,
            store,
            users: RefCell::new(Vec::new()),
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

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// All known (active and logged-out) users, most recent first.
    pub fn users(&self) -> Vec<Rc<UserCore<T>>> {
        self.users.borrow().clone()
    }

    /// The most recent active user.
    pub fn current_user(&self) -> Option<Rc<UserCore<T>>> {
        let users = self.users.borrow();
        users
            .iter()
            .find(|u| u.state() == UserState::Active)
            .cloned()
    }

    /// Moves `user` to the top of the stack.
    pub fn switch_user(&self, user: &Rc<UserCore<T>>) -> Result<(), T> {
        let mut users = self.users.borrow_mut();
        let index = users
            .iter()
            .position(|u| Rc::ptr_eq(u, user))
            .ok_or(Error::Other(UNKNOWN_USER))?;
        let moved = users.remove(index);
        users.insert(0, moved);
        Ok(())
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
            .and_then(|t| json::parse_plain_string_array(&t))
            .unwrap_or_default();
        let users = self.users.borrow();
        let mut ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
        for id in &stored {
            if Some(id.as_str()) != dropped && !ids.contains(&id.as_str()) {
                ids.push(id);
            }
        }
        self.store.set(&key, &json::string_array(ids));
    }

    fn save_tokens(&self, user: &UserCore<T>) {
        self.put(
            self.user_storage_key(&user.id, "accessToken"),
            user.access_token.borrow().as_deref(),
        );
        self.put(
            self.user_storage_key(&user.id, "refreshToken"),
            user.refresh_token.borrow().as_deref(),
        );
    }

    fn set_tokens(&self, user: &UserCore<T>, access: Option<String>, refresh: Option<String>) {
        *user.access_token.borrow_mut() = access;
        *user.refresh_token.borrow_mut() = refresh;
        self.save_tokens(user);
    }

    fn hydrate(&self) {
        let Some(text) = self.store.get(&self.storage_key("userIds")) else {
            return;
        };
        let Some(ids) = json::parse_plain_string_array(&text) else {
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
            let user = UserCore::<T>::new(id.clone(), provider);
            *user.access_token.borrow_mut() = get("accessToken");
            *user.refresh_token.borrow_mut() = get("refreshToken");
            *user.device_id.borrow_mut() = get("deviceId");
            *user.profile.borrow_mut() = get("profile").and_then(|p| T::Json::parse(&p));
            users.push(user);
        }
        *self.users.borrow_mut() = users;
    }

    // ---- requests ------------------------------------------------------------------------------

    /// The origin requests go to: `baseUrl`, or the `hostname` from the location request (cached;
    /// retried after a failure).
    pub async fn origin(&self) -> Result<String, T> {
        let base = trim_trailing_slashes(&self.config.base_url);
        if self.config.skip_location_request {
            return Ok(base.to_owned());
        }
        if let Some(h) = self.hostname.borrow().as_ref() {
            return Ok(h.clone());
        }
        let endpoint = Endpoint::Location {
            app_id: &self.config.id,
        };
        let body = self
            .send(build_request(base, &endpoint, None, None))
            .await?;
        let hostname = body
            .and_then(|b| b.str_field("hostname"))
            .ok_or(Error::Other("Expected response to contain a 'hostname'"))?;
        let hostname = trim_trailing_slashes(&hostname).to_owned();
        *self.hostname.borrow_mut() = Some(hostname.clone());
        Ok(hostname)
    }

    async fn send(&self, request: HttpRequest) -> Result<Option<T::Json>, T> {
        let (method, url) = (request.method, request.url.clone());
        let response = self
            .transport
            .send(request)
            .await
            .map_err(Error::Transport)?;
        if response.ok() {
            Ok(response.body)
        } else {
            let data = AppErrorData::from_parts(method, url, &response);
            Err(Error::App(Box::new(data)))
        }
    }

    /// One request for `user` (no retry). A 401 `InvalidSession` on a refresh-token request logs
    /// the user out (both tokens forgotten, persisted) before the error is returned.
    async fn attempt(
        &self,
        user: Option<&Rc<UserCore<T>>>,
        endpoint: &Endpoint<'_>,
        body: Option<String>,
    ) -> Result<Option<T::Json>, T> {
        let origin = self.origin().await?;
        let kind = endpoint.token();
        let token = user.and_then(|u| u.token(kind));
        let result = self
            .send(build_request(&origin, endpoint, token.as_deref(), body))
            .await;
        if let (Err(Error::App(e)), Some(user), TokenKind::Refresh) = (&result, user, kind) {
            if e.is_invalid_session() {
                self.set_tokens(user, None, None);
            }
        }
        result
    }

    /// Sends `endpoint` on behalf of `user` with realm-web's token rules: a 401 `InvalidSession`
    /// answer to an access-token request triggers one refresh (shared with concurrent callers; skipped
    /// when another caller already replaced the token that was used) and one retry.
    pub async fn call(
        &self,
        user: Option<&Rc<UserCore<T>>>,
        endpoint: Endpoint<'_>,
        body: Option<String>,
    ) -> Result<Option<T::Json>, T> {
        // One `attempt` await site for both tries (a smaller future in the wasm).
        let mut retry = endpoint.token() == TokenKind::Access;
        loop {
            let used = user.and_then(|u| u.token(endpoint.token()));
            let result = self.attempt(user, &endpoint, body.clone()).await;
            match (&result, user) {
                (Err(Error::App(e)), Some(user)) if retry && e.is_invalid_session() => {
                    retry = false;
                    let current = user.access_token();
                    if current.is_none() || current == used {
                        self.refresh_access_token(user).await?;
                    }
                }
                _ => return result,
            }
        }
    }

    /// `POST auth/session` with the refresh token; stores the new access token. Concurrent calls for
    /// the same user share one request.
    pub async fn refresh_access_token(&self, user: &Rc<UserCore<T>>) -> Result<(), T> {
        let in_flight = user.refreshing.borrow().clone();
        if let Some(flight) = in_flight {
            // Joined another caller's refresh: it either stored a new access token or (on a 401)
            // logged the user out.
            flight.wait().await;
            return if user.refresh_token.borrow().is_some() {
                Ok(())
            } else {
                Err(Error::Other(LOGGED_OUT))
            };
        }
        let flight = Flight::new();
        *user.refreshing.borrow_mut() = Some(flight.clone());
        let result = self.refresh_once(user).await;
        *user.refreshing.borrow_mut() = None;
        flight.land(());
        result
    }

    async fn refresh_once(&self, user: &Rc<UserCore<T>>) -> Result<(), T> {
        let body = self
            .attempt(Some(user), &Endpoint::RefreshSession, None)
            .await?;
        let access = body
            .and_then(|b| b.str_field("access_token"))
            .ok_or(Error::Other("Expected an 'access_token' in the response"))?;
        *user.access_token.borrow_mut() = Some(access);
        self.save_tokens(user);
        Ok(())
    }

    /// `app.logIn(credentials)`.
    pub async fn log_in(&self, credentials: &Credentials) -> Result<Rc<UserCore<T>>, T> {
        // realm-web reuses an existing anonymous user; we only reuse one that is still logged in.
        let anonymous = if credentials.provider == Provider::AnonUser.as_str() {
            self.users()
                .into_iter()
                .find(|u| u.provider_type == credentials.provider && u.state() == UserState::Active)
        } else {
            None
        };
        let user = match anonymous {
            Some(user) => {
                self.switch_user(&user)?;
                user
            }
            None => self.log_in_request(credentials).await?,
        };
        // One profile fetch (one await site) for both ways.
        self.refresh_profile(&user).await?;
        Ok(user)
    }

    /// The login request of [`AppCore::log_in`]: stores the tokens and puts the user on top.
    async fn log_in_request(&self, credentials: &Credentials) -> Result<Rc<UserCore<T>>, T> {
        let endpoint = Endpoint::Login {
            app_id: &self.config.id,
            provider: credentials.provider,
        };
        let body = self
            .attempt(None, &endpoint, Some(credentials.payload.clone()))
            .await?
            .ok_or(Error::Other("Expected a JSON login response"))?;
        let field = |name| body.str_field(name);
        let (Some(access), Some(refresh), Some(user_id)) = (
            field("access_token"),
            field("refresh_token"),
            field("user_id"),
        ) else {
            return Err(Error::Other(
                "Expected 'access_token', 'refresh_token' and 'user_id' in the login response",
            ));
        };
        let device_id = field("device_id").filter(|d| d != ZERO_DEVICE_ID);
        let existing = self.users().into_iter().find(|u| u.id == user_id);
        let user = match existing {
            Some(user) => user,
            None => {
                let user = UserCore::new(user_id, credentials.provider.to_owned());
                // Added at the end; `switch_user` below moves it to the front.
                self.users.borrow_mut().push(user.clone());
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
            *user.device_id.borrow_mut() = Some(device);
        }
        self.switch_user(&user)?;
        self.save_user_ids(None);
        Ok(user)
    }

    /// `GET auth/profile`, stored on the user and persisted.
    pub async fn refresh_profile(&self, user: &Rc<UserCore<T>>) -> Result<(), T> {
        let profile = self.call(Some(user), Endpoint::Profile, None).await?;
        if let Some(text) = profile.as_ref().and_then(Json::stringify) {
            self.store
                .set(&self.user_storage_key(&user.id, "profile"), &text);
        }
        *user.profile.borrow_mut() = profile;
        Ok(())
    }

    /// `user.logOut()`: `DELETE auth/session` with the refresh token (errors ignored, like realm-web
    /// does for an already-gone session), then both tokens are forgotten.
    pub async fn log_out(&self, user: &Rc<UserCore<T>>) {
        if user.refresh_token().is_some() {
            let _ = self.attempt(Some(user), &Endpoint::LogOut, None).await;
        }
        self.set_tokens(user, None, None);
    }

    /// `app.removeUser(user)`: forget the user (state `removed`), log it out, drop its profile.
    pub async fn remove_user(&self, user: &Rc<UserCore<T>>) -> Result<(), T> {
        {
            let mut users = self.users.borrow_mut();
            let before = users.len();
            users.retain(|u| !Rc::ptr_eq(u, user));
            if users.len() == before {
                return Err(Error::Other(UNKNOWN_USER));
            }
        }
        user.removed.set(true);
        self.save_user_ids(Some(&user.id));
        self.log_out(user).await;
        self.store
            .remove(&self.user_storage_key(&user.id, "profile"));
        Ok(())
    }

    /// `app.deleteUser(user)`: `DELETE auth/delete` with that user's access token, then remove it.
    pub async fn delete_user(&self, user: &Rc<UserCore<T>>) -> Result<(), T> {
        if !self.users.borrow().iter().any(|u| Rc::ptr_eq(u, user)) {
            return Err(Error::Other(UNKNOWN_USER));
        }
        self.call(Some(user), Endpoint::DeleteUser, None).await?;
        self.remove_user(user).await
    }

    /// `app.emailPasswordAuth.registerUser({ email, password })`.
    pub async fn register_user(&self, email: &str, password: &str) -> Result<(), T> {
        let endpoint = Endpoint::Register {
            app_id: &self.config.id,
        };
        let body = json::object(&[("email", email), ("password", password)]);
        self.attempt(None, &endpoint, Some(body)).await.map(|_| ())
    }

    /// `user.apiKeys.create(name)`: the created key `{_id, key, name, disabled, …}`.
    pub async fn create_api_key(
        &self,
        user: &Rc<UserCore<T>>,
        name: &str,
    ) -> Result<Option<T::Json>, T> {
        let body = json::object(&[("name", name)]);
        self.call(Some(user), Endpoint::CreateApiKey, Some(body))
            .await
    }

    /// `user.apiKeys.fetchAll()`.
    pub async fn fetch_api_keys(&self, user: &Rc<UserCore<T>>) -> Result<Option<T::Json>, T> {
        self.call(Some(user), Endpoint::ListApiKeys, None).await
    }

    /// `user.apiKeys.fetch/enable/disable/delete(id)`; the id must be 24 hex digits (checked before
    /// any request). Only `fetch` has a result.
    pub async fn api_key_op(
        &self,
        user: &Rc<UserCore<T>>,
        op: KeyOp,
        id: &str,
    ) -> Result<Option<T::Json>, T> {
        if !is_object_id(id) {
            return Err(Error::Type(BAD_KEY_ID));
        }
        let endpoint = match op {
            KeyOp::Fetch => Endpoint::FetchApiKey { id },
            KeyOp::Enable => Endpoint::EnableApiKey { id },
            KeyOp::Disable => Endpoint::DisableApiKey { id },
            KeyOp::Delete => Endpoint::DeleteApiKey { id },
        };
        let body = self.call(Some(user), endpoint, None).await?;
        Ok(if op == KeyOp::Fetch { body } else { None })
    }
}
