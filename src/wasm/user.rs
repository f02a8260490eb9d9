//! `User` and `user.apiKeys` (`ApiKeyAuth`).
use super::app::{CoreUser, Shared};
use super::credentials::credentials_of;
use super::{
    from_value, promise, rejected, string_or_null, to_js, to_value, type_error, void_promise,
    JsResult,
};
use crate::app::{KeyOp, BAD_KEY_ID};
use crate::user::UserState;
use appkeys_protocol::wire::{
    AllowedIpsRequest, CreateApiKeyRequest, RemoveIdentity, RollApiKeyRequest,
};
use js_sys::Promise;
use std::future::Future;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A user of an app. Made by `app.logIn()` (one object per user id); every property reads the
/// user's current state.
///
/// `free()` (or `using`) releases this object only: calls in flight finish normally, and the app
/// hands out a new `User` object for the same user afterwards.
#[wasm_bindgen]
pub struct User {
    app: Rc<Shared>,
    user: CoreUser,
    api_keys: JsValue,
}

impl User {
    pub(crate) fn new(app: Rc<Shared>, user: CoreUser) -> User {
        let api_keys = ApiKeyAuth {
            app: app.clone(),
            user: user.clone(),
        }
        .into();
        User {
            app,
            user,
            api_keys,
        }
    }

    /// Runs the core call `f` for this user as a promise.
    fn run<F>(&self, f: impl FnOnce(Rc<Shared>, CoreUser) -> F) -> Promise
    where
        F: Future<Output = crate::app::Result<(), super::Web>> + 'static,
    {
        void_promise(f(self.app.clone(), self.user.clone()))
    }
}

/// The `user_data` object of `user`'s access token, `{}` when it has none (realm-web's rule).
fn custom_data_of(user: &CoreUser) -> JsResult {
    let error = |m: &str| JsValue::from(js_sys::Error::new(m));
    let token = user
        .access_token()
        .ok_or_else(|| error("Cannot read custom data without an access token"))?;
    let payload = crate::user::jwt_payload(&token)
        .and_then(|text| js_sys::JSON::parse(&text).ok())
        .ok_or_else(|| error("Expected an access token with three parts"))?;
    let data = js_sys::Reflect::get(&payload, &JsValue::from_str("user_data"))?;
    Ok(match data.is_object() {
        true => data,
        false => js_sys::Object::new().into(),
    })
}

impl Drop for User {
    fn drop(&mut self) {
        self.app.forget(&self.user);
    }
}

#[wasm_bindgen]
impl User {
    /// The user id.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.user.id().to_owned()
    }

    /// The provider of the user's first login.
    #[wasm_bindgen(getter, js_name = providerType, unchecked_return_type = "ProviderType")]
    pub fn provider_type(&self) -> String {
        self.user.provider_type().to_owned()
    }

    /// The current access token, or `null` when logged out.
    #[wasm_bindgen(getter, js_name = accessToken, unchecked_return_type = "string | null")]
    pub fn access_token(&self) -> JsValue {
        string_or_null(self.user.access_token())
    }

    /// The refresh token, or `null` when logged out.
    #[wasm_bindgen(getter, js_name = refreshToken, unchecked_return_type = "string | null")]
    pub fn refresh_token(&self) -> JsValue {
        string_or_null(self.user.refresh_token())
    }

    /// The device id of the last login, or `null`.
    #[wasm_bindgen(getter, js_name = deviceId, unchecked_return_type = "string | null")]
    pub fn device_id(&self) -> JsValue {
        string_or_null(self.user.device_id())
    }

    /// `"active"`, `"logged-out"` or `"removed"`.
    #[wasm_bindgen(getter, unchecked_return_type = "UserState")]
    pub fn state(&self) -> String {
        self.user.state().as_str().to_owned()
    }

    /// Whether the user is logged in (`state === "active"`).
    #[wasm_bindgen(getter, js_name = isLoggedIn)]
    pub fn is_logged_in(&self) -> bool {
        self.user.state() == UserState::Active
    }

    /// The profile's data (`email`, …) as last fetched; `undefined` until a profile was fetched.
    #[wasm_bindgen(getter, unchecked_return_type = "UserProfile")]
    pub fn profile(&self) -> JsValue {
        self.user
            .profile()
            .map_or(JsValue::UNDEFINED, |p| to_value(&p.data))
    }

    /// What the user can log in as (`{id, providerType}`), from the profile as last fetched; `[]` until
    /// a profile was fetched.
    #[wasm_bindgen(getter, unchecked_return_type = "UserIdentity[]")]
    pub fn identities(&self) -> JsValue {
        let identities: Vec<Identity> = self.user.profile().map_or_else(Vec::new, |p| {
            p.identities
                .into_iter()
                .map(|i| Identity {
                    id: i.id,
                    provider_type: i.provider_type,
                })
                .collect()
        });
        to_value(&identities)
    }

    /// The user's API keys.
    #[wasm_bindgen(getter, js_name = apiKeys, unchecked_return_type = "ApiKeyAuth")]
    pub fn api_keys(&self) -> JsValue {
        self.api_keys.clone()
    }

    /// The same object as `apiKeys` (the spelling of the seed's enable/disable/delete snippets).
    #[wasm_bindgen(getter, js_name = apiKey, unchecked_return_type = "ApiKeyAuth")]
    pub fn api_key(&self) -> JsValue {
        self.api_keys.clone()
    }

    /// Ends the session on the server (failures are ignored) and forgets the tokens.
    #[wasm_bindgen(js_name = logOut, unchecked_return_type = "Promise<void>")]
    pub fn log_out(&self) -> Promise {
        self.run(|app, user| async move { app.core.log_out(&user).await })
    }

    /// Gets a new access token (one request for all concurrent callers).
    #[wasm_bindgen(js_name = refreshAccessToken, unchecked_return_type = "Promise<void>")]
    pub fn refresh_access_token(&self) -> Promise {
        self.run(|app, user| async move { app.core.refresh_access_token(&user).await })
    }

    /// The user's custom data: the `user_data` object of the access token (`{}` when it has none), as the
    /// app's backend last set it before the token was issued. Throws without an access token.
    #[wasm_bindgen(getter, js_name = customData, unchecked_return_type = "Record<string, unknown>")]
    pub fn custom_data(&self) -> JsResult {
        custom_data_of(&self.user)
    }

    /// Gets a new access token, then resolves to `customData` (what the backend set meanwhile).
    #[wasm_bindgen(
        js_name = refreshCustomData,
        unchecked_return_type = "Promise<Record<string, unknown>>"
    )]
    pub fn refresh_custom_data(&self) -> Promise {
        let (app, user) = (self.app.clone(), self.user.clone());
        promise(async move {
            app.core.refresh_access_token(&user).await.map_err(to_js)?;
            custom_data_of(&user)
        })
    }

    /// Links the identity of `credentials` (email/password, or a JWT) to this user, who keeps its id,
    /// data and keys; resolves once `identities` lists it. Refused by the server when the identity is
    /// another user's (409 `IdentityAlreadyLinked`) or this is an API-key session (403).
    #[wasm_bindgen(js_name = linkCredentials, unchecked_return_type = "Promise<void>")]
    pub fn link_credentials(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Credentials")] credentials: JsValue,
    ) -> Promise {
        let credentials = match credentials_of(credentials) {
            Ok(c) => c,
            Err(e) => return rejected(e),
        };
        self.run(|app, user| async move { app.core.link_credentials(&user, &credentials).await })
    }

    /// Fetches the profile again.
    #[wasm_bindgen(js_name = refreshProfile, unchecked_return_type = "Promise<void>")]
    pub fn refresh_profile(&self) -> Promise {
        self.run(|app, user| async move { app.core.refresh_profile(&user).await })
    }

    /// Takes one of `identities` (`{id, providerType}`) away from this user's account (appkeys;
    /// realm-web has no such call); resolves once `identities` no longer lists it. The server refuses
    /// the account's only identity (400), an identity it does not have (404) and API-key sessions (403).
    #[wasm_bindgen(js_name = removeIdentity, unchecked_return_type = "Promise<void>")]
    pub fn remove_identity(
        &self,
        #[wasm_bindgen(unchecked_param_type = "UserIdentity")] identity: JsValue,
    ) -> Promise {
        let identity = match from_value::<Identity>(identity, "identity") {
            Ok(i) => RemoveIdentity {
                provider_type: i.provider_type,
                id: i.id,
            },
            Err(e) => return rejected(e),
        };
        self.run(|app, user| async move { app.core.remove_identity(&user, &identity).await })
    }
}

/// One of `user.identities`.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    id: String,
    provider_type: String,
}

/// `options.expiresAt` of `create`: a `Date` or a whole number of milliseconds; absent for never.
/// What the key calls read of their options besides `expiresAt` (unknown fields are ignored).
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct KeyOptions {
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    allowed_ips: Option<Vec<String>>,
    #[serde(default)]
    expire_old_after: Option<u64>,
}

/// `options` as [`KeyOptions`] (a `TypeError` naming a wrong field); none: the defaults.
fn key_options(options: Option<JsValue>) -> Result<KeyOptions, JsValue> {
    match options.filter(|o| !o.is_undefined() && !o.is_null()) {
        Some(o) => from_value(o, "API key options"),
        None => Ok(KeyOptions::default()),
    }
}

fn expires_at(options: Option<JsValue>) -> Result<Option<i64>, JsValue> {
    let Some(options) = options.filter(|o| !o.is_undefined() && !o.is_null()) else {
        return Ok(None);
    };
    let at = js_sys::Reflect::get(&options, &JsValue::from_str("expiresAt"))
        .map_err(|_| type_error("Expected options { expiresAt?: Date | number }"))?;
    if at.is_undefined() || at.is_null() {
        return Ok(None);
    }
    let ms = match at.dyn_ref::<js_sys::Date>() {
        Some(date) => date.get_time(),
        None => at.as_f64().unwrap_or(f64::NAN),
    };
    if !ms.is_finite() || ms.fract() != 0.0 {
        return Err(type_error(
            "Expected 'expiresAt' to be a Date or milliseconds since the Unix epoch",
        ));
    }
    Ok(Some(ms as i64))
}

/// `user.apiKeys` (also `user.apiKey`): the user API keys of one user. Only sessions opened with
/// email/password may manage keys (the server answers 403 `APIKeyManagementForbidden` otherwise).
#[wasm_bindgen]
pub struct ApiKeyAuth {
    app: Rc<Shared>,
    user: CoreUser,
}

impl ApiKeyAuth {
    /// Runs `f` with the app, the user and the key id in `id` (a `TypeError` before any request
    /// unless it is 24 hex digits); resolves to what `f` gives.
    fn with_id<F>(&self, id: JsValue, f: impl FnOnce(Rc<Shared>, CoreUser, String) -> F) -> Promise
    where
        F: Future<Output = JsResult> + 'static,
    {
        match id.as_string() {
            Some(id) if appkeys_protocol::is_object_id(&id) => {
                promise(f(self.app.clone(), self.user.clone(), id))
            }
            _ => rejected(type_error(BAD_KEY_ID)),
        }
    }

    fn key_op(&self, id: JsValue, op: KeyOp) -> Promise {
        self.with_id(id, move |app, user, id| async move {
            app.core.api_key_op(&user, op, &id).await.map_err(to_js)?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

#[wasm_bindgen]
impl ApiKeyAuth {
    /// Creates a key named `name`, optionally expiring at `options.expiresAt` (a `Date` or
    /// milliseconds since the epoch); the result is the only place its secret `key` appears.
    #[wasm_bindgen(unchecked_return_type = "Promise<NewApiKey>")]
    pub fn create(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "CreateApiKeyOptions")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let Some(name) = name.as_string() else {
            return rejected(type_error("Expected an API key name (string)"));
        };
        let request = expires_at(options.clone()).and_then(|expires_at| {
            let options = key_options(options)?;
            Ok(CreateApiKeyRequest {
                name,
                expires_at,
                scopes: options.scopes,
                allowed_ips: options.allowed_ips.unwrap_or_default(),
            })
        });
        let request = match request {
            Ok(r) => r,
            Err(e) => return rejected(e),
        };
        let (app, user) = (self.app.clone(), self.user.clone());
        promise(async move {
            let key = app
                .core
                .create_api_key(&user, &request)
                .await
                .map_err(to_js)?;
            Ok(to_value(&key))
        })
    }

    /// Gives key `keyId` a new secret (appkeys): the result holds it, the only time it is shown; the
    /// old secret keeps logging in for `options.expireOldAfter` seconds (default 0: it stops at once;
    /// at most 30 days). The key keeps its id, name, scopes, allow-list and history.
    #[wasm_bindgen(unchecked_return_type = "Promise<NewApiKey>")]
    pub fn roll(
        &self,
        #[wasm_bindgen(js_name = keyId, unchecked_param_type = "string")] key_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RollApiKeyOptions")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let request = match key_options(options) {
            Ok(o) => RollApiKeyRequest {
                expire_old_after: o.expire_old_after,
            },
            Err(e) => return rejected(e),
        };
        self.with_id(key_id, move |app, user, id| async move {
            let key = app
                .core
                .roll_api_key(&user, &id, &request)
                .await
                .map_err(to_js)?;
            Ok(to_value(&key))
        })
    }

    /// Changes key `keyId` (appkeys): `{ allowedIps }` — the addresses and CIDR ranges it may log in
    /// from (at most 32; `[]`: anywhere).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn update(
        &self,
        #[wasm_bindgen(js_name = keyId, unchecked_param_type = "string")] key_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "UpdateApiKeyOptions")] options: JsValue,
    ) -> Promise {
        let request = match key_options(Some(options)) {
            Ok(KeyOptions {
                allowed_ips: Some(allowed_ips),
                ..
            }) => AllowedIpsRequest { allowed_ips },
            Ok(_) => return rejected(type_error("Expected options { allowedIps: string[] }")),
            Err(e) => return rejected(e),
        };
        self.with_id(key_id, move |app, user, id| async move {
            let core = &app.core;
            core.set_api_key_allowed_ips(&user, &id, &request)
                .await
                .map_err(to_js)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The key with id `keyId` (without its secret).
    #[wasm_bindgen(unchecked_return_type = "Promise<ApiKey>")]
    pub fn fetch(
        &self,
        #[wasm_bindgen(js_name = keyId, unchecked_param_type = "string")] key_id: JsValue,
    ) -> Promise {
        self.with_id(key_id, |app, user, id| async move {
            let key = app.core.fetch_api_key(&user, &id).await.map_err(to_js)?;
            Ok(to_value(&key))
        })
    }

    /// All of the user's keys (without secrets).
    #[wasm_bindgen(js_name = fetchAll, unchecked_return_type = "Promise<ApiKey[]>")]
    pub fn fetch_all(&self) -> Promise {
        let (app, user) = (self.app.clone(), self.user.clone());
        promise(async move {
            let keys = app.core.fetch_api_keys(&user).await.map_err(to_js)?;
            Ok(to_value(&keys))
        })
    }

    /// Enables the key `keyId`: it logs in again.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn enable(
        &self,
        #[wasm_bindgen(js_name = keyId, unchecked_param_type = "string")] key_id: JsValue,
    ) -> Promise {
        self.key_op(key_id, KeyOp::Enable)
    }

    /// Disables the key `keyId`: it no longer logs in, and its sessions end.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn disable(
        &self,
        #[wasm_bindgen(js_name = keyId, unchecked_param_type = "string")] key_id: JsValue,
    ) -> Promise {
        self.key_op(key_id, KeyOp::Disable)
    }

    /// Deletes the key `keyId` and ends its sessions.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn delete(
        &self,
        #[wasm_bindgen(js_name = keyId, unchecked_param_type = "string")] key_id: JsValue,
    ) -> Promise {
        self.key_op(key_id, KeyOp::Delete)
    }
}
