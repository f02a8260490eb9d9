//! The OAuth 2.0 web redirect flow in browsers, as realm-web 2.0.1 runs it: `logIn` with
//! `Credentials.google({ redirectUrl })`, `.apple(url)` or `.facebook(url)` opens a login window on the
//! server's `…/login?redirect=…&state=…&device=…`; the server sends it through the provider to the app's
//! `redirectUrl`, whose `handleAuthRedirect()` puts the `_baas_*` result in `localStorage` under
//! realm-web's key (`realm-web:oauth2:state(STATE):result`, so a landing page of either SDK works); the
//! opener polls for it, closes the window and logs the user in with the tokens.
use super::app::{CoreUser, Shared};
use super::to_js;
use crate::app::REDIRECT_NEEDS_BROWSER;
use appkeys_protocol::Provider;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::{Storage, Window};

/// How often the opener looks for the result and whether the window was closed (realm-web: 100 ms).
const POLL_MS: i32 = 100;

/// The `_baas_*` hash parameters and the names realm-web stores them under.
const RESULT_NAMES: [(&str, &str); 5] = [
    ("_baas_client_app_id", "appId"),
    ("_baas_ua", "userAuth"),
    ("_baas_link", "link"),
    ("_baas_error", "error"),
    ("_baas_state", "state"),
];

fn error(message: &str) -> JsValue {
    js_sys::Error::new(message).into()
}

/// The browser's window and its `localStorage`, or the error of a place without them.
fn window_and_storage(outside: &str) -> Result<(Window, Storage), JsValue> {
    let window = web_sys::window().ok_or_else(|| error(outside))?;
    let storage = window
        .local_storage()
        .ok()
        .flatten()
        .ok_or_else(|| error("The OAuth 2.0 redirect flow needs localStorage"))?;
    Ok((window, storage))
}

fn result_key(state: &str) -> String {
    format!("realm-web:oauth2:state({state}):result")
}

/// Resolves after `ms` milliseconds.
async fn sleep(window: &Window, ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        // Scheduling a timer on a live window does not fail.
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// A random state of 12 lowercase letters (realm-web's shape; the server keeps its own secret state).
fn new_state() -> String {
    (0..12)
        .map(|_| char::from(b'a' + (js_sys::Math::random() * 26.0) as u8 % 26))
        .collect()
}

/// Runs the flow for `provider`, ending on the app page `redirect`.
pub(crate) async fn log_in(
    shared: &Rc<Shared>,
    provider: Provider,
    redirect: &str,
) -> Result<CoreUser, JsValue> {
    let (window, storage) = window_and_storage(REDIRECT_NEEDS_BROWSER)?;
    let state = new_state();
    let encode = |v: &str| String::from(js_sys::encode_uri_component(v));
    let base = shared
        .core
        .redirect_login_url(provider)
        .await
        .map_err(to_js)?;
    let mut url = format!("{base}?redirect={}&state={state}", encode(redirect));
    if let Some(device) = shared.core.device_id() {
        let info = js_sys::Object::new();
        js_sys::Reflect::set(&info, &"deviceId".into(), &device.into())?;
        let info = String::from(js_sys::JSON::stringify(&info)?);
        url = format!("{url}&device={}", encode(&window.btoa(&info)?));
    }
    let popup = window
        .open_with_url(&url)?
        .ok_or_else(|| error("The login window could not open (a pop-up blocker?)"))?;
    let key = result_key(&state);
    let stored = loop {
        sleep(&window, POLL_MS).await;
        if let Some(text) = storage.get_item(&key).ok().flatten() {
            let _ = storage.remove_item(&key);
            let _ = popup.close();
            break text;
        }
        if popup.closed().unwrap_or(true) {
            return Err(error("Window closed"));
        }
    };
    let result = js_sys::JSON::parse(&stored)
        .map_err(|_| error("Failed to read the OAuth 2.0 redirect result"))?;
    let field = |name: &str| {
        js_sys::Reflect::get(&result, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_string())
    };
    let Some(user_auth) = field("userAuth") else {
        let why = field("error").unwrap_or_else(|| "no tokens".to_owned());
        return Err(error(&format!("Failed to log in with {provider}: {why}")));
    };
    shared
        .core
        .log_in_with_auth(provider, &user_auth)
        .await
        .map_err(to_js)
}

/// Call on the page the login window lands on (the `redirectUrl`): hands the sign-in result to the app
/// page that opened the window. Outside a browser it throws, as realm-web's does; in a browser it never
/// throws (a page without a result only gets a console warning).
#[wasm_bindgen(js_name = handleAuthRedirect)]
pub fn handle_auth_redirect() -> Result<(), JsValue> {
    let (window, storage) =
        window_and_storage("Handling OAuth 2.0 redirects is not supported outside a browser")?;
    let hash = window.location().hash().unwrap_or_default();
    let result = js_sys::Object::new();
    let mut state = None;
    for pair in hash.trim_start_matches('#').split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some((_, field)) = RESULT_NAMES.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        let value = js_sys::decode_uri_component(value).unwrap_or_else(|_| value.into());
        if *field == "state" {
            state = value.as_string();
        }
        let _ = js_sys::Reflect::set(&result, &JsValue::from_str(field), &value);
    }
    match (state, js_sys::JSON::stringify(&result)) {
        (Some(state), Ok(text)) => {
            let _ = storage.set_item(&result_key(&state), &String::from(text));
        }
        _ => web_sys::console::warn_1(&"Failed to handle OAuth 2.0 redirect.".into()),
    }
    Ok(())
}
