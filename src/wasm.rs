//! The `#[wasm_bindgen]` layer: realm-web 2.0.1's JS surface over the pure-Rust core.
//!
//! Size rules (issue 3, toolchain.md §7): no serde, no gloo-net (it would cost ~2.5 KB gz for a
//! wrapper over one `fetch` call we can bind ourselves), JSON parsed and written by JS, no futures
//! (tasks are driven by promise chains), no wasm-bindgen classes (plain JS objects with bound
//! methods), few imports. Nothing here holds a borrow across a call into JS that could re-enter.
use crate::client::{
    AppCore, Config, Credentials as CoreCredentials, Input, KeyOp, Op, Output, Platform, Req, Step,
    Store, Task, UserCore,
};
use crate::error::{AppErrorData, Error};
use crate::http::{HttpRequest, HttpResponse, JSON_TYPE};
use crate::json::Json;
#[allow(unused_imports)]
use crate::prelude::*;
use crate::slot::Slot;
use core::cell::RefCell;
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
    /// `f.bind(null, kind, index)`: a [`dispatch`] callback.
    #[wasm_bindgen(method, js_name = bind)]
    fn bind(this: &Method, target: &JsValue, kind: u32, index: u32) -> JsValue;

    #[wasm_bindgen(catch, js_namespace = Reflect)]
    fn construct(target: &JsValue, args: &JsValue) -> Result<JsValue, JsValue>;

    /// `Reflect.set` without an exception handler: it only throws for targets that are not objects,
    /// and the SDK only sets properties of objects.
    #[wasm_bindgen(js_namespace = Reflect, js_name = set)]
    fn reflect_set(target: &JsValue, key: &JsValue, value: &JsValue) -> bool;

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
        // `Reflect.get` throws (an `Err` here) for anything but objects.
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
    fn object_text(pairs: &[(&str, &str)]) -> String {
        let object: JsValue = Object::new().into();
        for (name, value) in pairs {
            set(&object, name, &JsValue::from_str(value));
        }
        object.stringify().unwrap_or_default()
    }
    fn array_text(items: &[&str]) -> String {
        let array = JsValue::parse("[]").unwrap_or(JsValue::UNDEFINED);
        for (i, item) in items.iter().enumerate() {
            reflect_set(&array, &JsValue::from(i as u32), &JsValue::from_str(item));
        }
        array.stringify().unwrap_or_default()
    }
    fn parse_strings(text: &str) -> Option<Vec<String>> {
        // Items until the first missing index; a non-string item (or no array) is `None`.
        let array = JsValue::parse(text)?;
        let mut items = Vec::new();
        while let Ok(item) = Reflect::get(&array, &JsValue::from(items.len() as u32)) {
            if item == JsValue::UNDEFINED {
                return Some(items);
            }
            items.push(item.as_string()?);
        }
        None
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
    /// The response declared `Content-Type: application/json…`.
    json: bool,
}

/// Every task in progress; a task's id is its index. A slot is `None` when free, `Some(None)` while
/// its task runs (it leaves the table then), `Some(Some(_))` while the task waits for a promise.
/// (A plain static: wasm32 without atomics has one thread.)
struct Tasks(RefCell<Vec<Option<Option<Running>>>>);
// SAFETY: wasm32-unknown-unknown without the atomics feature has exactly one thread.
unsafe impl Sync for Tasks {}
static TASKS: Tasks = Tasks(RefCell::new(Vec::new()));

/// What a task step (see [`dispatch`]) brings: the `fetch` response, the response body text, a
/// failure (rejected `fetch`, body read or refresh), or a finished refresh.
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
        json: false,
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
        Ok(value) => settled("resolve", value),
        Err(error) => settled("reject", error),
    }
}

/// Continues task `id` when a promise it waited for settles (`kind`: what `value` is). Returns the
/// next promise of the chain, or the task's result; throws its error. Reached through [`dispatch`]
/// from the functions [`then`] binds.
fn step(id: u32, kind: u32, value: JsValue) -> Result<JsValue, JsValue> {
    let input = match kind {
        RESPONSE => {
            // The status line waits in the task while the body is read.
            let response: FetchResponse = value.unchecked_into();
            let status_text = get(&response, "statusText").and_then(|t| t.as_string());
            let status = response.status();
            let headers = get(&response, "headers").unwrap_or(JsValue::UNDEFINED);
            let none = JsValue::UNDEFINED;
            let json = call_method(&headers, "get", &JsValue::from_str("content-type"), &none)
                .ok()
                .and_then(|t| t.as_string())
                .is_some_and(|t| t.starts_with(JSON_TYPE));
            with_task(id, |r| {
                r.status = status;
                r.status_text = status_text.unwrap_or_default();
                r.json = json;
            });
            match call_method(&response, "text", &none, &none) {
                Ok(text) => return Ok(then(&text, id, TEXT)),
                Err(error) => Input::Failed(error),
            }
        }
        TEXT => {
            let (status, status_text, json) = with_task(id, |r| {
                (r.status, core::mem::take(&mut r.status_text), r.json)
            });
            // Only a JSON response's (non-empty, well-formed) body counts.
            let body = value
                .as_string()
                .filter(|t| json && !t.is_empty())
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
        running.app.sync();
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

/// `promise.then(__dispatch(kind, id, value), __dispatch(FAILED, id, error))`.
fn then(promise: &JsValue, id: u32, kind: u32) -> JsValue {
    promise
        .unchecked_ref::<Thenable>()
        .then_with(&bound(kind, id), &bound(FAILED, id))
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

/// A JS object with three storage methods: `localStorage` (`getItem`/`setItem`/`removeItem`) or the
/// app's own storage (`get`/`set`/`remove`); or, in memory (no method names), a plain object whose
/// properties are the entries. Failures (e.g. a full `localStorage`) are ignored, like realm-web
/// does.
struct JsStore(JsValue, Option<[&'static str; 3]>);

const WEB_STORAGE: [&str; 3] = ["getItem", "setItem", "removeItem"];
const CUSTOM_STORAGE: [&str; 3] = ["get", "set", "remove"];

impl JsStore {
    /// Calls the store's method `which` (0: get, 1: set, 2: remove); `value` undefined for get and
    /// remove. In memory: reads, writes or clears (sets `undefined`) the property `key`.
    fn op(&self, which: usize, key: &str, value: &JsValue) -> Option<String> {
        let key = JsValue::from_str(key);
        let result = match self.1 {
            Some(names) => call_method(&self.0, names[which], &key, value),
            None if which == 0 => Reflect::get(&self.0, &key),
            None => Ok(JsValue::from(reflect_set(&self.0, &key, value))),
        };
        result.ok()?.as_string()
    }
}

impl Store for JsStore {
    fn get(&self, key: &str) -> Option<String> {
        self.op(0, key, &JsValue::UNDEFINED)
    }
    fn set(&self, key: &str, value: &str) {
        self.op(1, key, &JsValue::from_str(value));
    }
    fn remove(&self, key: &str) {
        self.op(2, key, &JsValue::UNDEFINED);
    }
}

/// `localStorage` in browsers (not in Node, not in workers, not when access throws), else memory.
fn default_store() -> JsStore {
    let global = GLOBAL.get();
    let node = get(&global, "process")
        .and_then(|p| get(&p, "versions"))
        .and_then(|v| get(&v, "node"))
        .is_some_and(|n| n.as_string().is_some());
    if !node {
        if let Some(ls) = get(&global, "localStorage") {
            // Probe: private modes / sandboxed frames may throw on use.
            let probe = JsValue::from_str("appkeys:probe");
            if call_method(&ls, WEB_STORAGE[0], &probe, &JsValue::UNDEFINED).is_ok() {
                return JsStore(ls, Some(WEB_STORAGE));
            }
        }
    }
    JsStore(Object::new().into(), None)
}

// ---- helpers ------------------------------------------------------------------------------------

/// `target[key]` unless that is `undefined` or `null` (or `target` is not an object).
fn get(target: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(target, &JsValue::from_str(key))
        .ok()
        .filter(|v| *v != JsValue::UNDEFINED && *v != JsValue::NULL)
}

fn set(target: &JsValue, key: &str, value: &JsValue) {
    reflect_set(target, &JsValue::from_str(key), value);
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
    new_error("TypeError", message)
}

/// `new globalThis[class](message)` (through `Reflect.construct`, which the module imports anyway).
fn new_error(class: &str, message: &str) -> JsValue {
    let class = get(&GLOBAL.get(), class).unwrap_or(JsValue::UNDEFINED);
    construct(&class, &arguments(&[JsValue::from_str(message)])).unwrap_or_else(|e| e)
}

/// An array-like `{ 0: …, 1: …, length }` of `values` (no `Array` import needed).
fn arguments(values: &[JsValue]) -> JsValue {
    let args: JsValue = Object::new().into();
    for (i, value) in ["0", "1", "2", "3", "4", "5", "6"].iter().zip(values) {
        set(&args, i, value);
    }
    set(&args, "length", &JsValue::from(values.len() as u32));
    args
}

/// `new AppError(method, url, statusCode, statusText, error, errorCode, link)`: the package's class
/// builds realm-web's message from these.
fn app_error(data: &AppErrorData) -> JsValue {
    let values = [
        JsValue::from_str(data.method),
        JsValue::from_str(&data.url),
        JsValue::from(data.status_code),
        JsValue::from_str(&data.status_text),
        opt_str(&data.error),
        opt_str(&data.error_code),
        opt_str(&data.link),
    ];
    // Only fails when the entry point did not register the class (then: that TypeError).
    construct(&ERROR_CLASS.get(), &arguments(&values)).unwrap_or_else(|e| e)
}

fn to_js(error: Error<JsValue>) -> JsValue {
    match error {
        Error::App(data) => app_error(&data),
        Error::Transport(e) => e,
        Error::Type(m) => type_error(m),
        Error::Other(m) => new_error("Error", m),
    }
}

fn rejected(error: JsValue) -> Promise {
    settled("reject", error)
}

/// `Promise.resolve(value)` / `Promise.reject(value)` (through the `call` import).
fn settled(how: &str, value: JsValue) -> Promise {
    let promise = get(&GLOBAL.get(), "Promise").unwrap_or(JsValue::UNDEFINED);
    call_method(&promise, how, &value, &JsValue::UNDEFINED)
        .unwrap_or_else(|e| e)
        .unchecked_into()
}

/// A JS value handed over once by [`init`]. (A plain static rather than `thread_local!`: wasm32
/// without atomics has one thread, and this avoids the thread-local access checks.)
struct Global(Slot<Option<JsValue>>);
// SAFETY: wasm32-unknown-unknown without the atomics feature has exactly one thread.
unsafe impl Sync for Global {}

impl Global {
    const fn new() -> Self {
        Global(Slot::new(None))
    }
    fn get(&self) -> JsValue {
        self.0.get().unwrap_or(JsValue::UNDEFINED)
    }
}

/// The package's `AppError` class.
static ERROR_CLASS: Global = Global::new();
/// The JS function of [`dispatch`] (the export as wasm-bindgen's glue wraps it).
static DISPATCH: Global = Global::new();
/// `globalThis` (handed over rather than looked up: `js_sys::global()` costs a lazily initialised
/// thread-local with function pointers, which keeps a whole function table alive in the wasm).
static GLOBAL: Global = Global::new();
/// `App.prototype` and `User.prototype`, for `instanceof`.
static APP_PROTO: Global = Global::new();
static USER_PROTO: Global = Global::new();

// ---- the JS objects -----------------------------------------------------------------------------
//
// The module exports two functions that do the work, `__init` and `__dispatch`, and three that
// give the SDK's objects their identity: `App` (constructing an app object: `new App(config)`
// returns it), `User` and `Credentials` (not callable). Every SDK object is a plain JS object made
// here, with the right prototype; its fields are data properties, kept up to date after every task
// step, and its methods are `__dispatch` bound to an operation and an app or user. One export
// instead of one per method and getter, and no wasm-bindgen classes: that is most of the size
// budget of issue 3 (each export and class costs wasm and JS glue).

/// The task steps of [`dispatch`] (below these) are [`RESPONSE`] … [`REFRESHED`]; then the
/// methods. User methods (index: the user's handle):
const LOG_OUT: u32 = 4;
const REFRESH_TOKEN: u32 = 5;
const REFRESH_PROFILE: u32 = 6;
const CREATE: u32 = 7;
const FETCH: u32 = 8;
const FETCH_ALL: u32 = 9;
const ENABLE: u32 = 10;
const DISABLE: u32 = 11;
const DELETE: u32 = 12;
/// App methods (index: the app):
const REGISTER: u32 = 13;
const LOG_IN: u32 = 14;
const SWITCH_USER: u32 = 15;
const REMOVE_USER: u32 = 16;
const DELETE_USER: u32 = 17;
/// `Credentials` statics:
const EMAIL_PASSWORD: u32 = 18;
const ANONYMOUS: u32 = 19;
const API_KEY: u32 = 20;

/// Called by the package entry points once the module is instantiated, with the package's
/// `AppError` class (so that errors from the server are `instanceof AppError`), `globalThis`, and
/// the module's exports `__dispatch`, `App`, `User` and `Credentials`. Gives `Credentials` its
/// static methods.
#[wasm_bindgen(js_name = "__init")]
pub fn init(
    error_class: JsValue,
    global: JsValue,
    dispatch: JsValue,
    app: JsValue,
    user: JsValue,
    credentials: JsValue,
) {
    ERROR_CLASS.0.set(Some(error_class));
    GLOBAL.0.set(Some(global));
    DISPATCH.0.set(Some(dispatch));
    APP_PROTO.0.set(get(&app, "prototype"));
    USER_PROTO.0.set(get(&user, "prototype"));
    set(&credentials, "emailPassword", &bound(EMAIL_PASSWORD, 0));
    set(&credentials, "anonymous", &bound(ANONYMOUS, 0));
    set(&credentials, "apiKey", &bound(API_KEY, 0));
}

/// The module's single callback: a task step (`kind` < [`LOG_OUT`], `index`: the task) or a
/// bound method (`index`: the user's handle or the app). Async methods always return a promise
/// (bad arguments reject it with a `TypeError` before any request is sent); `switchUser` and the
/// `Credentials` statics throw.
#[wasm_bindgen(js_name = "__dispatch")]
pub fn dispatch(kind: u32, index: u32, a: JsValue, b: JsValue) -> Result<JsValue, JsValue> {
    if kind < LOG_OUT {
        return step(index, kind, a);
    }
    if kind >= EMAIL_PASSWORD {
        return credentials(kind, &a, &b);
    }
    let promise = if kind >= REGISTER {
        let Some(app) = APPS.0.borrow().get(index as usize).cloned() else {
            return Err(type_error(crate::client::UNKNOWN_USER));
        };
        match kind {
            REGISTER => {
                let email = get(&a, "email").and_then(|v| v.as_string());
                let password = get(&a, "password").and_then(|v| v.as_string());
                match (email, password) {
                    (Some(email), Some(password)) => run(&app, Task::register(&email, &password)),
                    _ => rejected(type_error("Expected { email, password } strings")),
                }
            }
            LOG_IN => log_in(&app, &a),
            SWITCH_USER => {
                let user = app
                    .user_of(&a)
                    .ok_or_else(|| new_error("Error", crate::client::UNKNOWN_USER))?;
                app.core.switch_user(&user).map_err(to_js)?;
                app.sync();
                return Ok(JsValue::UNDEFINED);
            }
            REMOVE_USER => run(&app, Task::new(Op::RemoveUser, app.user_of(&a))),
            _ => run(&app, Task::new(Op::DeleteUser, app.user_of(&a))),
        }
    } else {
        let handle = HANDLES.0.borrow().get(index as usize).cloned();
        let Some(Handle { app, user, .. }) = handle else {
            return Ok(rejected(type_error(crate::client::UNKNOWN_USER)).into());
        };
        let for_user = |op| Task::new(op, Some(user.clone()));
        let key_op = match kind {
            FETCH => Some(KeyOp::Fetch),
            ENABLE => Some(KeyOp::Enable),
            DISABLE => Some(KeyOp::Disable),
            DELETE => Some(KeyOp::Delete),
            _ => None,
        };
        match (kind, key_op, a.as_string()) {
            (REFRESH_TOKEN, ..) => refreshing(&app, &user).unchecked_into(),
            (LOG_OUT, ..) => run(&app, for_user(Op::LogOut)),
            (REFRESH_PROFILE, ..) => run(&app, for_user(Op::Call(Req::Profile))),
            (FETCH_ALL, ..) => run(&app, for_user(Op::Call(Req::List))),
            (CREATE, _, Some(name)) => run(&app, Task::create_key(&user, &name)),
            (CREATE, ..) => rejected(type_error("Expected an API key name (string)")),
            (_, Some(op), Some(id)) if appkeys_protocol::is_object_id(&id) => {
                run(&app, Task::key(&user, op, &id))
            }
            _ => rejected(type_error(crate::client::BAD_KEY_ID)),
        }
    };
    Ok(promise.into())
}

/// `__dispatch.bind(null, kind, index)`.
fn bound(kind: u32, index: u32) -> JsValue {
    DISPATCH
        .get()
        .unchecked_into::<Method>()
        .bind(&JsValue::NULL, kind, index)
}

/// A new object with `prototype`.
fn object(prototype: &Global) -> JsValue {
    let object = Object::new().into();
    set(&object, "__proto__", &prototype.get());
    object
}

/// A list that only grows, in a plain static (wasm32 without atomics has one thread).
struct Registry<T>(RefCell<Vec<T>>);
// SAFETY: wasm32-unknown-unknown without the atomics feature has exactly one thread.
unsafe impl<T> Sync for Registry<T> {}

/// Every app; its index is the one its methods are bound to. Apps live as long as the module, like
/// the users they hand out.
static APPS: Registry<Rc<Shared>> = Registry(RefCell::new(Vec::new()));

/// The JS object of each user handed out, so that the same user is always the same object; its
/// index is the one its methods are bound to.
#[derive(Clone)]
struct Handle {
    app: Rc<Shared>,
    user: CoreUser,
    js: JsValue,
}
static HANDLES: Registry<Handle> = Registry(RefCell::new(Vec::new()));

type Core = AppCore<Js, JsStore>;
type CoreUser = Rc<UserCore<Js>>;

/// An app: its core and its JS object.
struct Shared {
    core: Core,
    js: JsValue,
}

impl Shared {
    /// The JS `User` object of `user`, made on first use.
    fn handle(self: &Rc<Self>, user: &CoreUser) -> JsValue {
        let found = HANDLES
            .0
            .borrow()
            .iter()
            .find(|h| Rc::ptr_eq(&h.user, user))
            .map(|h| h.js.clone());
        if let Some(js) = found {
            return js;
        }
        let index = HANDLES.0.borrow().len() as u32;
        let js = object(&USER_PROTO);
        let keys: JsValue = Object::new().into();
        for (name, kind) in [
            ("create", CREATE),
            ("fetch", FETCH),
            ("fetchAll", FETCH_ALL),
            ("enable", ENABLE),
            ("disable", DISABLE),
            ("delete", DELETE),
        ] {
            set(&keys, name, &bound(kind, index));
        }
        set(&js, "apiKeys", &keys);
        // The name the seed's enable/disable/delete snippets use.
        set(&js, "apiKey", &keys);
        set(&js, "logOut", &bound(LOG_OUT, index));
        set(&js, "refreshAccessToken", &bound(REFRESH_TOKEN, index));
        set(&js, "refreshProfile", &bound(REFRESH_PROFILE, index));
        set(&js, "id", &JsValue::from_str(user.id()));
        set(
            &js,
            "providerType",
            &JsValue::from_str(user.provider_type()),
        );
        sync(&js, user);
        HANDLES.0.borrow_mut().push(Handle {
            app: self.clone(),
            user: user.clone(),
            js: js.clone(),
        });
        js
    }

    /// Brings the data properties of the app (`currentUser`, `allUsers`) and of its `User` objects
    /// up to date.
    fn sync(self: &Rc<Self>) {
        let current = self.core.current_user().map(|u| self.handle(&u));
        set(&self.js, "currentUser", &current.unwrap_or(JsValue::NULL));
        let all: JsValue = Object::new().into();
        for u in self.core.users() {
            set(&all, u.id(), &self.handle(&u));
        }
        set(&self.js, "allUsers", &all);
        for h in HANDLES.0.borrow().iter() {
            if Rc::ptr_eq(&h.app, self) {
                sync(&h.js, &h.user);
            }
        }
    }

    /// A task's result as JS value: the `User` object, the response body (`null` from `create` and
    /// `[]` from `fetchAll` without one), or `undefined`.
    fn output(self: &Rc<Self>, op: Op, output: Output<Js>) -> JsValue {
        match output {
            Output::User(user) => self.handle(&user),
            Output::Json(Some(body)) => body,
            Output::Json(None) if op == Op::Call(Req::List) => {
                JsValue::parse("[]").unwrap_or(JsValue::NULL)
            }
            Output::Json(None) if op == Op::Call(Req::Create) => JsValue::NULL,
            _ => JsValue::UNDEFINED,
        }
    }

    /// The core user behind a JS `User` object this app handed out (identity, like realm-web).
    fn user_of(self: &Rc<Self>, value: &JsValue) -> Option<CoreUser> {
        let found = HANDLES
            .0
            .borrow()
            .iter()
            .find(|h| h.js == *value && Rc::ptr_eq(&h.app, self))
            .map(|h| h.user.clone());
        found.filter(|u| self.core.users().iter().any(|k| Rc::ptr_eq(k, u)))
    }
}

/// The user's state as data properties: `accessToken`, `refreshToken`, `deviceId` (`null` when
/// none), `state`, `isLoggedIn`, `profile` (the profile's `data`, `undefined` until fetched).
fn sync(js: &JsValue, user: &CoreUser) {
    set(js, "accessToken", &or_null(user.access_token()));
    set(js, "refreshToken", &or_null(user.refresh_token()));
    set(js, "deviceId", &or_null(user.device_id()));
    let state = user.state();
    set(js, "state", &JsValue::from_str(state.as_str()));
    set(
        js,
        "isLoggedIn",
        &JsValue::from_bool(state == crate::client::UserState::Active),
    );
    let profile = user
        .profile()
        .map(|p| p.field("data").unwrap_or_else(|| Object::new().into()));
    set(js, "profile", &profile.unwrap_or(JsValue::UNDEFINED));
}

/// `new App(id)` or `new App({ id, baseUrl?, storage?, skipLocationRequest? })`: the app object
/// (which `new` returns).
#[wasm_bindgen(js_name = App)]
pub fn new_app(config: JsValue) -> Result<JsValue, JsValue> {
    let (id, base_url, skip, storage) = if let Some(id) = config.as_string() {
        (id, None, false, None)
    } else {
        let id = get(&config, "id")
            .and_then(|v| v.as_string())
            .ok_or_else(|| type_error("Expected an app id"))?;
        let base_url = match get(&config, "baseUrl") {
            None => None,
            Some(v) => Some(
                v.as_string()
                    .ok_or_else(|| type_error("Expected 'baseUrl' to be a string"))?,
            ),
        };
        let skip = get(&config, "skipLocationRequest") == Some(JsValue::TRUE);
        let storage = match get(&config, "storage") {
            None => None,
            Some(s) => {
                let ok = CUSTOM_STORAGE.iter().all(|m| get(&s, m).is_some());
                if !ok {
                    return Err(type_error(
                        "Expected 'storage' with get, set and remove methods",
                    ));
                }
                Some(JsStore(s, Some(CUSTOM_STORAGE)))
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
    let js = object(&APP_PROTO);
    let app = Rc::new(Shared {
        core: AppCore::new(config, store),
        js: js.clone(),
    });
    let index = {
        let mut apps = APPS.0.borrow_mut();
        apps.push(app.clone());
        apps.len() as u32 - 1
    };
    set(&js, "id", &JsValue::from_str(app.core.id()));
    let email_password_auth: JsValue = Object::new().into();
    set(
        &email_password_auth,
        "registerUser",
        &bound(REGISTER, index),
    );
    set(&js, "emailPasswordAuth", &email_password_auth);
    set(&js, "logIn", &bound(LOG_IN, index));
    set(&js, "switchUser", &bound(SWITCH_USER, index));
    set(&js, "removeUser", &bound(REMOVE_USER, index));
    set(&js, "deleteUser", &bound(DELETE_USER, index));
    app.sync();
    Ok(js)
}

/// `app.logIn(credentials)`.
fn log_in(app: &Rc<Shared>, credentials: &JsValue) -> Promise {
    let provider = get(credentials, "providerType").and_then(|p| p.as_string());
    let payload = get(credentials, "payload").and_then(|p| p.stringify());
    let (Some(provider), Some(payload)) = (provider, payload) else {
        return rejected(type_error("Expected credentials from Credentials.*()"));
    };
    let provider = match provider.as_str() {
        "local-userpass" => "local-userpass",
        "anon-user" => "anon-user",
        "api-key" => "api-key",
        _ => return rejected(type_error("Unsupported credentials provider")),
    };
    run(app, Task::log_in(&CoreCredentials { provider, payload }))
}

/// `Credentials.emailPassword(email, password)`, `Credentials.anonymous()`,
/// `Credentials.apiKey(key)`: `{ providerType, payload }` objects.
fn credentials(kind: u32, a: &JsValue, b: &JsValue) -> Result<JsValue, JsValue> {
    let (provider, fields, ok, message): (_, &[_], _, _) = match kind {
        EMAIL_PASSWORD => (
            "local-userpass",
            &[("username", a), ("password", b)],
            a.as_string().is_some() && b.as_string().is_some(),
            "Expected an email and a password (strings)",
        ),
        ANONYMOUS => ("anon-user", &[], true, ""),
        _ => (
            "api-key",
            &[("key", a)],
            a.as_string().is_some(),
            "Expected an API key (string)",
        ),
    };
    if !ok {
        return Err(type_error(message));
    }
    let payload: JsValue = Object::new().into();
    for (name, value) in fields {
        set(&payload, name, value);
    }
    let credentials: JsValue = Object::new().into();
    set(&credentials, "providerType", &JsValue::from_str(provider));
    set(&credentials, "payload", &payload);
    Ok(credentials)
}

/// `User`: the prototype of users (`user instanceof User`); users come from `app.logIn()`.
#[wasm_bindgen(js_name = User)]
pub fn user_class() -> Result<(), JsValue> {
    Err(type_error("Users are made by app.logIn(), not by User()"))
}

/// `Credentials`: holds the static methods `emailPassword`, `anonymous`, `apiKey`.
#[wasm_bindgen(js_name = Credentials)]
pub fn credentials_class() -> Result<(), JsValue> {
    Err(type_error("Credentials has static methods only"))
}

/// The npm package's wasm has no std (see Cargo.toml): a panic (a bug) traps, which JS sees as a
/// `RuntimeError: unreachable`. Nothing is formatted, so no formatting code ends up in the binary.
#[cfg(not(feature = "std"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}
