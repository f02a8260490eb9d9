//! `Credentials`: what `app.logIn()` takes.
use super::{from_value, to_value, type_error};
use crate::credentials::Credentials as CoreCredentials;
use appkeys_protocol::wire::{ApiKeyLogin, CustomTokenLogin, UserpassLogin};
use appkeys_protocol::Provider;
use serde::Deserialize;
use wasm_bindgen::prelude::*;

/// Login credentials, made by the static methods: `Credentials.emailPassword(email, password)`,
/// `Credentials.anonymous()`, `Credentials.apiKey(key)`, `Credentials.jwt(token)`.
#[wasm_bindgen]
pub struct Credentials {
    inner: CoreCredentials,
}

/// `value` as a string, or a `TypeError` saying what was expected.
fn string(value: JsValue, what: &str) -> Result<String, JsValue> {
    value
        .as_string()
        .ok_or_else(|| type_error(&format!("Expected {what} (string)")))
}

#[wasm_bindgen]
impl Credentials {
    /// Email and password of a registered user.
    #[wasm_bindgen(js_name = emailPassword)]
    pub fn email_password(
        #[wasm_bindgen(unchecked_param_type = "string")] email: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] password: JsValue,
    ) -> Result<Credentials, JsValue> {
        let email = string(email, "an email")?;
        let password = string(password, "a password")?;
        Ok(Credentials {
            inner: CoreCredentials::email_password(&email, &password),
        })
    }

    /// A new anonymous user (or the current one, while it is logged in).
    pub fn anonymous() -> Credentials {
        Credentials {
            inner: CoreCredentials::Anonymous,
        }
    }

    /// A user API key: logs in as the key's owner.
    #[wasm_bindgen(js_name = apiKey)]
    pub fn api_key(
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
    ) -> Result<Credentials, JsValue> {
        let key = string(key, "an API key")?;
        Ok(Credentials {
            inner: CoreCredentials::api_key(&key),
        })
    }

    /// A JWT of the app's own identity provider (Auth0, Firebase, Clerk, …): logs in as the user of its
    /// `sub` (the server's `custom-token` provider).
    pub fn jwt(
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
    ) -> Result<Credentials, JsValue> {
        let token = string(token, "a JWT")?;
        Ok(Credentials {
            inner: CoreCredentials::jwt(&token),
        })
    }

    /// Sign in with Google: `{ idToken }` (sent as `id_token`), `{ authCode }`, or `{ redirectUrl }` (the
    /// OAuth redirect flow). As realm-web 2: exactly one property; a string throws.
    pub fn google(
        #[wasm_bindgen(
            unchecked_param_type = "{ idToken: string } | { authCode: string } | { redirectUrl: string }"
        )]
        payload: JsValue,
    ) -> Result<Credentials, JsValue> {
        if payload.is_string() {
            return Err(error(
                "`google(<tokenString>)` has been deprecated.  Please use `google(<authCodeObject>).",
            ));
        }
        let object = js_sys::Object::try_from(&payload)
            .ok_or_else(|| type_error("Expected a payload object"))?;
        let shown = || json(&payload);
        if js_sys::Object::keys(object).length() != 1 {
            return Err(error(&format!(
                "Expected only one property in payload, got {}",
                shown()
            )));
        }
        let has = |key: &str| js_sys::Reflect::has(&payload, &JsValue::from_str(key)) == Ok(true);
        let body = if has("authCode") || has("redirectUrl") {
            shown()
        } else if has("idToken") {
            let token = js_sys::Reflect::get(&payload, &JsValue::from_str("idToken"))?;
            json(&object_of("id_token", token))
        } else {
            return Err(error(&format!("Unexpected payload: {}", shown())));
        };
        Ok(Credentials::with_payload(Provider::Google, body))
    }

    /// Facebook Login: a user access token, or a URL (with `://`: the OAuth redirect flow).
    pub fn facebook(
        #[wasm_bindgen(unchecked_param_type = "string")] redirect_url_or_access_token: JsValue,
    ) -> Result<Credentials, JsValue> {
        let value = string(
            redirect_url_or_access_token,
            "a redirect URL or an access token",
        )?;
        let key = if value.contains("://") {
            "redirectUrl"
        } else {
            "accessToken"
        };
        let body = json(&object_of(key, JsValue::from_str(&value)));
        Ok(Credentials::with_payload(Provider::Facebook, body))
    }

    /// Sign in with Apple: an ID token, or a URL (with `://`: the OAuth redirect flow).
    pub fn apple(
        #[wasm_bindgen(unchecked_param_type = "string")] redirect_url_or_id_token: JsValue,
    ) -> Result<Credentials, JsValue> {
        let value = string(redirect_url_or_id_token, "a redirect URL or an ID token")?;
        let key = if value.contains("://") {
            "redirectUrl"
        } else {
            "id_token"
        };
        let body = json(&object_of(key, JsValue::from_str(&value)));
        Ok(Credentials::with_payload(Provider::Apple, body))
    }

    /// The app's authentication function (the server's `custom-function`): `payload` is sent as it
    /// is.
    pub fn function(
        #[wasm_bindgen(unchecked_param_type = "Record<string, unknown>")] payload: JsValue,
    ) -> Result<Credentials, JsValue> {
        if !payload.is_object() {
            return Err(type_error("Expected a payload object"));
        }
        Ok(Credentials::with_payload(
            Provider::Function,
            json(&payload),
        ))
    }

    /// `"local-userpass"`, `"anon-user"`, `"api-key"`, `"custom-token"`, `"oauth2-google"`,
    /// `"oauth2-apple"`, `"oauth2-facebook"` or `"custom-function"`.
    #[wasm_bindgen(getter, js_name = providerType, unchecked_return_type = "ProviderType")]
    pub fn provider_type(&self) -> String {
        self.inner.provider().as_str().to_owned()
    }

    /// The login request's body.
    #[wasm_bindgen(getter, unchecked_return_type = "Record<string, unknown>")]
    pub fn payload(&self) -> JsValue {
        match &self.inner {
            CoreCredentials::EmailPassword(body) => to_value(body),
            CoreCredentials::Anonymous => js_sys::Object::new().into(),
            CoreCredentials::ApiKey(body) => to_value(body),
            CoreCredentials::Jwt(body) => to_value(body),
            CoreCredentials::Payload { body, .. } => {
                js_sys::JSON::parse(body).unwrap_or_else(|_| js_sys::Object::new().into())
            }
            CoreCredentials::Redirect { url, .. } => {
                object_of("redirectUrl", JsValue::from_str(url))
            }
        }
    }
}

impl Credentials {
    fn with_payload(provider: Provider, body: String) -> Credentials {
        Credentials {
            inner: CoreCredentials::Payload { provider, body },
        }
    }
}

/// A plain `Error` (realm-web's credential errors are not `TypeError`s).
fn error(message: &str) -> JsValue {
    js_sys::Error::new(message).into()
}

/// `JSON.stringify(value)`.
fn json(value: &JsValue) -> String {
    js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}

/// `{ [key]: value }`.
fn object_of(key: &str, value: JsValue) -> JsValue {
    let object = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&object, &JsValue::from_str(key), &value);
    object.into()
}

/// What `logIn` reads of its argument: a `Credentials` object (or any object of that shape).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialsObject {
    provider_type: String,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    payload: JsValue,
}

/// The credentials in `value`; a `TypeError` naming what is wrong otherwise.
pub(crate) fn credentials_of(value: JsValue) -> Result<CoreCredentials, JsValue> {
    let object: CredentialsObject = from_value(value, "credentials")?;
    let payload = object.payload;
    match Provider::parse(&object.provider_type) {
        Some(Provider::LocalUserpass) => {
            Ok(CoreCredentials::EmailPassword(from_value::<UserpassLogin>(
                payload,
                "credentials payload",
            )?))
        }
        Some(Provider::ApiKey) => Ok(CoreCredentials::ApiKey(from_value::<ApiKeyLogin>(
            payload,
            "credentials payload",
        )?)),
        Some(Provider::AnonUser) => Ok(CoreCredentials::Anonymous),
        Some(Provider::CustomToken) => Ok(CoreCredentials::Jwt(from_value::<CustomTokenLogin>(
            payload,
            "credentials payload",
        )?)),
        Some(provider) => {
            let redirect = js_sys::Reflect::get(&payload, &JsValue::from_str("redirectUrl"))
                .ok()
                .and_then(|v| v.as_string());
            if let Some(url) = redirect.filter(|_| provider.as_str().starts_with("oauth2-")) {
                return Ok(CoreCredentials::Redirect { provider, url });
            }
            if !payload.is_object() {
                return Err(type_error(
                    "Invalid credentials payload: expected an object",
                ));
            }
            Ok(CoreCredentials::Payload {
                provider,
                body: json(&payload),
            })
        }
        None => Err(type_error("Unsupported credentials provider")),
    }
}
