//! Flows run by both wasm-bindgen test binaries (Node: `node.rs`, headless Chromium: `web.rs`)
//! against a real `appkeys-server` started by `scripts/test-wasm.sh`, whose URL is baked in at
//! compile time (`APPKEYS_TEST_URL`). They drive the JS-facing API through JS property access, so
//! what is tested is exactly what JavaScript callers see.
#![allow(dead_code)]

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

pub const APP_ID: &str = "appkeys-demo";
const PASSWORD: &str = "correct horse battery staple";

pub fn server_url() -> &'static str {
    match option_env!("APPKEYS_TEST_URL") {
        Some(url) => url,
        None => panic!(
            "APPKEYS_TEST_URL was not set when the tests were compiled: run scripts/test-wasm.sh"
        ),
    }
}

pub fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).expect("property access")
}

fn get_str(target: &JsValue, key: &str) -> Option<String> {
    get(target, key).as_string()
}

/// `target[method](...args)`: returns the (possibly thrown) result.
fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = get(target, method).dyn_into().expect("a method");
    f.apply(target, &args.iter().collect::<Array>())
}

/// `await target[method](...args)`.
pub async fn call_async(
    target: &JsValue,
    method: &str,
    args: &[JsValue],
) -> Result<JsValue, JsValue> {
    let promise = call(target, method, args)?;
    JsFuture::from(js_sys::Promise::from(promise)).await
}

fn unique_email() -> String {
    let n = (js_sys::Math::random() * 1e12) as u64;
    format!("wasm-{}-{n}@example.com", js_sys::Date::now() as u64)
}

pub fn new_app() -> JsValue {
    let config = Object::new();
    Reflect::set(&config, &"id".into(), &APP_ID.into()).unwrap();
    Reflect::set(&config, &"baseUrl".into(), &server_url().into()).unwrap();
    appkeys::wasm::App::new(config.into())
        .expect("new App")
        .into()
}

fn email_password(email: &str, password: &str) -> JsValue {
    appkeys::wasm::Credentials::email_password(email.into(), password.into())
        .unwrap()
        .into()
}

fn api_key(key: &str) -> JsValue {
    appkeys::wasm::Credentials::api_key(key.into())
        .unwrap()
        .into()
}

/// Registers a fresh user and logs in: (app, user, email).
pub async fn registered_user() -> (JsValue, JsValue, String) {
    let app = new_app();
    let email = unique_email();
    let details = object(&[("email", &email), ("password", PASSWORD)]);
    let auth = get(&app, "emailPasswordAuth");
    let r = call_async(&auth, "registerUser", &[details])
        .await
        .expect("registerUser");
    assert!(r.is_undefined());
    let user = call_async(&app, "logIn", &[email_password(&email, PASSWORD)])
        .await
        .expect("logIn");
    (app, user, email)
}

fn assert_app_error(e: &JsValue, status: u16, code: &str, method: &str, path_end: &str) {
    assert!(e.is_instance_of::<js_sys::Error>(), "a real Error: {e:?}");
    assert_eq!(get_str(e, "name").as_deref(), Some("AppError"));
    assert_eq!(
        get(e, "statusCode").as_f64(),
        Some(f64::from(status)),
        "{e:?}"
    );
    assert_eq!(get_str(e, "errorCode").as_deref(), Some(code), "{e:?}");
    assert_eq!(get_str(e, "method").as_deref(), Some(method));
    let url = get_str(e, "url").unwrap();
    assert!(url.ends_with(path_end), "{url}");
    let error = get_str(e, "error").expect("the server's error text");
    let status_text = get_str(e, "statusText").unwrap_or_default();
    let summary = if status_text.is_empty() {
        format!("status {status}")
    } else {
        format!("status {status} {status_text}")
    };
    assert_eq!(
        get_str(e, "message").unwrap(),
        format!("Request failed ({method} {url}): {error} ({summary})")
    );
}

pub async fn full_api_key_flow() {
    let (app, user, email) = registered_user().await;
    assert_eq!(
        get(&app, "currentUser"),
        user,
        "logIn resolves to app.currentUser (same object)"
    );
    assert_eq!(get(&app, "currentUser"), get(&app, "currentUser"));
    assert_eq!(get_str(&user, "state").as_deref(), Some("active"));
    assert_eq!(get(&user, "isLoggedIn").as_bool(), Some(true));
    assert_eq!(
        get_str(&user, "providerType").as_deref(),
        Some("local-userpass")
    );
    assert_eq!(get_str(&get(&user, "profile"), "email"), Some(email));
    assert!(get_str(&user, "accessToken").is_some());
    assert!(get_str(&user, "refreshToken").is_some());
    let keys = get(&user, "apiKeys");
    assert_eq!(keys, get(&user, "apiKey"), "user.apiKey is user.apiKeys");
    assert_eq!(keys, get(&user, "apiKeys"));

    let created = call_async(&keys, "create", &["apiKeyName".into()])
        .await
        .expect("create");
    let id = get_str(&created, "_id").expect("_id string");
    assert_eq!(id.len(), 24);
    assert!(get_str(&created, "key").is_some_and(|k| !k.is_empty()));
    assert_eq!(get_str(&created, "name").as_deref(), Some("apiKeyName"));
    assert_eq!(get(&created, "disabled").as_bool(), Some(false));

    let fetched = call_async(&keys, "fetch", &[id.as_str().into()])
        .await
        .expect("fetch");
    assert_eq!(get_str(&fetched, "_id").as_deref(), Some(id.as_str()));
    assert!(
        get(&fetched, "key").is_undefined(),
        "the secret only comes from create"
    );
    assert_eq!(get(&fetched, "disabled").as_bool(), Some(false));

    let r = call_async(&keys, "disable", &[id.as_str().into()])
        .await
        .expect("disable");
    assert!(r.is_undefined());
    let fetched = call_async(&keys, "fetch", &[id.as_str().into()])
        .await
        .unwrap();
    assert_eq!(get(&fetched, "disabled").as_bool(), Some(true));
    call_async(&keys, "enable", &[id.as_str().into()])
        .await
        .expect("enable");
    let all = call_async(&keys, "fetchAll", &[]).await.expect("fetchAll");
    assert!(Array::is_array(&all));
    let all = Array::from(&all);
    assert_eq!(all.length(), 1);
    assert_eq!(get(&all.get(0), "disabled").as_bool(), Some(false));

    let r = call_async(&keys, "delete", &[id.as_str().into()])
        .await
        .expect("delete");
    assert!(r.is_undefined());
    let all = call_async(&keys, "fetchAll", &[]).await.unwrap();
    assert_eq!(Array::from(&all).length(), 0);
    let e = call_async(&keys, "fetch", &[id.as_str().into()])
        .await
        .unwrap_err();
    assert_app_error(
        &e,
        404,
        "APIKeyNotFound",
        "GET",
        &format!("/auth/api_keys/{id}"),
    );
}

pub async fn api_key_login_is_the_same_user() {
    let (app, user, email) = registered_user().await;
    let keys = get(&user, "apiKeys");
    let created = call_async(&keys, "create", &["for-login".into()])
        .await
        .unwrap();
    let secret = get_str(&created, "key").unwrap();
    let creds = api_key(&secret);
    let same = call_async(&app, "logIn", &[creds])
        .await
        .expect("API key login");
    assert_eq!(get_str(&same, "id"), get_str(&user, "id"));
    assert_eq!(
        same, user,
        "realm-web dedupes users by id: the same User object"
    );
    let all_users = get(&app, "allUsers");
    assert_eq!(get(&all_users, &get_str(&user, "id").unwrap()), user);
    assert_eq!(
        Object::keys(all_users.unchecked_ref::<Object>()).get(0),
        get(&user, "id"),
        "most recent first"
    );

    // A second App (another process, say) logging in with the key gets the same user id.
    let other = new_app();
    let creds = api_key(&secret);
    let u = call_async(&other, "logIn", &[creds]).await.unwrap();
    assert_eq!(get_str(&u, "id"), get_str(&user, "id"));

    // The API-key login replaced the user's session (realm-web semantics), and API-key sessions may
    // not manage keys: log in with the password again, disable the key, and it no longer logs in.
    let back = call_async(&app, "logIn", &[email_password(&email, PASSWORD)])
        .await
        .unwrap();
    assert_eq!(back, user);
    let id = get_str(&created, "_id").unwrap();
    call_async(&keys, "disable", &[id.as_str().into()])
        .await
        .unwrap();
    let creds = api_key(&secret);
    let e = call_async(&new_app(), "logIn", &[creds]).await.unwrap_err();
    assert_eq!(get(&e, "statusCode").as_f64(), Some(401.0));
}

pub async fn errors_surface_status_and_code() {
    let (app, user, email) = registered_user().await;
    let keys = get(&user, "apiKeys");
    call_async(&keys, "create", &["dup".into()]).await.unwrap();
    let e = call_async(&keys, "create", &["dup".into()])
        .await
        .unwrap_err();
    assert_app_error(&e, 409, "APIKeyAlreadyExists", "POST", "/auth/api_keys");
    let e = call_async(&keys, "create", &["no spaces".into()])
        .await
        .unwrap_err();
    assert_app_error(&e, 400, "InvalidParameter", "POST", "/auth/api_keys");

    // Wrong types and malformed ids: TypeError before any request.
    for (method, arg) in [
        ("create", JsValue::from(42)),
        ("fetch", JsValue::from("zz")),
        ("enable", JsValue::NULL),
        ("delete", JsValue::from("5eb5931548d79bc784adf46")),
    ] {
        let e = call_async(&keys, method, &[arg]).await.unwrap_err();
        assert!(e.is_instance_of::<js_sys::TypeError>(), "{method}: {e:?}");
    }

    // Wrong password: 401 from the login route, and it does not log the current user out.
    let e = call_async(&app, "logIn", &[email_password(&email, "wrong password!")])
        .await
        .unwrap_err();
    assert_eq!(get(&e, "statusCode").as_f64(), Some(401.0));
    assert_eq!(get_str(&e, "name").as_deref(), Some("AppError"));
    assert_eq!(get_str(&user, "state").as_deref(), Some("active"));

    // Logged out: tokens null, state logged-out, currentUser null; API-key calls then get a 401.
    call_async(&user, "logOut", &[]).await.unwrap();
    assert!(get(&user, "refreshToken").is_null());
    assert!(get(&user, "accessToken").is_null());
    assert_eq!(get_str(&user, "state").as_deref(), Some("logged-out"));
    // (In browsers other active users may have been restored from localStorage.)
    assert_ne!(get(&app, "currentUser"), user);
    let e = call_async(&keys, "fetchAll", &[]).await.unwrap_err();
    assert_eq!(get(&e, "statusCode").as_f64(), Some(401.0));

    // removeUser / unknown users.
    call_async(&app, "removeUser", std::slice::from_ref(&user))
        .await
        .unwrap();
    assert_eq!(get_str(&user, "state").as_deref(), Some("removed"));
    let e = call_async(&app, "removeUser", std::slice::from_ref(&user))
        .await
        .unwrap_err();
    assert!(get_str(&e, "message")
        .unwrap()
        .contains("never logged into this app"));
}

/// A plain object `{ key: value, … }` of string fields.
fn object(fields: &[(&str, &str)]) -> JsValue {
    let o = Object::new();
    for (k, v) in fields {
        Reflect::set(&o, &(*k).into(), &(*v).into()).unwrap();
    }
    o.into()
}

/// The confirmation and reset calls of `app.emailPasswordAuth` (the test server writes its emails to a
/// directory): the `…/send` routes resolve `undefined` for any address, wrong tokens and custom functions
/// reject with the server's `AppError`, wrong shapes with a `TypeError` before any request.
pub async fn email_password_confirmation_and_reset_calls() {
    let (app, _user, email) = registered_user().await;
    let auth = get(&app, "emailPasswordAuth");
    // Two calls per address: under the per-address limit (3 a minute), also with Node and Chromium on one server.
    let unknown = unique_email();
    for address in [email.as_str(), unknown.as_str()] {
        for method in ["sendResetPasswordEmail", "resendConfirmationEmail"] {
            let r = call_async(&auth, method, &[object(&[("email", address)])])
                .await
                .unwrap_or_else(|e| panic!("{method}: {e:?}"));
            assert!(r.is_undefined(), "{method}");
        }
    }
    let token = "ab".repeat(32);
    let token_id = "0123456789abcdef01234567";
    let e = call_async(
        &auth,
        "confirmUser",
        &[object(&[("token", &token), ("tokenId", token_id)])],
    )
    .await
    .unwrap_err();
    assert_app_error(
        &e,
        400,
        "UserpassTokenInvalid",
        "POST",
        "/local-userpass/confirm",
    );
    let reset = object(&[
        ("token", &token),
        ("tokenId", token_id),
        ("password", "new password 1"),
    ]);
    let e = call_async(&auth, "resetPassword", &[reset])
        .await
        .unwrap_err();
    assert_app_error(
        &e,
        400,
        "UserpassTokenInvalid",
        "POST",
        "/local-userpass/reset",
    );
    let e = call_async(
        &auth,
        "retryCustomConfirmation",
        &[object(&[("email", &email)])],
    )
    .await
    .unwrap_err();
    assert_app_error(
        &e,
        400,
        "CustomFunctionNotSupported",
        "POST",
        "/confirm/call",
    );
    let details = object(&[("email", &email), ("password", "new password 1")]);
    let e = call_async(&auth, "callResetPasswordFunction", &[details, 42.into()])
        .await
        .unwrap_err();
    assert_app_error(&e, 400, "CustomFunctionNotSupported", "POST", "/reset/call");
    for (method, arg) in [
        ("confirmUser", object(&[("token", &token)])),
        (
            "resetPassword",
            object(&[("token", &token), ("tokenId", token_id)]),
        ),
        ("sendResetPasswordEmail", JsValue::from(5)),
    ] {
        let e = call_async(&auth, method, &[arg]).await.unwrap_err();
        assert!(e.is_instance_of::<js_sys::TypeError>(), "{method}: {e:?}");
    }
}

pub async fn refresh_and_delete_user() {
    let (app, user, _) = registered_user().await;
    call_async(&user, "refreshAccessToken", &[])
        .await
        .expect("refresh");
    assert!(get_str(&user, "accessToken").is_some_and(|t| !t.is_empty()));
    // The refreshed session still works for access-token routes.
    call_async(&user, "refreshProfile", &[])
        .await
        .expect("profile with the new token");
    call_async(&app, "deleteUser", std::slice::from_ref(&user))
        .await
        .expect("deleteUser");
    assert_eq!(get_str(&user, "state").as_deref(), Some("removed"));
    assert_ne!(get(&app, "currentUser"), user);
}

/// A second `App` with the same id: restored from `localStorage` in browsers, empty in Node.
pub async fn second_app_instance(expect_restored: bool) {
    let (_app, user, _) = registered_user().await;
    let again = new_app();
    let current = get(&again, "currentUser");
    if expect_restored {
        assert_eq!(get_str(&current, "id"), get_str(&user, "id"));
        assert_eq!(get_str(&current, "state").as_deref(), Some("active"));
        assert_eq!(
            get_str(&current, "refreshToken"),
            get_str(&user, "refreshToken")
        );
        // The restored session works.
        let keys = call_async(&get(&current, "apiKeys"), "fetchAll", &[])
            .await
            .unwrap();
        assert!(Array::is_array(&keys));
    } else {
        assert!(current.is_null(), "Node keeps users in memory only");
    }
}

/// `Credentials.jwt(token)` and `user.linkCredentials` through the JS-facing API: an anonymous user links
/// the custom JWT `token` (made by scripts/test-wasm.sh for this binary), keeps its id, lists both identities,
/// and the token then logs in as that user; linking it to another user is refused with 409.
pub async fn custom_jwt_and_linking(token: &str) {
    let jwt = || -> JsValue {
        appkeys::wasm::Credentials::jwt(token.into())
            .unwrap()
            .into()
    };
    assert_eq!(
        get_str(&jwt(), "providerType").as_deref(),
        Some("custom-token")
    );
    assert_eq!(
        get_str(&get(&jwt(), "payload"), "token").as_deref(),
        Some(token)
    );
    let anonymous: JsValue = appkeys::wasm::Credentials::anonymous().into();
    let app = new_app();
    let user = call_async(&app, "logIn", std::slice::from_ref(&anonymous))
        .await
        .expect("anonymous logIn");
    let id = get_str(&user, "id").unwrap();
    let linked = call_async(&user, "linkCredentials", &[jwt()])
        .await
        .expect("linkCredentials");
    assert!(linked.is_undefined());
    assert_eq!(get_str(&user, "id").as_deref(), Some(id.as_str()));
    let identities: Array = get(&user, "identities").dyn_into().expect("an array");
    let kinds: Vec<String> = identities
        .iter()
        .map(|i| get_str(&i, "providerType").unwrap())
        .collect();
    assert_eq!(kinds, ["anon-user", "custom-token"]);
    assert_eq!(
        get_str(&get(&user, "profile"), "name").as_deref(),
        Some("wasm test")
    );
    let again = call_async(&new_app(), "logIn", &[jwt()])
        .await
        .expect("logIn with the JWT");
    assert_eq!(get_str(&again, "id"), Some(id));
    // Logged out, so that the next anonymous login (browsers share the stored users between App
    // instances) makes a new user instead of reusing this one, as realm-web does.
    call_async(&user, "logOut", &[]).await.expect("logOut");
    let other = call_async(&new_app(), "logIn", &[anonymous])
        .await
        .expect("another anonymous user");
    let e = call_async(&other, "linkCredentials", &[jwt()])
        .await
        .expect_err("the identity is taken");
    assert_app_error(&e, 409, "IdentityAlreadyLinked", "POST", "/login?link=true");
    // Issue 29: the owner takes the anonymous identity away (`removeIdentity` with one of `identities`);
    // the account's only identity stays (400).
    let identities: Array = get(&again, "identities").dyn_into().expect("an array");
    let anonymous_identity = identities.get(0);
    assert_eq!(
        get_str(&anonymous_identity, "providerType").as_deref(),
        Some("anon-user")
    );
    let removed = call_async(&again, "removeIdentity", &[anonymous_identity])
        .await
        .expect("removeIdentity");
    assert!(removed.is_undefined());
    let identities: Array = get(&again, "identities").dyn_into().expect("an array");
    assert_eq!(identities.length(), 1);
    let last = identities.get(0);
    assert_eq!(
        get_str(&last, "providerType").as_deref(),
        Some("custom-token")
    );
    let e = call_async(&again, "removeIdentity", &[last])
        .await
        .expect_err("the only identity stays");
    assert_app_error(&e, 400, "BadRequest", "POST", "/auth/identities/remove");
}

/// `Credentials.google/apple/facebook/function` through the JS-facing API (issue 30): realm-web's payload
/// shapes and errors.
pub async fn social_credentials() {
    use appkeys::wasm::Credentials;
    let object = |pairs: &[(&str, &str)]| -> JsValue {
        let o = js_sys::Object::new();
        for (k, v) in pairs {
            js_sys::Reflect::set(&o, &JsValue::from_str(k), &JsValue::from_str(v)).unwrap();
        }
        o.into()
    };
    let payload_of = |c: Credentials| -> String {
        let c: JsValue = c.into();
        js_sys::JSON::stringify(&get(&c, "payload"))
            .unwrap()
            .as_string()
            .unwrap()
    };
    let google = Credentials::google(object(&[("idToken", "eyJ.a.b")])).unwrap();
    assert_eq!(payload_of(google), r#"{"id_token":"eyJ.a.b"}"#);
    let code = Credentials::google(object(&[("authCode", "4/x")])).unwrap();
    assert_eq!(payload_of(code), r#"{"authCode":"4/x"}"#);
    let e = Credentials::google(JsValue::from_str("eyJ.a.b"))
        .err()
        .unwrap();
    assert!(e.is_instance_of::<js_sys::Error>());
    assert!(get_str(&e, "message")
        .unwrap()
        .contains("has been deprecated"));
    let e = Credentials::google(object(&[("idToken", "a"), ("authCode", "b")]))
        .err()
        .unwrap();
    assert!(get_str(&e, "message")
        .unwrap()
        .starts_with("Expected only one property in payload"));
    let fb = Credentials::facebook(JsValue::from_str("EAAB")).unwrap();
    assert_eq!(payload_of(fb), r#"{"accessToken":"EAAB"}"#);
    let apple: JsValue = Credentials::apple(JsValue::from_str("eyJ.c.d"))
        .unwrap()
        .into();
    assert_eq!(
        get_str(&apple, "providerType").as_deref(),
        Some("oauth2-apple")
    );
    let apple_payload = js_sys::JSON::stringify(&get(&apple, "payload")).unwrap();
    assert_eq!(
        apple_payload.as_string().as_deref(),
        Some(r#"{"id_token":"eyJ.c.d"}"#)
    );
    let function = Credentials::function(object(&[("username", "fiona")])).unwrap();
    assert_eq!(payload_of(function), r#"{"username":"fiona"}"#);
    // A redirect URL makes redirect-flow credentials with realm-web's payload.
    let redirect =
        Credentials::google(object(&[("redirectUrl", "https://app.example/cb")])).unwrap();
    assert_eq!(
        payload_of(redirect),
        r#"{"redirectUrl":"https://app.example/cb"}"#
    );
}

/// Outside a browser (Node) the redirect flow is refused: `logIn` with a redirect URL rejects with an
/// `Error` that says why, before any request, and `handleAuthRedirect()` throws, as realm-web's does.
pub async fn redirect_flow_needs_a_browser() {
    use appkeys::wasm::Credentials;
    let payload = js_sys::Object::new();
    js_sys::Reflect::set(
        &payload,
        &"redirectUrl".into(),
        &"https://app.example/cb".into(),
    )
    .unwrap();
    let redirect: JsValue = Credentials::google(payload.into()).unwrap().into();
    let e = call_async(&new_app(), "logIn", &[redirect])
        .await
        .expect_err("the redirect flow needs a browser");
    assert!(e.is_instance_of::<js_sys::Error>());
    assert!(
        get_str(&e, "message")
            .unwrap()
            .contains("redirect flow needs a browser window"),
        "{e:?}"
    );
    let e = appkeys::wasm::handle_auth_redirect().expect_err("throws outside a browser");
    assert!(get_str(&e, "message")
        .unwrap()
        .contains("not supported outside a browser"));
}

/// In a browser, `handleAuthRedirect()` stores the `_baas_*` result of the page's hash under realm-web's
/// key for the state, where the opener's `logIn` looks for it.
pub fn handle_auth_redirect_stores_the_result() {
    let window = web_sys::window().unwrap();
    let storage = window.local_storage().unwrap().unwrap();
    window
        .location()
        .set_hash("_baas_client_app_id=app-1&_baas_ua=a%24b%24c%24d&_baas_state=xyzstate")
        .unwrap();
    appkeys::wasm::handle_auth_redirect().unwrap();
    let key = "realm-web:oauth2:state(xyzstate):result";
    let stored = storage
        .get_item(key)
        .unwrap()
        .expect("the result is stored");
    let parsed = js_sys::JSON::parse(&stored).unwrap();
    assert_eq!(get_str(&parsed, "userAuth").as_deref(), Some("a$b$c$d"));
    assert_eq!(get_str(&parsed, "appId").as_deref(), Some("app-1"));
    storage.remove_item(key).unwrap();
    window.location().set_hash("").unwrap();
}
