//! One app: configuration, its users, and every SDK operation as an `async fn`.
//!
//! Mirrors realm-web 2.0.1 (see `protocol.md` §6–§7): users live in a list (most recent first),
//! logging in again as a known `user_id` reuses that user, a 401 `InvalidSession` on an
//! access-token request refreshes once (one refresh shared by all concurrent callers) and retries
//! once, and a 401 on a refresh-token request logs the user out.
//!
//! Methods take `&self` and borrow no `RefCell` across an `await`: the wasm layer clones its
//! `Rc<AppCore>` into each future, so any number of calls may run at once.
use crate::credentials::Credentials;
use crate::error::{AppErrorData, Error};
use crate::flight::Flight;
use crate::platform::{HttpRequest, HttpResponse, Platform};
use crate::storage::{Layout, Store, UserField};
use crate::user::{Refresh, UserCore, UserState};
use appkeys_protocol::wire::{
    AllowedIpsRequest, ApiKey, CreateApiKeyRequest, Location, LoginResponse, Profile,
    RegisterRequest, RemoveIdentity, RollApiKeyRequest, SessionResponse, UserpassLogin,
};
use appkeys_protocol::{
    is_object_id, trim_trailing_slashes, Endpoint, Provider, TokenKind, UserpassAction,
    ZERO_DEVICE_ID,
};
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::rc::Rc;

/// Result type of the core.
pub type Result<T, P> = std::result::Result<T, Error<<P as Platform>::Error>>;

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

/// The API-key operations that take a key id and answer nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOp {
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

/// Message when the redirect flow is asked for where there is no browser window.
pub const REDIRECT_NEEDS_BROWSER: &str =
    "The OAuth 2.0 redirect flow needs a browser window: log in with the provider's token outside a browser";

/// A user of an app.
pub type User<P> = Rc<UserCore<P>>;

/// One app: configuration, platform, storage and its users.
pub struct AppCore<P: Platform, S: Store> {
    config: Config,
    platform: P,
    store: S,
    layout: Layout,
    hostname: RefCell<Option<String>>,
    users: RefCell<Vec<User<P>>>,
}

impl<P: Platform, S: Store> AppCore<P, S> {
    /// Creates the app and restores the users persisted in `store` for this app id.
    pub fn new(config: Config, platform: P, store: S) -> Self {
        let app = AppCore {
            layout: Layout::new(&config.id),
            config,
            platform,
            store,
            hostname: RefCell::new(None),
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

    /// The storage keys of this app.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// All known (active and logged-out) users, most recent first.
    pub fn users(&self) -> Vec<User<P>> {
        self.users.borrow().clone()
    }

    /// The most recent active user.
    pub fn current_user(&self) -> Option<User<P>> {
        let users = self.users.borrow();
        users
            .iter()
            .find(|u| u.state() == UserState::Active)
            .cloned()
    }

    /// Whether `user` is one of this app's users.
    pub fn knows(&self, user: &User<P>) -> bool {
        self.users.borrow().iter().any(|u| Rc::ptr_eq(u, user))
    }

    /// The known user with id `id`.
    pub fn user_by_id(&self, id: &str) -> Option<User<P>> {
        let users = self.users.borrow();
        users.iter().find(|u| u.id() == id).cloned()
    }

    /// `app.switchUser(user)`: moves `user` to the front.
    pub fn switch_user(&self, user: &User<P>) -> Result<(), P> {
        if !self.knows(user) {
            return Err(Error::Other(UNKNOWN_USER));
        }
        let mut users = self.users.borrow_mut();
        users.retain(|u| !Rc::ptr_eq(u, user));
        users.insert(0, user.clone());
        Ok(())
    }

    // ---- operations ------------------------------------------------------------------------------

    /// `app.emailPasswordAuth.registerUser({ email, password })`.
    pub async fn register(&self, email: &str, password: &str) -> Result<(), P> {
        let body = P::to_json(&RegisterRequest {
            email: email.to_owned(),
            password: password.to_owned(),
        });
        let endpoint = Endpoint::Register {
            app_id: &self.config.id,
        };
        self.fetch(&endpoint, None, Some(body)).await.map(drop)
    }

    /// `app.emailPasswordAuth.confirmUser`, `resendConfirmationEmail`, `retryCustomConfirmation`,
    /// `resetPassword`, `sendResetPasswordEmail`, `callResetPasswordFunction`: `body` (JSON text)
    /// posted to `local-userpass/{action}`, without a token.
    pub async fn userpass(&self, action: UserpassAction, body: String) -> Result<(), P> {
        let endpoint = Endpoint::Userpass {
            app_id: &self.config.id,
            action,
        };
        self.fetch(&endpoint, None, Some(body)).await.map(drop)
    }

    /// `app.logIn(credentials)`: the login request, then the profile. Like realm-web, logging in as a
    /// known user id reuses that user; an anonymous login reuses the current anonymous user while it
    /// is logged in (realm-web reuses it even when logged out).
    pub async fn log_in(&self, credentials: &Credentials) -> Result<User<P>, P> {
        let provider = credentials.provider();
        if let Credentials::Redirect { .. } = credentials {
            return Err(Error::Other(REDIRECT_NEEDS_BROWSER));
        }
        if provider == Provider::AnonUser {
            let reuse = self
                .users()
                .into_iter()
                .find(|u| u.provider_type() == provider.as_str() && u.state() == UserState::Active);
            if let Some(user) = reuse {
                self.switch_user(&user)?;
                self.refresh_profile(&user).await?;
                return Ok(user);
            }
        }
        let endpoint = Endpoint::Login {
            app_id: &self.config.id,
            provider: provider.as_str(),
        };
        // An email/password login sends the secret an earlier login of that account gave this device
        // (what lets it in while others' failures throttle the account), and keeps a new one.
        let secret_key = match credentials {
            Credentials::EmailPassword(login) => Some(self.layout.device_secret(&login.username)),
            _ => None,
        };
        let body = match (credentials, &secret_key) {
            (Credentials::EmailPassword(login), Some(key)) => P::to_json(&UserpassLogin {
                device_secret: self.store.get(key),
                ..login.clone()
            }),
            _ => credentials.body::<P>(),
        };
        let response = self.fetch(&endpoint, None, Some(body)).await?;
        let mut login: LoginResponse = decode::<P, _>(
            &response,
            "Expected tokens and a user_id in the login response",
        )?;
        if let (Some(key), Some(secret)) = (&secret_key, login.device_secret.take()) {
            self.store.set(key, &secret);
        }
        let user = self.logged_in(provider, login);
        self.refresh_profile(&user).await?;
        Ok(user)
    }

    /// The URL that starts `provider`'s web redirect flow (its query is the caller's to add): the login
    /// route on the app's hostname, as realm-web opens it in the login window.
    pub async fn redirect_login_url(&self, provider: Provider) -> Result<String, P> {
        let origin = self.origin().await?;
        let endpoint = Endpoint::Login {
            app_id: &self.config.id,
            provider: provider.as_str(),
        };
        Ok(endpoint.url(&origin))
    }

    /// The device id this app keeps (sent with logins), if it has one.
    pub fn device_id(&self) -> Option<String> {
        self.store.get(&self.layout.device_id())
    }

    /// The end of a redirect flow: `user_auth` (`access$refresh$user_id$device_id`, the `_baas_ua` the
    /// server put on the app page) becomes a logged-in user, as a login answer does, then its profile.
    pub async fn log_in_with_auth(
        &self,
        provider: Provider,
        user_auth: &str,
    ) -> Result<User<P>, P> {
        let parts: Vec<&str> = user_auth.split('$').collect();
        let [access_token, refresh_token, user_id, device_id] = parts[..] else {
            return Err(Error::Other(
                "Failed to decode 'authInfo' into ids and tokens",
            ));
        };
        let login = LoginResponse {
            access_token: access_token.to_owned(),
            refresh_token: refresh_token.to_owned(),
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
            device_secret: None,
        };
        let user = self.logged_in(provider, login);
        self.refresh_profile(&user).await?;
        Ok(user)
    }

    /// `user.linkCredentials(credentials)`: `login?link=true` with the user's access token (refreshed
    /// and retried once on `InvalidSession`, like every access-token call). The answer must be for this
    /// user; its access token replaces the user's, and the profile is fetched again, so that
    /// `user.identities` lists the new identity when this resolves.
    pub async fn link_credentials(
        &self,
        user: &User<P>,
        credentials: &Credentials,
    ) -> Result<(), P> {
        if !self.knows(user) {
            return Err(Error::Other(UNKNOWN_USER));
        }
        if let Credentials::Redirect { .. } = credentials {
            return Err(Error::Other(
                "Linking through the OAuth 2.0 redirect flow is not supported: link with the provider's token",
            ));
        }
        let endpoint = Endpoint::LinkCredentials {
            app_id: &self.config.id,
            provider: credentials.provider().as_str(),
        };
        let response = self
            .call(user, endpoint, Some(credentials.body::<P>()))
            .await?;
        let linked: LoginResponse = decode::<P, _>(
            &response,
            "Expected tokens and a user_id in the link response",
        )?;
        if linked.user_id != user.id() {
            return Err(Error::Other("Link response meant for another user"));
        }
        *user.access_token.borrow_mut() = Some(linked.access_token);
        self.save_tokens(user);
        self.refresh_profile(user).await
    }

    /// `user.removeIdentity({id, providerType})` (appkeys; realm-web has no such call):
    /// `POST auth/identities/remove` with the user's access token, then the profile again, so that
    /// `user.identities` no longer lists it when this resolves.
    pub async fn remove_identity(
        &self,
        user: &User<P>,
        identity: &RemoveIdentity,
    ) -> Result<(), P> {
        if !self.knows(user) {
            return Err(Error::Other(UNKNOWN_USER));
        }
        let body = P::to_json(identity);
        self.call(user, Endpoint::RemoveIdentity, Some(body))
            .await?;
        self.refresh_profile(user).await
    }

    /// `user.refreshProfile()`: `GET auth/profile`, kept on the user and in storage.
    pub async fn refresh_profile(&self, user: &User<P>) -> Result<(), P> {
        let response = self.call(user, Endpoint::Profile, None).await?;
        let profile: Profile = decode::<P, _>(&response, "Expected a profile in the response")?;
        self.store.set(
            &self.layout.user(user.id(), UserField::Profile),
            &P::to_json(&profile),
        );
        *user.profile.borrow_mut() = Some(profile);
        Ok(())
    }

    /// `user.refreshAccessToken()`: `POST auth/session` with the refresh token. Concurrent callers
    /// (and every call that met an expired access token meanwhile) share one request and its result.
    pub async fn refresh_access_token(&self, user: &User<P>) -> Result<(), P> {
        let pending = user.refreshing.borrow().clone();
        if let Some(flight) = pending {
            return flight.wait().await;
        }
        let flight = Flight::new();
        *user.refreshing.borrow_mut() = Some(flight.clone());
        // Lands the flight (and unregisters it) however this future ends, even if it is dropped.
        let _land = LandOnDrop {
            user,
            flight: &flight,
        };
        let result = self.refresh_now(user).await;
        flight.land(result.clone());
        result
    }

    async fn refresh_now(&self, user: &User<P>) -> Result<(), P> {
        let token = user.refresh_token();
        let result = self
            .fetch(&Endpoint::RefreshSession, token.as_deref(), None)
            .await;
        let response = self.logged_out_if_invalid(user, result)?;
        let session: SessionResponse =
            decode::<P, _>(&response, "Expected an 'access_token' in the response")?;
        *user.access_token.borrow_mut() = Some(session.access_token);
        self.save_tokens(user);
        Ok(())
    }

    /// `user.logOut()`: `DELETE auth/session` with the refresh token when there is one (its failure is
    /// ignored, as realm-web does), then both tokens are forgotten.
    pub async fn log_out(&self, user: &User<P>) -> Result<(), P> {
        if let Some(token) = user.refresh_token() {
            let _ignored = self.fetch(&Endpoint::LogOut, Some(&token), None).await;
        }
        self.set_tokens(user, None, None);
        if user.removed.get() {
            self.store
                .remove(&self.layout.user(user.id(), UserField::Profile));
        }
        Ok(())
    }

    /// `app.removeUser(user)`: forget the user (state `removed`) and log it out.
    pub async fn remove_user(&self, user: &User<P>) -> Result<(), P> {
        if !self.knows(user) {
            return Err(Error::Other(UNKNOWN_USER));
        }
        self.users.borrow_mut().retain(|u| !Rc::ptr_eq(u, user));
        user.removed.set(true);
        self.save_user_ids(Some(user.id()));
        self.log_out(user).await
    }

    /// `app.deleteUser(user)`: `DELETE auth/delete` with that user's access token, then remove it.
    pub async fn delete_user(&self, user: &User<P>) -> Result<(), P> {
        if !self.knows(user) {
            return Err(Error::Other(UNKNOWN_USER));
        }
        self.call(user, Endpoint::DeleteUser, None).await?;
        self.remove_user(user).await
    }

    /// `user.apiKeys.create(name, { expiresAt, scopes, allowedIps })`.
    pub async fn create_api_key(
        &self,
        user: &User<P>,
        request: &CreateApiKeyRequest,
    ) -> Result<ApiKey, P> {
        let body = P::to_json(request);
        let response = self.call(user, Endpoint::CreateApiKey, Some(body)).await?;
        decode::<P, _>(&response, "Expected an API key in the response")
    }

    /// `user.apiKeys.roll(id, { expireOldAfter })` (appkeys): a new secret for the key; the old one
    /// logs in for `expireOldAfter` seconds more.
    pub async fn roll_api_key(
        &self,
        user: &User<P>,
        id: &str,
        request: &RollApiKeyRequest,
    ) -> Result<ApiKey, P> {
        check_key_id::<P>(id)?;
        let body = P::to_json(request);
        let response = self
            .call(user, Endpoint::RollApiKey { id }, Some(body))
            .await?;
        decode::<P, _>(&response, "Expected an API key in the response")
    }

    /// `user.apiKeys.update(id, { allowedIps })` (appkeys): the key's client-address allow-list.
    pub async fn set_api_key_allowed_ips(
        &self,
        user: &User<P>,
        id: &str,
        request: &AllowedIpsRequest,
    ) -> Result<(), P> {
        check_key_id::<P>(id)?;
        let body = P::to_json(request);
        let endpoint = Endpoint::SetApiKeyAllowedIps { id };
        self.call(user, endpoint, Some(body)).await.map(drop)
    }

    /// `user.apiKeys.fetch(id)`.
    pub async fn fetch_api_key(&self, user: &User<P>, id: &str) -> Result<ApiKey, P> {
        check_key_id::<P>(id)?;
        let response = self.call(user, Endpoint::FetchApiKey { id }, None).await?;
        decode::<P, _>(&response, "Expected an API key in the response")
    }

    /// `user.apiKeys.fetchAll()`.
    pub async fn fetch_api_keys(&self, user: &User<P>) -> Result<Vec<ApiKey>, P> {
        let response = self.call(user, Endpoint::ListApiKeys, None).await?;
        decode::<P, _>(&response, "Expected a list of API keys in the response")
    }

    /// `user.apiKeys.enable(id)`, `disable(id)`, `delete(id)`.
    pub async fn api_key_op(&self, user: &User<P>, op: KeyOp, id: &str) -> Result<(), P> {
        check_key_id::<P>(id)?;
        let endpoint = match op {
            KeyOp::Enable => Endpoint::EnableApiKey { id },
            KeyOp::Disable => Endpoint::DisableApiKey { id },
            KeyOp::Delete => Endpoint::DeleteApiKey { id },
        };
        self.call(user, endpoint, None).await.map(drop)
    }

    // ---- requests --------------------------------------------------------------------------------

    /// One request on behalf of `user` with realm-web's token rules: a 401 `InvalidSession` on an
    /// access-token request refreshes (unless another call already replaced the token it used) and
    /// retries once; on a refresh-token request it logs the user out.
    async fn call(
        &self,
        user: &User<P>,
        endpoint: Endpoint<'_>,
        body: Option<String>,
    ) -> Result<HttpResponse, P> {
        let kind = endpoint.token();
        let token = user.token(kind);
        let result = self.fetch(&endpoint, token.as_deref(), body.clone()).await;
        match kind {
            TokenKind::Access if is_invalid_session(&result) => {
                let current = user.access_token();
                if current.is_none() || current == token {
                    self.refresh_access_token(user).await?;
                }
                let token = user.access_token();
                self.fetch(&endpoint, token.as_deref(), body).await
            }
            TokenKind::Refresh => self.logged_out_if_invalid(user, result),
            _ => result,
        }
    }

    /// A refresh-token request's result: a 401 `InvalidSession` logs `user` out.
    fn logged_out_if_invalid(
        &self,
        user: &User<P>,
        result: Result<HttpResponse, P>,
    ) -> Result<HttpResponse, P> {
        if is_invalid_session(&result) {
            self.set_tokens(user, None, None);
        }
        result
    }

    /// Sends the request for `endpoint` (after the location request, when the hostname is not known
    /// yet). A non-2xx answer is an [`Error::App`].
    async fn fetch(
        &self,
        endpoint: &Endpoint<'_>,
        token: Option<&str>,
        body: Option<String>,
    ) -> Result<HttpResponse, P> {
        let origin = self.origin().await?;
        self.send(HttpRequest::new(&origin, endpoint, token, body))
            .await
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, P> {
        let (method, url) = (request.method, request.url.clone());
        let response = self
            .platform
            .send(request)
            .await
            .map_err(Error::Transport)?;
        if response.ok() {
            return Ok(response);
        }
        let error = AppErrorData::from_response::<P>(method, &url, &response);
        Err(Error::App(Box::new(error)))
    }

    /// The origin requests go to: `baseUrl`, or the hostname that `GET …/location` names (asked
    /// once; a failure is not cached).
    async fn origin(&self) -> Result<String, P> {
        let base = trim_trailing_slashes(&self.config.base_url);
        if self.config.skip_location_request {
            return Ok(base.to_owned());
        }
        let known = self.hostname.borrow().clone();
        if let Some(hostname) = known {
            return Ok(hostname);
        }
        let location = Endpoint::Location {
            app_id: &self.config.id,
        };
        let response = self
            .send(HttpRequest::new(base, &location, None, None))
            .await?;
        let location: Location =
            decode::<P, _>(&response, "Expected response to contain a 'hostname'")?;
        let hostname = trim_trailing_slashes(&location.hostname).to_owned();
        *self.hostname.borrow_mut() = Some(hostname.clone());
        Ok(hostname)
    }

    // ---- users and storage ---------------------------------------------------------------------

    /// The login response: stores the tokens and puts the user first.
    fn logged_in(&self, provider: Provider, login: LoginResponse) -> User<P> {
        let user = match self.user_by_id(&login.user_id) {
            Some(user) => user,
            None => {
                let user = UserCore::new(login.user_id, provider.as_str().to_owned());
                self.store.set(
                    &self.layout.user(user.id(), UserField::ProviderType),
                    user.provider_type(),
                );
                self.users.borrow_mut().push(user.clone());
                user
            }
        };
        user.removed.set(false);
        self.set_tokens(&user, Some(login.access_token), Some(login.refresh_token));
        if login.device_id != ZERO_DEVICE_ID {
            self.store.set(&self.layout.device_id(), &login.device_id);
            self.store.set(
                &self.layout.user(user.id(), UserField::DeviceId),
                &login.device_id,
            );
            *user.device_id.borrow_mut() = Some(login.device_id);
        }
        // Known (just added or found): cannot fail.
        let _ = self.switch_user(&user);
        self.save_user_ids(None);
        user
    }

    /// Persists the user ids, most recent first. Like realm-web, ids stored by other `App` instances
    /// sharing the storage (another tab) are kept after ours, except `dropped`.
    fn save_user_ids(&self, dropped: Option<&str>) {
        let key = self.layout.user_ids();
        let stored: Vec<String> = self
            .store
            .get(&key)
            .and_then(|text| P::from_json(&text))
            .unwrap_or_default();
        let mut ids: Vec<String> = self.users().iter().map(|u| u.id().to_owned()).collect();
        for id in stored {
            if Some(id.as_str()) != dropped && !ids.contains(&id) {
                ids.push(id);
            }
        }
        self.store.set(&key, &P::to_json(&ids));
    }

    fn put(&self, key: String, value: Option<&str>) {
        match value {
            Some(v) => self.store.set(&key, v),
            None => self.store.remove(&key),
        }
    }

    fn save_tokens(&self, user: &UserCore<P>) {
        let access = user.access_token();
        let refresh = user.refresh_token();
        self.put(
            self.layout.user(user.id(), UserField::AccessToken),
            access.as_deref(),
        );
        self.put(
            self.layout.user(user.id(), UserField::RefreshToken),
            refresh.as_deref(),
        );
    }

    fn set_tokens(&self, user: &UserCore<P>, access: Option<String>, refresh: Option<String>) {
        *user.access_token.borrow_mut() = access;
        *user.refresh_token.borrow_mut() = refresh;
        self.save_tokens(user);
    }

    /// Restores the users persisted for this app id (a corrupt list is forgotten).
    fn hydrate(&self) {
        let key = self.layout.user_ids();
        let Some(text) = self.store.get(&key) else {
            return;
        };
        let Some(ids) = P::from_json::<Vec<String>>(&text) else {
            self.store.remove(&key);
            return;
        };
        let mut users = Vec::new();
        for id in ids {
            let get = |field| self.store.get(&self.layout.user(&id, field));
            let Some(provider) = get(UserField::ProviderType) else {
                continue;
            };
            let user = UserCore::<P>::new(id.clone(), provider);
            *user.access_token.borrow_mut() = get(UserField::AccessToken);
            *user.refresh_token.borrow_mut() = get(UserField::RefreshToken);
            *user.device_id.borrow_mut() = get(UserField::DeviceId);
            *user.profile.borrow_mut() =
                get(UserField::Profile).and_then(|text| P::from_json(&text));
            users.push(user);
        }
        *self.users.borrow_mut() = users;
    }
}

/// Lands a refresh's flight with an error if its future is dropped before it finished, and always
/// unregisters it from the user, so that a later 401 starts a new refresh.
struct LandOnDrop<'a, P: Platform> {
    user: &'a UserCore<P>,
    flight: &'a Refresh<P>,
}

impl<P: Platform> Drop for LandOnDrop<'_, P> {
    fn drop(&mut self) {
        self.flight
            .land(Err(Error::Other("The token refresh was cancelled")));
        self.user.refreshing.borrow_mut().take();
    }
}

fn is_invalid_session<E>(result: &std::result::Result<HttpResponse, Error<E>>) -> bool {
    matches!(result, Err(Error::App(e)) if e.is_invalid_session())
}

fn check_key_id<P: Platform>(id: &str) -> Result<(), P> {
    if is_object_id(id) {
        Ok(())
    } else {
        Err(Error::Type(BAD_KEY_ID.to_owned()))
    }
}

/// The response body as a `T`, or [`Error::Other`] with `what` was expected.
fn decode<P: Platform, T: DeserializeOwned>(
    response: &HttpResponse,
    what: &'static str,
) -> Result<T, P> {
    response
        .json
        .as_deref()
        .and_then(P::from_json)
        .ok_or(Error::Other(what))
}
