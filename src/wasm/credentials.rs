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

    /// `"local-userpass"`, `"anon-user"`, `"api-key"` or `"custom-token"`.
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
        }
    }
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
        None => Err(type_error("Unsupported credentials provider")),
    }
}
