//! `App` and `app.emailPasswordAuth`.
use super::credentials::credentials_of;
use super::storage::{CustomStorage, JsStore};
use super::user::User;
use super::{from_value, promise, rejected, to_js, type_error, void_promise, Web};
use crate::app::{AppCore, Config, UNKNOWN_USER};
use crate::credentials::Credentials as CoreCredentials;
use crate::user::UserCore;
use appkeys_protocol::wire::{ConfirmRequest, EmailRequest, RegisterRequest, ResetPasswordRequest};
use appkeys_protocol::UserpassAction;
use js_sys::{Object, Promise, Reflect};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

pub(crate) type Core = AppCore<Web, JsStore>;
pub(crate) type CoreUser = Rc<UserCore<Web>>;

/// An app's state, shared by the `App` object, its users and every call in flight.
pub(crate) struct Shared {
    pub(crate) core: Core,
    /// The JS `User` object of each user handed out, so that one user is always the same object.
    users: RefCell<Vec<(CoreUser, JsValue)>>,
}

impl Shared {
    /// The JS `User` object of `user`, made on first use.
    pub(crate) fn user_object(self: &Rc<Self>, user: &CoreUser) -> JsValue {
        let known = self
            .users
            .borrow()
            .iter()
            .find(|(u, _)| Rc::ptr_eq(u, user))
            .map(|(_, js)| js.clone());
        known.unwrap_or_else(|| {
            let js = JsValue::from(User::new(self.clone(), user.clone()));
            self.users.borrow_mut().push((user.clone(), js.clone()));
            js
        })
    }

    /// The core user behind a `User` object this app handed out, if it still knows the user.
    fn user_of(&self, value: &JsValue) -> Option<CoreUser> {
        let users = self.users.borrow();
        let (user, _) = users.iter().find(|(_, js)| js == value)?;
        self.core.knows(user).then(|| user.clone())
    }

    /// Forgets the `User` object of `user` (it was freed); the next use makes a new one.
    pub(crate) fn forget(&self, user: &CoreUser) {
        if let Ok(mut users) = self.users.try_borrow_mut() {
            users.retain(|(u, _)| !Rc::ptr_eq(u, user));
        }
    }
}

/// `new App(id)` / `new App({ id, baseUrl, storage, skipLocationRequest })`, read with
/// serde-wasm-bindgen.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppConfiguration {
    id: String,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    skip_location_request: Option<bool>,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    storage: JsValue,
}

/// An App Services app on an appkeys-server: its users and how to log them in.
#[wasm_bindgen]
pub struct App {
    shared: Rc<Shared>,
    email_password_auth: JsValue,
}

#[wasm_bindgen]
impl App {
    /// `new App("my-app-id")` or `new App({ id, baseUrl?, storage?, skipLocationRequest? })`.
    /// Restores the users persisted for this app id. Throws a `TypeError` naming a bad field.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(js_name = idOrConfiguration, unchecked_param_type = "string | AppConfiguration")]
        id_or_configuration: JsValue,
    ) -> Result<App, JsValue> {
        let configuration = match id_or_configuration.as_string() {
            Some(id) => AppConfiguration {
                id,
                base_url: None,
                skip_location_request: None,
                storage: JsValue::UNDEFINED,
            },
            None => from_value(id_or_configuration, "App configuration")?,
        };
        if configuration.id.is_empty() {
            return Err(type_error("Expected a non-empty app id"));
        }
        let store = if configuration.storage.is_undefined() {
            JsStore::default_for_platform()
        } else {
            let storage = CustomStorage::from_option(configuration.storage)
                .ok_or_else(|| type_error("Expected 'storage' with get, set and remove methods"))?;
            JsStore::Custom(storage)
        };
        let config = Config {
            id: configuration.id,
            base_url: configuration
                .base_url
                .unwrap_or_else(|| crate::DEFAULT_BASE_URL.to_owned()),
            skip_location_request: configuration.skip_location_request.unwrap_or(false),
        };
        let shared = Rc::new(Shared {
            core: AppCore::new(config, Web, store),
            users: RefCell::new(Vec::new()),
        });
        let email_password_auth = EmailPasswordAuth {
            app: shared.clone(),
        }
        .into();
        Ok(App {
            shared,
            email_password_auth,
        })
    }

    /// The app id.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.shared.core.id().to_owned()
    }

    /// The most recently logged-in user that is still logged in, or `null`.
    #[wasm_bindgen(getter, js_name = currentUser, unchecked_return_type = "User | null")]
    pub fn current_user(&self) -> JsValue {
        match self.shared.core.current_user() {
            Some(user) => self.shared.user_object(&user),
            None => JsValue::NULL,
        }
    }

    /// Every known user (logged in or out) by id, most recent first.
    #[wasm_bindgen(
        getter,
        js_name = allUsers,
        unchecked_return_type = "Readonly<Record<string, User>>"
    )]
    pub fn all_users(&self) -> JsValue {
        let all = Object::new();
        for user in self.shared.core.users() {
            let js = self.shared.user_object(&user);
            // Setting a property of a fresh plain object cannot fail.
            let _ = Reflect::set(&all, &JsValue::from_str(user.id()), &js);
        }
        all.into()
    }

    /// Registration with email and password.
    #[wasm_bindgen(getter, js_name = emailPasswordAuth, unchecked_return_type = "EmailPasswordAuth")]
    pub fn email_password_auth(&self) -> JsValue {
        self.email_password_auth.clone()
    }

    /// Logs in with `Credentials.emailPassword()`, `.anonymous()` or `.apiKey()`; resolves to the
    /// user (the same `User` object for the same user id), which becomes `currentUser`.
    #[wasm_bindgen(js_name = logIn, unchecked_return_type = "Promise<User>")]
    pub fn log_in(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Credentials")] credentials: JsValue,
    ) -> Promise {
        let credentials = match credentials_of(credentials) {
            Ok(credentials) => credentials,
            Err(e) => return rejected(e),
        };
        let shared = self.shared.clone();
        promise(async move {
            let user = match &credentials {
                CoreCredentials::Redirect { provider, url } => {
                    super::redirect::log_in(&shared, *provider, url).await?
                }
                _ => shared.core.log_in(&credentials).await.map_err(to_js)?,
            };
            Ok(shared.user_object(&user))
        })
    }

    /// Makes `user` the current user. Throws for a user this app does not know.
    #[wasm_bindgen(js_name = switchUser)]
    pub fn switch_user(
        &self,
        #[wasm_bindgen(unchecked_param_type = "User")] user: JsValue,
    ) -> Result<(), JsValue> {
        let user = self
            .shared
            .user_of(&user)
            .ok_or_else(|| JsValue::from(js_sys::Error::new(UNKNOWN_USER)))?;
        self.shared.core.switch_user(&user).map_err(to_js)
    }

    /// Logs `user` out and forgets it (its state becomes `removed`).
    #[wasm_bindgen(js_name = removeUser, unchecked_return_type = "Promise<void>")]
    pub fn remove_user(
        &self,
        #[wasm_bindgen(unchecked_param_type = "User")] user: JsValue,
    ) -> Promise {
        self.with_user(user, |core, user| async move {
            core.core.remove_user(&user).await
        })
    }

    /// Deletes `user` on the server (with its own access token), then removes it.
    #[wasm_bindgen(js_name = deleteUser, unchecked_return_type = "Promise<void>")]
    pub fn delete_user(
        &self,
        #[wasm_bindgen(unchecked_param_type = "User")] user: JsValue,
    ) -> Promise {
        self.with_user(user, |core, user| async move {
            core.core.delete_user(&user).await
        })
    }
}

impl App {
    /// Runs `f` on the core user behind `user`; rejects for users this app does not know.
    fn with_user<F>(&self, user: JsValue, f: impl FnOnce(Rc<Shared>, CoreUser) -> F) -> Promise
    where
        F: std::future::Future<Output = crate::app::Result<(), Web>> + 'static,
    {
        let Some(user) = self.shared.user_of(&user) else {
            return rejected(js_sys::Error::new(UNKNOWN_USER).into());
        };
        void_promise(f(self.shared.clone(), user))
    }
}

/// `app.emailPasswordAuth`.
#[wasm_bindgen]
pub struct EmailPasswordAuth {
    app: Rc<Shared>,
}

#[wasm_bindgen]
impl EmailPasswordAuth {
    /// Registers a new email/password user (log in afterwards with `Credentials.emailPassword`).
    #[wasm_bindgen(js_name = registerUser, unchecked_return_type = "Promise<void>")]
    pub fn register_user(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ email: string; password: string }")]
        details: JsValue,
    ) -> Promise {
        let details: RegisterRequest = match from_value(details, "registerUser details") {
            Ok(details) => details,
            Err(e) => return rejected(e),
        };
        let app = self.app.clone();
        void_promise(async move {
            let RegisterRequest { email, password } = details;
            app.core.register(&email, &password).await
        })
    }

    /// Confirms a new account with the `token` and `tokenId` of its confirmation link.
    #[wasm_bindgen(js_name = confirmUser, unchecked_return_type = "Promise<void>")]
    pub fn confirm_user(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ token: string; tokenId: string }")]
        details: JsValue,
    ) -> Promise {
        self.post::<ConfirmRequest>(UserpassAction::Confirm, details, "confirmUser details")
    }

    /// Sends a new confirmation email (the server answers the same whether or not the address has an
    /// unconfirmed account).
    #[wasm_bindgen(js_name = resendConfirmationEmail, unchecked_return_type = "Promise<void>")]
    pub fn resend_confirmation_email(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ email: string }")] details: JsValue,
    ) -> Promise {
        self.post::<EmailRequest>(
            UserpassAction::ResendConfirmation,
            details,
            "resendConfirmationEmail details",
        )
    }

    /// Reruns a custom confirmation function (appkeys-server rejects with
    /// `CustomFunctionNotSupported`).
    #[wasm_bindgen(js_name = retryCustomConfirmation, unchecked_return_type = "Promise<void>")]
    pub fn retry_custom_confirmation(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ email: string }")] details: JsValue,
    ) -> Promise {
        self.post::<EmailRequest>(
            UserpassAction::RetryCustomConfirmation,
            details,
            "retryCustomConfirmation details",
        )
    }

    /// Sends a password-reset email (the same answer whether or not the address has an account).
    #[wasm_bindgen(js_name = sendResetPasswordEmail, unchecked_return_type = "Promise<void>")]
    pub fn send_reset_password_email(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ email: string }")] details: JsValue,
    ) -> Promise {
        self.post::<EmailRequest>(
            UserpassAction::SendReset,
            details,
            "sendResetPasswordEmail details",
        )
    }

    /// Sets a new password with the `token` and `tokenId` of a reset link; every session of the user
    /// ends.
    #[wasm_bindgen(js_name = resetPassword, unchecked_return_type = "Promise<void>")]
    pub fn reset_password(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "{ token: string; tokenId: string; password: string }"
        )]
        details: JsValue,
    ) -> Promise {
        self.post::<ResetPasswordRequest>(UserpassAction::Reset, details, "resetPassword details")
    }

    /// Calls a custom password-reset function with `{ ...details, arguments: [arg] }` (appkeys-server
    /// rejects with `CustomFunctionNotSupported`). realm-web takes any number of arguments; a
    /// wasm-bindgen method has fixed parameters, so only the first one is forwarded.
    #[wasm_bindgen(js_name = callResetPasswordFunction, unchecked_return_type = "Promise<void>")]
    pub fn call_reset_password_function(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ email: string; password: string }")]
        details: JsValue,
        #[wasm_bindgen(unchecked_param_type = "unknown")] arg: JsValue,
    ) -> Promise {
        let what = "callResetPasswordFunction details";
        if let Err(e) = from_value::<RegisterRequest>(details.clone(), what) {
            return rejected(e);
        }
        let body = Object::assign(&Object::new(), details.unchecked_ref());
        let arguments = if arg.is_undefined() {
            js_sys::Array::new()
        } else {
            js_sys::Array::of1(&arg)
        };
        if let Err(e) = Reflect::set(&body, &"arguments".into(), &arguments) {
            return rejected(e);
        }
        self.send(UserpassAction::CallResetFunction, &body)
    }
}

impl EmailPasswordAuth {
    /// Posts `details` to `local-userpass/{action}` as they are (like realm-web) once they read as a
    /// `T` (else a `TypeError` naming the wrong field).
    fn post<T: DeserializeOwned>(
        &self,
        action: UserpassAction,
        details: JsValue,
        what: &str,
    ) -> Promise {
        match from_value::<T>(details.clone(), what) {
            Ok(_) => self.send(action, &details),
            Err(e) => rejected(e),
        }
    }

    /// Posts `body` (`JSON.stringify`) to `local-userpass/{action}`.
    fn send(&self, action: UserpassAction, body: &JsValue) -> Promise {
        let body = match js_sys::JSON::stringify(body) {
            Ok(text) => String::from(text),
            Err(e) => return rejected(e),
        };
        let app = self.app.clone();
        void_promise(async move { app.core.userpass(action, body).await })
    }
}
