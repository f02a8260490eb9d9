//! The `#[wasm_bindgen]` layer: realm-web 2.0.1's JS surface over the pure-Rust core.
//!
//! * Classes ([`App`], [`User`], [`ApiKeyAuth`], [`EmailPasswordAuth`], [`Credentials`]) hold cheap
//!   `Rc` handles of the core. Async methods are `fn …(&self, …) -> Promise`: they clone the handles,
//!   then hand a future that owns them to [`promise`] (wasm-bindgen-futures), so no borrow of the JS
//!   object outlives the call and `free()` while a call is pending is harmless.
//! * HTTP goes through gloo-net ([`platform::Web`]); JSON is parsed and written by JS
//!   (`JSON.parse`/`JSON.stringify`) and crosses into Rust types with serde-wasm-bindgen.
//! * Errors are real JS errors: the package's `AppError` (an `Error` subclass, `app-error.js`) for
//!   server errors, `TypeError` for bad arguments.
use crate::error::{AppErrorData, Error};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use wasm_bindgen::prelude::*;

mod app;
mod credentials;
mod platform;
mod redirect;
mod storage;
mod user;

pub use app::{App, EmailPasswordAuth};
pub use credentials::Credentials;
pub use platform::Web;
pub use redirect::handle_auth_redirect;
pub use user::{ApiKeyAuth, User};

// SAFETY: wasm32-unknown-unknown without the atomics feature has exactly one thread.
#[global_allocator]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[wasm_bindgen(module = "/src/wasm/app-error.js")]
extern "C" {
    /// The package's `AppError` class (`app-error.js`): a failed request.
    #[wasm_bindgen(extends = js_sys::Error)]
    pub type AppError;

    #[wasm_bindgen(constructor)]
    fn new(
        method: &str,
        url: &str,
        status_code: u16,
        status_text: &str,
        error: Option<String>,
        error_code: Option<String>,
        link: Option<String>,
    ) -> AppError;
}

impl From<&AppErrorData> for AppError {
    fn from(e: &AppErrorData) -> Self {
        AppError::new(
            e.method,
            &e.url,
            e.status_code,
            &e.status_text,
            e.error.clone(),
            e.error_code.clone(),
            e.link.clone(),
        )
    }
}

/// The JS value a failed call rejects with.
fn to_js(error: Error<JsValue>) -> JsValue {
    match error {
        Error::App(data) => AppError::from(&*data).into(),
        Error::Transport(e) => e,
        Error::Type(message) => js_sys::TypeError::new(&message).into(),
        Error::Other(message) => js_sys::Error::new(message).into(),
    }
}

/// A `TypeError` with `message`.
fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

/// The core's result as a promise's outcome.
type JsResult = Result<JsValue, JsValue>;

/// Runs `future` as a JS promise. One non-generic instantiation of `future_to_promise` for every
/// method (each generic one would add its own copy of the polling code to the wasm).
fn promise(future: impl Future<Output = JsResult> + 'static) -> js_sys::Promise {
    let boxed: Pin<Box<dyn Future<Output = JsResult>>> = Box::pin(future);
    wasm_bindgen_futures::future_to_promise(boxed)
}

/// Runs a core call that answers nothing as a `Promise<void>`.
fn void_promise(
    future: impl Future<Output = crate::app::Result<(), Web>> + 'static,
) -> js_sys::Promise {
    promise(async move {
        future.await.map_err(to_js)?;
        Ok(JsValue::UNDEFINED)
    })
}

/// A promise that rejects at once (bad arguments: checked before any request).
fn rejected(error: JsValue) -> js_sys::Promise {
    js_sys::Promise::reject(&error)
}

/// `value` as a plain JS value (objects, arrays, `null` for `None`; JSON-compatible).
fn to_value<T: Serialize + ?Sized>(value: &T) -> JsValue {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    // Our wire types always serialize (no maps with non-string keys, no huge integers).
    value.serialize(&serializer).unwrap_or(JsValue::NULL)
}

/// Reads `value` as a `T`; a `TypeError` with serde's reason otherwise (`what`: the argument). A missing field is
/// named by serde; a field of the wrong type is not (naming it took `serde_path_to_error`: 8.2 KB gzip of the
/// seed-flow bundle, see docs/ARCHITECTURE.md "Size").
fn from_value<T: DeserializeOwned>(value: JsValue, what: &str) -> Result<T, JsValue> {
    let deserializer = serde_wasm_bindgen::Deserializer::from(value);
    T::deserialize(deserializer).map_err(|e| type_error(&format!("Invalid {what}: {e}")))
}

/// `Some(value)` as a JS string, `None` as `null`.
fn string_or_null(value: Option<String>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from)
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A user API key as returned by `fetch()` / `fetchAll()` (the secret `key` only comes from `create()`). */
export interface ApiKey {
  _id: string;
  name: string;
  disabled: boolean;
  key?: string;
  /** Creation time, milliseconds since the Unix epoch (appkeys-server). */
  createdAt?: number;
  /** Last login with the key, milliseconds since the Unix epoch, or `null` (appkeys-server). */
  lastUsedAt?: number | null;
  /** The key's non-secret prefix, for telling keys apart (appkeys-server). */
  start?: string;
  /** When the key stops working, milliseconds since the Unix epoch; `null` = never (appkeys-server). */
  expiresAt: number | null;
  /** What the key may do, from the server's scopes; absent: it acts as its owner (appkeys-server). */
  scopes?: string[];
  /** The addresses and CIDR ranges it may log in from; absent: anywhere (appkeys-server). */
  allowedIps?: string[];
  /** Until when the secret before the last `roll()` still logs in, milliseconds since the Unix epoch (appkeys-server). */
  previousKeyExpiresAt?: number;
  /** Logins per day over the last 90 days (oldest first) and the last client address: in `fetch(id)` only (appkeys-server). */
  usage?: ApiKeyUsage;
}

/** A key's use (appkeys-server). */
export interface ApiKeyUsage {
  days: { date: string; logins: number }[];
  lastClientAddress: string | null;
}

/** Options of `user.apiKeys.create(name, options)`. */
export interface CreateApiKeyOptions {
  /** When the key stops working: a `Date` or milliseconds since the Unix epoch. Default: never (or the server's maximum lifetime). */
  expiresAt?: Date | number;
  /** Scopes the server declares; the key's access tokens carry them as `scope`. Default: none (the key acts as its owner). */
  scopes?: string[];
  /** IPv4/IPv6 addresses and CIDR ranges the key may log in from (at most 32). Default: anywhere. */
  allowedIps?: string[];
}

/** Options of `user.apiKeys.roll(id, options)`. */
export interface RollApiKeyOptions {
  /** Seconds the old secret keeps logging in (0, the default: it stops at once; at most 30 days). */
  expireOldAfter?: number;
}

/** Options of `user.apiKeys.update(id, options)`. */
export interface UpdateApiKeyOptions {
  /** The addresses and CIDR ranges the key may log in from; `[]`: anywhere. */
  allowedIps: string[];
}

/** A newly created user API key, including its secret. */
export interface NewApiKey extends ApiKey {
  key: string;
}

/** Persists users across `App` instances. Keys and values are strings; calls are synchronous. */
export interface Storage {
  get(key: string): string | null | undefined;
  set(key: string, value: string): void;
  remove(key: string): void;
}

export interface AppConfiguration {
  /** The app id. */
  id: string;
  /** Server base URL. Default: `http://127.0.0.1:9090`. */
  baseUrl?: string;
  /**
   * Where users (tokens, profile) persist. Default: `localStorage` in browsers (namespaced by app id),
   * memory in Node and in workers. API keys are never persisted.
   */
  storage?: Storage;
  /** Use `baseUrl` directly instead of asking `GET …/location` for the hostname first. */
  skipLocationRequest?: boolean;
}

export type UserState = "active" | "logged-out" | "removed";
export type ProviderType =
  | "local-userpass"
  | "anon-user"
  | "api-key"
  | "custom-token"
  | "oauth2-google"
  | "oauth2-apple"
  | "oauth2-facebook"
  | "custom-function";

/** One of `user.identities`: what the user can log in as. */
export interface UserIdentity {
  /** The identity's id (a custom JWT's, Google's or Apple's `sub`, a Facebook user id, the function's user id). */
  id: string;
  providerType: ProviderType;
}

/** `user.profile`: the profile's data fields (`email` for email/password users, custom JWT metadata fields). */
export interface UserProfile {
  email?: string;
  [field: string]: unknown;
}
"#;
