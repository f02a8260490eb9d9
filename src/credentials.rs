//! Login credentials: one variant per provider, each with its protocol login body.
use crate::platform::Platform;
use appkeys_protocol::wire::{ApiKeyLogin, CustomTokenLogin, UserpassLogin};
use appkeys_protocol::Provider;

/// The payload of redirect-flow credentials.
#[derive(serde::Serialize)]
struct RedirectBody<'a> {
    #[serde(rename = "redirectUrl")]
    redirect_url: &'a str,
}

/// What `Credentials.emailPassword()`, `.anonymous()`, `.apiKey()`, `.jwt()`, `.google()`, `.apple()`,
/// `.facebook()` and `.function()` make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Email and password (sent as `username`, like realm-web).
    EmailPassword(UserpassLogin),
    /// A new (or the current) anonymous user.
    Anonymous,
    /// A user API key.
    ApiKey(ApiKeyLogin),
    /// A JWT of the app's own identity provider (`custom-token`).
    Jwt(CustomTokenLogin),
    /// Google, Apple, Facebook or the authentication function: the login body as JSON text, as the
    /// JavaScript layer made it (realm-web's payload shapes).
    Payload {
        /// `oauth2-google`, `oauth2-apple`, `oauth2-facebook` or `custom-function`.
        provider: Provider,
        /// The JSON object sent.
        body: String,
    },
    /// Google, Apple or Facebook through the web redirect flow (`{ redirectUrl }`): a login window, not a
    /// login request (the wasm layer runs it in browsers).
    Redirect {
        /// `oauth2-google`, `oauth2-apple` or `oauth2-facebook`.
        provider: Provider,
        /// The app page the flow ends on.
        url: String,
    },
}

impl Credentials {
    /// Email and password.
    pub fn email_password(email: &str, password: &str) -> Self {
        Credentials::EmailPassword(UserpassLogin {
            username: email.to_owned(),
            password: password.to_owned(),
            device_secret: None,
        })
    }

    /// A user API key.
    pub fn api_key(key: &str) -> Self {
        Credentials::ApiKey(ApiKeyLogin {
            key: key.to_owned(),
        })
    }

    /// A JWT of the app's identity provider.
    pub fn jwt(token: &str) -> Self {
        Credentials::Jwt(CustomTokenLogin {
            token: token.to_owned(),
        })
    }

    /// The provider these credentials log in with.
    pub fn provider(&self) -> Provider {
        match self {
            Credentials::EmailPassword(_) => Provider::LocalUserpass,
            Credentials::Anonymous => Provider::AnonUser,
            Credentials::ApiKey(_) => Provider::ApiKey,
            Credentials::Jwt(_) => Provider::CustomToken,
            Credentials::Payload { provider, .. } | Credentials::Redirect { provider, .. } => {
                *provider
            }
        }
    }

    /// The login request's JSON body.
    pub fn body<P: Platform>(&self) -> String {
        match self {
            Credentials::EmailPassword(body) => P::to_json(body),
            Credentials::Anonymous => "{}".to_owned(),
            Credentials::ApiKey(body) => P::to_json(body),
            Credentials::Jwt(body) => P::to_json(body),
            Credentials::Payload { body, .. } => body.clone(),
            Credentials::Redirect { url, .. } => P::to_json(&RedirectBody { redirect_url: url }),
        }
    }
}
