//! The `#[wasm_bindgen]` layer: realm-web 2.0.1's JS surface over the pure-Rust core.
//!
//! Size rules (issue 3, toolchain.md §7): no serde, no gloo-net (it would cost ~2.5 KB gz for a
//! wrapper over one `fetch` call we can bind ourselves), JSON parsed by JS. Async methods clone their
//! `Rc`s before any `await`, so no `&self` borrow is ever held across one.
use crate::client::{
    AppCore, Config, Credentials as CoreCredentials, Input, KeyOp, Op, Output, Platform, Req, Step,
    Store, Task, UserCore,
};
use crate::error::{AppErrorData, Error};
use crate::http::{HttpRequest, HttpResponse, JSON_TYPE};
use crate::json::Json;
#[allow(unused_imports)]
use crate::prelude::*;
use core::cell::{Cell, RefCell};
use js_sys::{Object, Promise, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

// SAFETY: wasm32-unknown-unknown without the atomics feature has exactly one thread.
#[global_allocator]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_name = fetch)]
    fn js_fetch(url: &str, init: &Object) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, getter)]
    fn status(this: &FetchResponse) -> u16;
    type FetchResponse;

    /// A JS function, called as `f.call(target, a, b)`. Every JS method the SDK calls (storage,
    /// `response.text()`, `headers.get()`) goes through this one import: each import costs glue.
    type Method;
    #[wasm_bindgen(method, catch, js_name = call)]
    fn call(this: &Method, target: &JsValue, a: &JsValue, b: &JsValue) -> Result<JsValue, JsValue>;
    /// `f.bind(null, id, kind)`: the [`step`] callback of one task.
    #[wasm_bindgen(method, js_name = bind)]
    fn bind(this: &Method, target: &JsValue, id: u32, kind: u32) -> JsValue;

    /// A promise (`fetch`'s, `response.text()`'s, a refresh's).
    type Thenable;
    #[wasm_bindgen(method, js_name = then)]
    fn then_with(this: &Thenable, fulfilled: &JsValue, rejected: &JsValue) -> JsValue;
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

// ---- the driver: tasks advanced by `fetch` promises ------------------------------------------------

/// The wasm build's [`Platform`]: JSON values and errors are JS values, a refresh in flight is a
/// `Promise`.
pub struct Js;

impl Platform for Js {
    type Json = JsValue;
    type Error = JsValue;
    type Pending = JsValue;
}

/// A task in progress, and the status line of the response whose body is being read.
struct Running {
    app: Rc<Shared>,
    task: Task<Js>,
    status: u16,
    status_text: String,
}

/// Every task in progress; a task's id is its index. A slot is `None` when free, `Some(None)` while
/// its task runs (it leaves the table then), `Some(Some(_))` while the task waits for a promise.
/// (A plain static: wasm32 without atomics has one thread.)
struct Tasks(RefCell<Vec<Option<Option<Running>>>>);
// SAFETY: wasm32-unknown-unknown without the atomics feature has exactly one thread.
unsafe impl Sync for Tasks {}
static TASKS: Tasks = Tasks(RefCell::new(Vec::new()));

/// What a `__step` call brings: the `fetch` response, the response body text, a failure (rejected
/// `fetch`, body read or refresh), or a finished refresh.
const RESPONSE: u32 = 0;
const TEXT: u32 = 1;
const FAILED: u32 = 2;
const REFRESHED: u32 = 3;

/// Starts `task`: the returned promise settles with the task's result.
fn run(app: &Rc<Shared>, task: Task<Js>) -> Promise {
    let running = Some(Some(Running {
        app: app.clone(),
        task,
        status: 0,
        status_text: String::new(),
    }));
    let id = {
        let mut tasks = TASKS.0.borrow_mut();
        match tasks.iter().position(Option::is_none) {
            Some(free) => {
                tasks[free] = running;
                free
            }
            None => {
                tasks.push(running);
                tasks.len() - 1
            }
        }
    };
    match advance(id as u32, Input::Start) {
        Ok(value) => Promise::resolve(&value),
        Err(error) => Promise::reject(&error),
    }
}

/// Continues task `id` when a promise it waited for settles (`kind`: what `value` is). Returns the
/// next promise of the chain, or the task's result; throws its error. Called from JS only, through
/// the functions [`then`] binds.
#[wasm_bindgen(js_name = "__step")]
pub fn step(id: u32, kind: u32, value: JsValue) -> Result<JsValue, JsValue> {
    let input = match kind {
        RESPONSE => {
            let response: FetchResponse = value.unchecked_into();
            let status_text = get(&response, "statusText").and_then(|t| t.as_string());
            let status = response.status();
            let headers = get(&response, "headers").unwrap_or(JsValue::UNDEFINED);
            let none = JsValue::UNDEFINED;
            let content_type =
                call_method(&headers, "get", &JsValue::from_str("content-type"), &none)?;
            if content_type
                .as_string()
                .is_some_and(|t| t.starts_with(JSON_TYPE))
            {
                // Read the body first; the status waits in the task.
                with_task(id, |r| {
                    r.status = status;
                    r.status_text = status_text.unwrap_or_default();
                });
                let text = call_method(&response, "text", &none, &none)?;
                return Ok(then(&text, id, TEXT));
            }
            Input::Response(HttpResponse {
                status,
                status_text: status_text.unwrap_or_default(),
                body: None,
            })
        }
        TEXT => {
            let (status, status_text) =
                with_task(id, |r| (r.status, core::mem::take(&mut r.status_text)));
            let body = value
                .as_string()
                .filter(|t| !t.is_empty())
                .and_then(|t| JsValue::parse(&t));
            Input::Response(HttpResponse {
                status,
                status_text,
                body,
            })
        }
        REFRESHED => Input::Refreshed,
        _ => Input::Failed(value),
    };
    advance(id, input)
}

fn with_task<R>(id: u32, f: impl FnOnce(&mut Running) -> R) -> R {
    let mut tasks = TASKS.0.borrow_mut();
    match tasks
        .get_mut(id as usize)
        .and_then(|slot| slot.as_mut()?.as_mut())
    {
        Some(running) => f(running),
        None => unreachable_task(),
    }
}

#[cold]
fn unreachable_task() -> ! {
    // Only `run` creates ids, and only a finished task's id is reused.
    core::arch::wasm32::unreachable()
}

/// Feeds `input` to task `id` and acts on its next step, until it waits for a promise or finishes.
fn advance(id: u32, mut input: Input<Js>) -> Result<JsValue, JsValue> {
    // The task leaves the table while it runs: storage callbacks may start other tasks.
    let Some(mut running) = TASKS
        .0
        .borrow_mut()
        .get_mut(id as usize)
        .and_then(|slot| slot.as_mut()?.take())
    else {
        unreachable_task()
    };
    loop {
        let step = running.app.core.step(&mut running.task, input);
        let wait = match step {
            Step::Send(request) => match fetch(&request) {
                Ok(promise) => then(&promise, id, RESPONSE),
                Err(error) => {
                    input = Input::Failed(error);
                    continue;
                }
            },
            Step::Refresh(user) => then(&refreshing(&running.app, &user), id, REFRESHED),
            Step::Done(result) => {
                free(id);
                return match result {
                    Ok(output) => Ok(running.app.output(running.task.op(), output)),
                    Err(error) => Err(to_js(error)),
                };
            }
        };
        if let Some(slot) = TASKS.0.borrow_mut().get_mut(id as usize) {
            *slot = Some(Some(running));
        }
        return Ok(wait);
    }
}

fn free(id: u32) {
    if let Some(slot) = TASKS.0.borrow_mut().get_mut(id as usize) {
        *slot = None;
    }
}

/// `promise.then(step(id, kind, value), step(id, FAILED, error))`, with `step` the `__step` export
/// (bound to the task id and kind).
fn then(promise: &JsValue, id: u32, kind: u32) -> JsValue {
    let step: Method = STEP.0.take().unwrap_or(JsValue::UNDEFINED).unchecked_into();
    let next = promise.unchecked_ref::<Thenable>().then_with(
        &step.bind(&JsValue::NULL, id, kind),
        &step.bind(&JsValue::NULL, id, FAILED),
    );
    STEP.0.set(Some(step.into()));
    next
}

/// The user's refresh in flight, or a new one (an [`Op::Refresh`] task, which clears itself from
/// the user when done). Concurrent callers all wait for this one promise.
fn refreshing(app: &Rc<Shared>, user: &CoreUser) -> JsValue {
    if let Some(pending) = user.refreshing() {
        return pending;
    }
    // The refresh task's first step is always a request, so it cannot have finished (and cleared
    // itself) before it is registered here.
    let pending: JsValue = run(app, Task::new(Op::Refresh, Some(user.clone()))).into();
    user.set_refreshing(pending.clone());
    pending
}

/// Calls the global `fetch` (browsers, workers, Node ≥ 18).
fn fetch(request: &HttpRequest) -> Result<JsValue, JsValue> {
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
    js_fetch(&request.url, &init)
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

/// A JS value the package entry points hand over once. (A plain static rather than `thread_local!`:
/// wasm32 without atomics has one thread, and this avoids the thread-local access checks.)
struct Global(Cell<Option<JsValue>>);
// SAFETY: wasm32-unknown-unknown without the atomics feature has exactly one thread.
unsafe impl Sync for Global {}
/// The package's `AppError` class.
static ERROR_CLASS: Global = Global(Cell::new(None));
/// The JS function of [`step`] (the export as wasm-bindgen's glue wraps it).
static STEP: Global = Global(Cell::new(None));

/// Called by the package entry points once the module is instantiated, with the package's
/// `AppError` class (so that errors from the server are `instanceof AppError`) and this module's
/// `__step` export, which the promises of running tasks call back.
#[wasm_bindgen(js_name = "__init")]
pub fn init(error_class: JsValue, step: JsValue) {
    ERROR_CLASS.0.set(Some(error_class));
    STEP.0.set(Some(step));
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

fn rejected(error: JsValue) -> Promise {
    Promise::reject(&error)
}

// ---- App ----------------------------------------------------------------------------------------

type Core = AppCore<Js, JsStore>;
type CoreUser = Rc<UserCore<Js>>;

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

    /// A task's result as JS value: the `User` object, the response body (`null` from `create` and
    /// `[]` from `fetchAll` without one), or `undefined`.
    fn output(self: &Rc<Self>, op: Op, output: Output<Js>) -> JsValue {
        match output {
            Output::User(user) => self.handle(&user),
            Output::Json(Some(body)) => body,
            Output::Json(None) if op == Op::Call(Req::List) => js_sys::Array::new().into(),
            Output::Json(None) if op == Op::Call(Req::Create) => JsValue::NULL,
            _ => JsValue::UNDEFINED,
        }
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
            core: AppCore::new(config, store),
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
            Task::log_in(&CoreCredentials { provider, payload }),
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
        run(
            &self.shared,
            Task::new(Op::RemoveUser, self.shared.user_of(&user)),
        )
    }

    #[wasm_bindgen(js_name = deleteUser)]
    pub fn delete_user(&self, user: JsValue) -> Promise {
        run(
            &self.shared,
            Task::new(Op::DeleteUser, self.shared.user_of(&user)),
        )
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
        run(&self.shared, Task::register(&email, &password))
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

impl User {
    fn call(&self, op: Op) -> Promise {
        run(&self.app, Task::new(op, Some(self.user.clone())))
    }
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
        self.call(Op::LogOut)
    }

    #[wasm_bindgen(js_name = refreshAccessToken)]
    pub fn refresh_access_token(&self) -> Promise {
        refreshing(&self.app, &self.user).unchecked_into()
    }

    #[wasm_bindgen(js_name = refreshProfile)]
    pub fn refresh_profile(&self) -> Promise {
        self.call(Op::Call(Req::Profile))
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
        run(&self.app, Task::key(&self.user, op, &id))
    }
}

#[wasm_bindgen]
impl ApiKeyAuth {
    pub fn create(&self, name: JsValue) -> Promise {
        let Some(name) = name.as_string() else {
            return rejected(type_error("Expected an API key name (string)"));
        };
        run(&self.app, Task::create_key(&self.user, &name))
    }

    pub fn fetch(&self, id: JsValue) -> Promise {
        self.op(KeyOp::Fetch, id)
    }

    #[wasm_bindgen(js_name = fetchAll)]
    pub fn fetch_all(&self) -> Promise {
        run(
            &self.app,
            Task::new(Op::Call(Req::List), Some(self.user.clone())),
        )
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
