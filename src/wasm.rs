//! The `#[wasm_bindgen]` layer: realm-web 2.0.1's JS surface over the pure-Rust core.
//!
//! Size rules (issue 3, toolchain.md §7): no serde, no gloo-net (it would cost ~2.5 KB gz for a
//! wrapper over one `fetch` call we can bind ourselves), JSON parsed by JS. Async methods clone their
//! `Rc`s before any `await`, so no `&self` borrow is ever held across one.
use crate::client::{
    AppCore, Config, Credentials as CoreCredentials, KeyOp, Store, Transport, UserCore,
};
use crate::error::{AppErrorData, Error};
use crate::http::{HttpRequest, HttpResponse, JSON_TYPE};
use crate::json::Json;
#[allow(unused_imports)]
use crate::prelude::*;
use appkeys_protocol::Endpoint;
use core::cell::{Cell, RefCell};
use js_sys::{Object, Promise, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

// SAFETY: wasm32-unknown-unknown without the atomics feature has exactly one thread.
#[global_allocator]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_name = fetch)]
    fn js_fetch(url: &str, init: &Object) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, getter)]
    fn status(this: &FetchResponse) -> u16;
    type FetchResponse;

    /// A JS function, called as `f.call(target, a, b)`. Every JS method the SDK calls (storage,
    /// `response.text()`, `headers.get()`) goes through this one import: each import costs glue.
    type Method;
    #[wasm_bindgen(method, catch, js_name = call)]
    fn call(this: &Method, target: &JsValue, a: &JsValue, b: &JsValue) -> Result<JsValue, JsValue>;
}

/// `target[name](a, b)`; a missing method or a JS exception is an `Err`.
fn call_method(target: &JsValue, name: &str, a: &JsValue, b: &JsValue) -> Result<JsValue, JsValue> {
    let method: Method = Reflect::get(target, &JsValue::from_str(name))?.unchecked_into();
    method.call(target, a, b)
}

// ---- JSON ---------------------------------------------------------------------------------------

impl Json for JsValue {
    fn str_field(&self, name: &str) -> Option<String> {
        self.field(name)?.as_string()
    }
    fn field(&self, name: &str) -> Option<JsValue> {
        if !self.is_object() {
            return None;
        }
        Reflect::get(self, &JsValue::from_str(name))
            .ok()
            .filter(|v| *v != JsValue::UNDEFINED)
    }
    fn stringify(&self) -> Option<String> {
        JSON::stringify(self).ok()?.as_string()
    }
    fn parse(text: &str) -> Option<JsValue> {
        JSON::parse(text).ok()
    }
}

// ---- transport: the global fetch ------------------------------------------------------------------

/// Calls the global `fetch` (browsers, workers, Node ≥ 18).
pub struct Fetch;

impl Transport for Fetch {
    type Json = JsValue;
    type Error = JsValue;

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse<JsValue>, JsValue> {
        let init = Object::new();
        let headers = Object::new();
        set(&headers, "Accept", &JsValue::from_str(JSON_TYPE));
        if request.body.is_some() {
            set(&headers, "Content-Type", &JsValue::from_str(JSON_TYPE));
        }
        if let Some(auth) = &request.authorization {
            set(&headers, "Authorization", &JsValue::from_str(auth));
        }
        set(&init, "method", &JsValue::from_str(request.method.as_str()));
        set(&init, "headers", &headers);
        if let Some(body) = &request.body {
            set(&init, "body", &JsValue::from_str(body));
        }
        let response: FetchResponse = JsFuture::from(js_fetch(&request.url, &init)?)
            .await?
            .unchecked_into();
        let headers = get(&response, "headers").unwrap_or(JsValue::UNDEFINED);
        let content_type = call_method(
            &headers,
            "get",
            &JsValue::from_str("content-type"),
            &JsValue::UNDEFINED,
        )?;
        let is_json = content_type
            .as_string()
            .is_some_and(|t| t.starts_with(JSON_TYPE));
        let body = if is_json {
            let text = call_method(&response, "text", &JsValue::UNDEFINED, &JsValue::UNDEFINED)?;
            let text: JsValue = JsFuture::from(text.unchecked_into::<Promise>()).await?;
            let text = text.as_string();
            text.filter(|t| !t.is_empty())
                .and_then(|t| JsValue::parse(&t))
        } else {
            None
        };
        Ok(HttpResponse {
            status: response.status(),
            status_text: get(&response, "statusText")
                .and_then(|t| t.as_string())
                .unwrap_or_default(),
            body,
        })
    }
}

// ---- storage ------------------------------------------------------------------------------------

/// A JS object with three storage methods: `localStorage` (`getItem`/`setItem`/`removeItem`), the
/// app's own storage (`get`/`set`/`remove`) or, in memory, a `Map` (`get`/`set`/`delete`). Failures
/// (e.g. a full `localStorage`) are ignored, like realm-web does.
struct JsStore(JsValue, [&'static str; 3]);

const WEB_STORAGE: [&str; 3] = ["getItem", "setItem", "removeItem"];
const CUSTOM_STORAGE: [&str; 3] = ["get", "set", "remove"];

impl Store for JsStore {
    fn get(&self, key: &str) -> Option<String> {
        let key = JsValue::from_str(key);
        call_method(&self.0, self.1[0], &key, &JsValue::UNDEFINED)
            .ok()?
            .as_string()
    }
    fn set(&self, key: &str, value: &str) {
        let (key, value) = (JsValue::from_str(key), JsValue::from_str(value));
        let _ = call_method(&self.0, self.1[1], &key, &value);
    }
    fn remove(&self, key: &str) {
        let key = JsValue::from_str(key);
        let _ = call_method(&self.0, self.1[2], &key, &JsValue::UNDEFINED);
    }
}

/// `localStorage` in browsers (not in Node, not in workers, not when access throws), else memory.
fn default_store() -> JsStore {
    let global = js_sys::global();
    let node = get(&global, "process")
        .and_then(|p| get(&p, "versions"))
        .and_then(|v| get(&v, "node"))
        .is_some_and(|n| n.as_string().is_some());
    if !node {
        if let Some(ls) = get(&global, "localStorage").filter(|s| s.is_object()) {
            let store = JsStore(ls, WEB_STORAGE);
            // Probe: private modes / sandboxed frames may throw on use.
            let probe = JsValue::from_str("appkeys:probe");
            if call_method(&store.0, WEB_STORAGE[0], &probe, &JsValue::UNDEFINED).is_ok() {
                return store;
            }
        }
    }
    JsStore(js_sys::Map::new().into(), ["get", "set", "delete"])
}

// ---- helpers ------------------------------------------------------------------------------------

fn get(target: &JsValue, key: &str) -> Option<JsValue> {
    if !target.is_object() {
        return None;
    }
    Reflect::get(target, &JsValue::from_str(key))
        .ok()
        .filter(|v| *v != JsValue::UNDEFINED && *v != JsValue::NULL)
}

fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

fn or_null(value: Option<String>) -> JsValue {
    value.map_or(JsValue::NULL, |s| JsValue::from_str(&s))
}

fn opt_str(value: &Option<String>) -> JsValue {
    value
        .as_deref()
        .map_or(JsValue::UNDEFINED, JsValue::from_str)
}

fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

/// The package's `AppError` class. (A plain static rather than `thread_local!`: wasm32 without atomics
/// has one thread, and this avoids the thread-local access checks in the binary.)
struct ErrorClass(Cell<Option<JsValue>>);
// SAFETY: wasm32-unknown-unknown without the atomics feature has exactly one thread.
unsafe impl Sync for ErrorClass {}
static ERROR_CLASS: ErrorClass = ErrorClass(Cell::new(None));

/// Registers the package's `AppError` class (done by the package entry points once the module is
/// instantiated), so that errors from the server are `instanceof AppError`.
#[wasm_bindgen(js_name = "__setErrorClass")]
pub fn set_error_class(class: JsValue) {
    ERROR_CLASS.0.set(Some(class));
}

fn app_error(data: &AppErrorData) -> JsValue {
    let error = js_sys::Error::new(&data.message());
    set(&error, "name", &JsValue::from_str("AppError"));
    set(&error, "method", &JsValue::from_str(data.method));
    set(&error, "url", &JsValue::from_str(&data.url));
    set(&error, "statusCode", &JsValue::from(data.status_code));
    set(&error, "statusText", &JsValue::from_str(&data.status_text));
    set(&error, "error", &opt_str(&data.error));
    set(&error, "errorCode", &opt_str(&data.error_code));
    set(&error, "link", &opt_str(&data.link));
    let class = ERROR_CLASS.0.take();
    if let Some(class) = &class {
        if let Ok(proto) = Reflect::get(class, &JsValue::from_str("prototype")) {
            if proto.is_object() {
                // `error.__proto__ = proto` (the standard setter): no extra import for setPrototypeOf.
                set(&error, "__proto__", &proto);
            }
        }
    }
    ERROR_CLASS.0.set(class);
    error.into()
}

fn to_js(error: Error<JsValue>) -> JsValue {
    match error {
        Error::App(data) => app_error(&data),
        Error::Transport(e) => e,
        Error::Type(m) => type_error(m),
        Error::Other(m) => js_sys::Error::new(m).into(),
    }
}

/// Every async operation of the JS API. They all run through one `future_to_promise` call (one future
/// type), which keeps the wasm small: each distinct future passed to it is compiled separately.
enum Op {
    LogIn(CoreCredentials),
    Register(String, String),
    RemoveUser(Option<CoreUser>),
    DeleteUser(Option<CoreUser>),
    LogOut(CoreUser),
    Refresh(CoreUser),
    Profile(CoreUser),
    Create(CoreUser, String),
    FetchAll(CoreUser),
    Key(CoreUser, KeyOp, String),
}

fn run(shared: &Rc<Shared>, op: Op) -> Promise {
    let shared = shared.clone();
    future_to_promise(async move { exec(&shared, op).await.map_err(to_js) })
}

async fn exec(shared: &Rc<Shared>, op: Op) -> Result<JsValue, Error<JsValue>> {
    let core = &shared.core;
    let unknown = Error::Other(crate::client::UNKNOWN_USER);
    // The API-key calls share one `call` (one await site, fewer states in this future); `empty` is
    // the result when the response had no JSON body.
    let (user, endpoint, body, empty) = match &op {
        Op::LogIn(creds) => {
            let user = core.log_in(creds).await?;
            return Ok(shared.handle(&user));
        }
        Op::Register(email, password) => {
            core.register_user(email, password).await?;
            return Ok(JsValue::UNDEFINED);
        }
        Op::RemoveUser(user) => {
            core.remove_user(user.as_ref().ok_or(unknown)?).await?;
            return Ok(JsValue::UNDEFINED);
        }
        Op::DeleteUser(user) => {
            core.delete_user(user.as_ref().ok_or(unknown)?).await?;
            return Ok(JsValue::UNDEFINED);
        }
        Op::LogOut(user) => {
            core.log_out(user).await;
            return Ok(JsValue::UNDEFINED);
        }
        Op::Refresh(user) => {
            core.refresh_access_token(user).await?;
            return Ok(JsValue::UNDEFINED);
        }
        Op::Profile(user) => {
            core.refresh_profile(user).await?;
            return Ok(JsValue::UNDEFINED);
        }
        Op::Create(user, name) => (
            user,
            Endpoint::CreateApiKey,
            Some(crate::json::object(&[("name", name)])),
            JsValue::NULL,
        ),
        Op::FetchAll(user) => (
            user,
            Endpoint::ListApiKeys,
            None,
            JsValue::parse("[]").unwrap_or(JsValue::NULL),
        ),
        Op::Key(user, op, id) => {
            let endpoint = match op {
                KeyOp::Fetch => Endpoint::FetchApiKey { id },
                KeyOp::Enable => Endpoint::EnableApiKey { id },
                KeyOp::Disable => Endpoint::DisableApiKey { id },
                KeyOp::Delete => Endpoint::DeleteApiKey { id },
            };
            (user, endpoint, None, JsValue::UNDEFINED)
        }
    };
    let result = core.call(Some(user), endpoint, body).await?;
    Ok(match &op {
        // Only `fetch` of the id operations has a result.
        Op::Key(_, KeyOp::Enable | KeyOp::Disable | KeyOp::Delete, _) => JsValue::UNDEFINED,
        _ => result.unwrap_or(empty),
    })
}

fn rejected(error: JsValue) -> Promise {
    Promise::reject(&error)
}

// ---- App ----------------------------------------------------------------------------------------

type Core = AppCore<Fetch, JsStore>;
type CoreUser = Rc<UserCore<Fetch>>;

struct Shared {
    core: Core,
    /// The JS `User` object of each core user, so that the same user is always the same object.
    handles: RefCell<Vec<(CoreUser, JsValue)>>,
}

impl Shared {
    fn handle(self: &Rc<Self>, user: &CoreUser) -> JsValue {
        if let Some((_, js)) = self
            .handles
            .borrow()
            .iter()
            .find(|(u, _)| Rc::ptr_eq(u, user))
        {
            return js.clone();
        }
        let keys = JsValue::from(ApiKeyAuth {
            app: self.clone(),
            user: user.clone(),
        });
        let js = JsValue::from(User {
            app: self.clone(),
            user: user.clone(),
            keys,
        });
        self.handles.borrow_mut().push((user.clone(), js.clone()));
        js
    }

    /// The core user behind a JS `User` object this app handed out (identity, like realm-web).
    fn user_of(&self, value: &JsValue) -> Option<CoreUser> {
        let found = self
            .handles
            .borrow()
            .iter()
            .find(|(_, js)| js == value)
            .map(|(u, _)| u.clone());
        found.filter(|u| self.core.users().iter().any(|k| Rc::ptr_eq(k, u)))
    }
}

/// `new App(id)` or `new App({ id, baseUrl?, storage?, skipLocationRequest? })`.
#[wasm_bindgen]
pub struct App {
    shared: Rc<Shared>,
    email_password_auth: JsValue,
}

#[wasm_bindgen]
impl App {
    #[wasm_bindgen(constructor)]
    pub fn new(config: JsValue) -> Result<App, JsValue> {
        let (id, base_url, skip, storage) = if let Some(id) = config.as_string() {
            (id, None, false, None)
        } else {
            let id = get(&config, "id")
                .and_then(|v| v.as_string())
                .ok_or_else(|| type_error("Expected an app id: new App(id) or new App({ id })"))?;
            let base_url = match get(&config, "baseUrl") {
                None => None,
                Some(v) => Some(
                    v.as_string()
                        .ok_or_else(|| type_error("Expected 'baseUrl' to be a string"))?,
                ),
            };
            let skip = get(&config, "skipLocationRequest").is_some_and(|v| v.is_truthy());
            let storage = match get(&config, "storage") {
                None => None,
                Some(s) => {
                    let ok = ["get", "set", "remove"]
                        .iter()
                        .all(|m| get(&s, m).is_some_and(|f| f.is_function()));
                    if !ok {
                        return Err(type_error(
                            "Expected 'storage' to have get(key), set(key, value) and remove(key)",
                        ));
                    }
                    Some(JsStore(s, CUSTOM_STORAGE))
                }
            };
            (id, base_url, skip, storage)
        };
        if id.is_empty() {
            return Err(type_error("Expected a non-empty app id"));
        }
        let config = Config {
            id,
            base_url: base_url.unwrap_or_else(|| crate::DEFAULT_BASE_URL.to_owned()),
            skip_location_request: skip,
        };
        let store = storage.unwrap_or_else(default_store);
        let shared = Rc::new(Shared {
            core: AppCore::new(config, Fetch, store),
            handles: RefCell::new(Vec::new()),
        });
        let email_password_auth = JsValue::from(EmailPasswordAuth {
            shared: shared.clone(),
        });
        Ok(App {
            shared,
            email_password_auth,
        })
    }

    #[wasm_bindgen(getter)]
    pub fn id(&self) -> JsValue {
        JsValue::from_str(self.shared.core.id())
    }

    #[wasm_bindgen(getter, js_name = currentUser)]
    pub fn current_user(&self) -> JsValue {
        match self.shared.core.current_user() {
            Some(u) => self.shared.handle(&u),
            None => JsValue::NULL,
        }
    }

    #[wasm_bindgen(getter, js_name = allUsers)]
    pub fn all_users(&self) -> Object {
        let out = Object::new();
        for u in self.shared.core.users() {
            set(&out, u.id(), &self.shared.handle(&u));
        }
        out
    }

    #[wasm_bindgen(getter, js_name = emailPasswordAuth)]
    pub fn email_password_auth(&self) -> JsValue {
        self.email_password_auth.clone()
    }

    #[wasm_bindgen(js_name = logIn)]
    pub fn log_in(&self, credentials: JsValue) -> Promise {
        let provider = get(&credentials, "providerType").and_then(|p| p.as_string());
        let payload = get(&credentials, "payload").and_then(|p| p.stringify());
        let (Some(provider), Some(payload)) = (provider, payload) else {
            return rejected(type_error(
                "Expected credentials, e.g. Credentials.emailPassword(email, password)",
            ));
        };
        let provider = match provider.as_str() {
            "local-userpass" => "local-userpass",
            "anon-user" => "anon-user",
            "api-key" => "api-key",
            _ => return rejected(type_error("Unsupported credentials provider")),
        };
        run(
            &self.shared,
            Op::LogIn(CoreCredentials { provider, payload }),
        )
    }

    #[wasm_bindgen(js_name = switchUser)]
    pub fn switch_user(&self, user: JsValue) -> Result<(), JsValue> {
        let u = self
            .shared
            .user_of(&user)
            .ok_or_else(|| js_sys::Error::new(crate::client::UNKNOWN_USER))?;
        self.shared.core.switch_user(&u).map_err(to_js)
    }

    #[wasm_bindgen(js_name = removeUser)]
    pub fn remove_user(&self, user: JsValue) -> Promise {
        run(&self.shared, Op::RemoveUser(self.shared.user_of(&user)))
    }

    #[wasm_bindgen(js_name = deleteUser)]
    pub fn delete_user(&self, user: JsValue) -> Promise {
        run(&self.shared, Op::DeleteUser(self.shared.user_of(&user)))
    }
}

/// `app.emailPasswordAuth`.
#[wasm_bindgen]
pub struct EmailPasswordAuth {
    shared: Rc<Shared>,
}

#[wasm_bindgen]
impl EmailPasswordAuth {
    #[wasm_bindgen(js_name = registerUser)]
    pub fn register_user(&self, details: JsValue) -> Promise {
        let email = get(&details, "email").and_then(|v| v.as_string());
        let password = get(&details, "password").and_then(|v| v.as_string());
        let (Some(email), Some(password)) = (email, password) else {
            return rejected(type_error(
                "Expected registerUser({ email, password }) with string values",
            ));
        };
        run(&self.shared, Op::Register(email, password))
    }
}

// ---- Credentials --------------------------------------------------------------------------------

/// `Credentials.emailPassword(email, password)`, `Credentials.anonymous()`, `Credentials.apiKey(key)`.
#[wasm_bindgen]
pub struct Credentials {
    inner: CoreCredentials,
}

#[wasm_bindgen]
impl Credentials {
    #[wasm_bindgen(js_name = emailPassword)]
    pub fn email_password(email: JsValue, password: JsValue) -> Result<Credentials, JsValue> {
        match (email.as_string(), password.as_string()) {
            (Some(e), Some(p)) => Ok(Credentials {
                inner: CoreCredentials::email_password(&e, &p),
            }),
            _ => Err(type_error("Expected an email and a password (strings)")),
        }
    }

    pub fn anonymous() -> Credentials {
        Credentials {
            inner: CoreCredentials::anonymous(),
        }
    }

    #[wasm_bindgen(js_name = apiKey)]
    pub fn api_key(key: JsValue) -> Result<Credentials, JsValue> {
        let key = key
            .as_string()
            .ok_or_else(|| type_error("Expected an API key (string)"))?;
        Ok(Credentials {
            inner: CoreCredentials::api_key(&key),
        })
    }

    #[wasm_bindgen(getter, js_name = providerType)]
    pub fn provider_type(&self) -> JsValue {
        JsValue::from_str(self.inner.provider)
    }

    #[wasm_bindgen(getter)]
    pub fn payload(&self) -> JsValue {
        JsValue::parse(&self.inner.payload).unwrap_or(JsValue::NULL)
    }
}

// ---- User ---------------------------------------------------------------------------------------

/// A user of an app (always the same object for the same user of an `App`).
#[wasm_bindgen]
pub struct User {
    app: Rc<Shared>,
    user: CoreUser,
    keys: JsValue,
}

#[wasm_bindgen]
impl User {
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> JsValue {
        JsValue::from_str(self.user.id())
    }

    #[wasm_bindgen(getter, js_name = accessToken)]
    pub fn access_token(&self) -> JsValue {
        or_null(self.user.access_token())
    }

    #[wasm_bindgen(getter, js_name = refreshToken)]
    pub fn refresh_token(&self) -> JsValue {
        or_null(self.user.refresh_token())
    }

    #[wasm_bindgen(getter, js_name = providerType)]
    pub fn provider_type(&self) -> JsValue {
        JsValue::from_str(self.user.provider_type())
    }

    #[wasm_bindgen(getter, js_name = deviceId)]
    pub fn device_id(&self) -> JsValue {
        or_null(self.user.device_id())
    }

    #[wasm_bindgen(getter)]
    pub fn state(&self) -> JsValue {
        JsValue::from_str(self.user.state().as_str())
    }

    #[wasm_bindgen(getter, js_name = isLoggedIn)]
    pub fn is_logged_in(&self) -> bool {
        self.user.state() == crate::client::UserState::Active
    }

    /// The profile data (`{ email }` for email/password users), like realm-web's `user.profile`.
    #[wasm_bindgen(getter)]
    pub fn profile(&self) -> Result<JsValue, JsValue> {
        let profile = self
            .user
            .profile()
            .ok_or_else(|| js_sys::Error::new("A profile was never fetched for this user"))?;
        Ok(profile
            .field("data")
            .unwrap_or_else(|| Object::new().into()))
    }

    #[wasm_bindgen(getter, js_name = apiKeys)]
    pub fn api_keys(&self) -> JsValue {
        self.keys.clone()
    }

    /// Same object as `apiKeys` (the name the seed's enable/disable/delete snippets use).
    #[wasm_bindgen(getter, js_name = apiKey)]
    pub fn api_key(&self) -> JsValue {
        self.keys.clone()
    }

    #[wasm_bindgen(js_name = logOut)]
    pub fn log_out(&self) -> Promise {
        run(&self.app, Op::LogOut(self.user.clone()))
    }

    #[wasm_bindgen(js_name = refreshAccessToken)]
    pub fn refresh_access_token(&self) -> Promise {
        run(&self.app, Op::Refresh(self.user.clone()))
    }

    #[wasm_bindgen(js_name = refreshProfile)]
    pub fn refresh_profile(&self) -> Promise {
        run(&self.app, Op::Profile(self.user.clone()))
    }
}

// ---- user.apiKeys -------------------------------------------------------------------------------

/// `user.apiKeys` (also `user.apiKey`).
#[wasm_bindgen]
pub struct ApiKeyAuth {
    app: Rc<Shared>,
    user: CoreUser,
}

impl ApiKeyAuth {
    fn op(&self, op: KeyOp, id: JsValue) -> Promise {
        let Some(id) = id.as_string() else {
            return rejected(type_error(crate::client::BAD_KEY_ID));
        };
        if !appkeys_protocol::is_object_id(&id) {
            return rejected(type_error(crate::client::BAD_KEY_ID));
        }
        run(&self.app, Op::Key(self.user.clone(), op, id))
    }
}

#[wasm_bindgen]
impl ApiKeyAuth {
    pub fn create(&self, name: JsValue) -> Promise {
        let Some(name) = name.as_string() else {
            return rejected(type_error("Expected an API key name (string)"));
        };
        run(&self.app, Op::Create(self.user.clone(), name))
    }

    pub fn fetch(&self, id: JsValue) -> Promise {
        self.op(KeyOp::Fetch, id)
    }

    #[wasm_bindgen(js_name = fetchAll)]
    pub fn fetch_all(&self) -> Promise {
        run(&self.app, Op::FetchAll(self.user.clone()))
    }

    pub fn enable(&self, id: JsValue) -> Promise {
        self.op(KeyOp::Enable, id)
    }

    pub fn disable(&self, id: JsValue) -> Promise {
        self.op(KeyOp::Disable, id)
    }

    pub fn delete(&self, id: JsValue) -> Promise {
        self.op(KeyOp::Delete, id)
    }
}

/// The npm package's wasm has no std (see Cargo.toml): a panic (a bug) traps, which JS sees as a
/// `RuntimeError: unreachable`. Nothing is formatted, so no formatting code ends up in the binary.
#[cfg(not(feature = "std"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}
