//! The sign-in providers App Services had besides email/password, anonymous, API keys and custom JWTs:
//! Google (an ID token, or an authorization code exchanged at Google's token endpoint), Apple (an ID
//! token), Facebook (a user access token checked with the Graph API) and the operator's authentication
//! function (the login payload posted, signed, to an HTTPS endpoint that answers with the user's id).
//! Each one turns a login body into a [`Verified`] identity — its id and profile fields — or a refusal
//! (401) or "unavailable" (503 with `Retry-After`, never a wait past the timeout). Every URL can be
//! pointed elsewhere (a proxy, a test's fake provider); https is required except on loopback.

use std::time::Duration;

use serde_json::{Map, Value};

use super::custom_jwt::{CustomJwtError, JwtVerifier};
use super::outbound;
use super::webhooks::{headers, signing_key};

mod redirect;
use crate::config::{MetadataField, SocialConfig};
use crate::crypto::custom_jwt::{Refused, Verified, MAX_SUBJECT_LEN};
use crate::util::new_id;
pub use redirect::{Apple, Redirecting};

/// Largest answer read from a provider (token endpoint, Graph API, the function).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// `Retry-After` when a provider cannot be reached or fails.
const RETRY_AFTER_SECS: u64 = 5;

/// The issuers of Google ID tokens.
pub const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
/// The issuer of Sign in with Apple ID tokens.
pub const APPLE_ISSUER: &str = "https://appleid.apple.com";

/// The configured providers (each `None` when off: its logins answer 404).
pub struct Social {
    /// `oauth2-google`.
    pub google: Option<Google>,
    /// `oauth2-apple`.
    pub apple: Option<Apple>,
    /// `oauth2-facebook`.
    pub facebook: Option<Facebook>,
    /// `custom-function`.
    pub function: Option<Function>,
}

fn fields(specs: &[&str]) -> Vec<MetadataField> {
    specs
        .iter()
        .filter_map(|s| MetadataField::parse(s).ok())
        .collect()
}

fn unavailable(what: &str, error: impl std::fmt::Display) -> CustomJwtError {
    tracing::warn!(provider = what, error = %error, "sign-in provider unavailable");
    CustomJwtError::Unavailable(RETRY_AFTER_SECS)
}

fn refused(why: impl Into<String>) -> CustomJwtError {
    CustomJwtError::Refused(Refused::Provider(why.into()))
}

/// The JSON object a provider answered with (or why not).
async fn json_answer(
    what: &str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<(reqwest::StatusCode, Map<String, Value>), CustomJwtError> {
    // Without the URL: Facebook's carries the app secret and the user's token in its query.
    let response = sent.map_err(|e| unavailable(what, e.without_url()))?;
    let status = response.status();
    if status.is_server_error() {
        return Err(unavailable(what, format!("HTTP {status}")));
    }
    let body = outbound::read_limited(response, MAX_ANSWER_BYTES)
        .await
        .map_err(|e| unavailable(what, e))?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok((status, map)),
        _ if status.is_success() => Err(unavailable(what, "an answer that is not a JSON object")),
        _ => Ok((status, Map::new())),
    }
}

fn string(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A verified identity: `id`, with the `name` and `email` of the provider's `answer` as profile fields.
fn identity(id: String, answer: &Map<String, Value>) -> Result<Verified, CustomJwtError> {
    if id.is_empty() || id.len() > MAX_SUBJECT_LEN {
        return Err(refused("no usable user id"));
    }
    let mut data = Map::new();
    for field in ["name", "email"] {
        if let Some(v) = string(answer, field) {
            data.insert(field.to_owned(), Value::String(v));
        }
    }
    let data = (!data.is_empty()).then(|| Value::Object(data).to_string());
    Ok(Verified { sub: id, data })
}

impl Social {
    /// The providers of `config` (no network until a login).
    pub fn new(config: &SocialConfig) -> Result<Social, String> {
        let timeout = config.timeout;
        let google = match &config.google {
            Some(g) => Some(Google {
                id_tokens: JwtVerifier::id_tokens(
                    ("--google-jwks-url", &g.jwks_url),
                    timeout,
                    g.client_ids.clone(),
                    GOOGLE_ISSUERS.map(str::to_owned).to_vec(),
                    fields(&[
                        "name=name",
                        "first_name=given_name",
                        "last_name=family_name",
                        "picture=picture",
                        "email=email",
                    ]),
                )?,
                exchange: match &g.client_secret {
                    Some(secret) => Some(CodeExchange {
                        client: outbound::client(timeout)?,
                        token_url: outbound::checked_url("--google-token-url", &g.token_url)?,
                        auth_url: outbound::checked_url("--google-auth-url", &g.auth_url)?,
                        client_id: g.client_ids[0].clone(),
                        client_secret: secret.clone(),
                        redirect_uri: g.redirect_uri.clone().unwrap_or_default(),
                    }),
                    None => None,
                },
            }),
            None => None,
        };
        let apple = match &config.apple {
            Some(a) => Some(Apple::new(a, timeout)?),
            None => None,
        };
        let facebook = match &config.facebook {
            Some(f) => Some(Facebook {
                client: outbound::client(timeout)?,
                graph_url: outbound::checked_url("--facebook-graph-url", &f.graph_url)?,
                auth_url: outbound::checked_url("--facebook-auth-url", &f.auth_url)?,
                app_id: f.app_id.clone(),
                app_secret: f.app_secret.clone(),
            }),
            None => None,
        };
        let function = match &config.function {
            Some(f) => Some(Function {
                client: outbound::client(timeout)?,
                url: outbound::checked_url("--function-url", &f.url)?,
                key: signing_key(&f.secret),
            }),
            None => None,
        };
        Ok(Social {
            google,
            apple,
            facebook,
            function,
        })
    }
}

/// Google: ID tokens, and authorization codes when a client secret is configured.
pub struct Google {
    id_tokens: JwtVerifier,
    exchange: Option<CodeExchange>,
}

struct CodeExchange {
    client: reqwest::Client,
    token_url: url::Url,
    auth_url: url::Url,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
}

impl Google {
    /// `{id_token}` or `{authCode}`.
    pub async fn verify(
        &self,
        body: &Map<String, Value>,
        app_id: &str,
    ) -> Result<Verified, CustomJwtError> {
        if let Some(token) = string(body, "id_token") {
            return self.id_tokens.verify(&token, app_id).await;
        }
        let Some(code) = string(body, "authCode") else {
            return Err(refused("the body has neither `id_token` nor `authCode`"));
        };
        let exchange = self.exchange()?;
        self.exchange_code(&code, &exchange.redirect_uri, None, app_id)
            .await
    }

    fn exchange(&self) -> Result<&CodeExchange, CustomJwtError> {
        self.exchange.as_ref().ok_or_else(|| {
            refused(
                "authorization codes need the server's Google client secret (--google-client-secret-file)",
            )
        })
    }

    /// Whether the web redirect flow can run (it needs the client secret to exchange its codes).
    pub fn redirects(&self) -> bool {
        self.exchange.is_some()
    }

    /// Exchanges an authorization `code` (with the PKCE `verifier` of a redirect flow) and verifies the ID
    /// token it gives.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
        app_id: &str,
    ) -> Result<Verified, CustomJwtError> {
        let exchange = self.exchange()?;
        let mut form = vec![
            ("code", code),
            ("client_id", exchange.client_id.as_str()),
            ("client_secret", exchange.client_secret.as_str()),
            ("redirect_uri", redirect_uri),
            ("grant_type", "authorization_code"),
        ];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier));
        }
        let sent = exchange
            .client
            .post(exchange.token_url.clone())
            .form(&form)
            .send()
            .await;
        let (status, answer) = json_answer("oauth2-google", sent).await?;
        if !status.is_success() {
            let why = string(&answer, "error").unwrap_or_else(|| format!("HTTP {status}"));
            return Err(refused(format!(
                "the authorization code was refused ({why})"
            )));
        }
        let token = string(&answer, "id_token").ok_or_else(|| {
            refused("the code exchange gave no ID token (ask for the openid scope)")
        })?;
        self.id_tokens.verify(&token, app_id).await
    }
}

/// Facebook: a user access token, checked with the app's credentials.
pub struct Facebook {
    client: reqwest::Client,
    graph_url: url::Url,
    auth_url: url::Url,
    app_id: String,
    app_secret: String,
}

/// `base` with one more path segment.
fn joined(base: &url::Url, segments: &[&str]) -> Result<url::Url, CustomJwtError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|_| refused("bad provider URL"))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

impl Facebook {
    /// `{accessToken}`: valid, issued for this app; the user id, name and email read with it.
    pub async fn verify(&self, body: &Map<String, Value>) -> Result<Verified, CustomJwtError> {
        let token =
            string(body, "accessToken").ok_or_else(|| refused("the body has no `accessToken`"))?;
        self.verify_token(&token).await
    }

    /// A user access token: valid, issued for this app; the user id, name and email read with it.
    async fn verify_token(&self, token: &str) -> Result<Verified, CustomJwtError> {
        let app_token = format!("{}|{}", self.app_id, self.app_secret);
        let mut debug = joined(&self.graph_url, &["debug_token"])?;
        debug
            .query_pairs_mut()
            .append_pair("input_token", token)
            .append_pair("access_token", &app_token);
        let sent = self.client.get(debug).send().await;
        let (status, answer) = json_answer("oauth2-facebook", sent).await?;
        let data = answer.get("data").and_then(Value::as_object);
        let valid = data
            .and_then(|d| d.get("is_valid"))
            .and_then(Value::as_bool)
            == Some(true);
        let for_app = data.and_then(|d| string(d, "app_id")) == Some(self.app_id.clone());
        let user_id = data.and_then(|d| string(d, "user_id"));
        let (true, true, true, Some(user_id)) = (status.is_success(), valid, for_app, user_id)
        else {
            return Err(refused(
                "the access token is not a valid token of this Facebook app",
            ));
        };
        let mut me = joined(&self.graph_url, &["me"])?;
        me.query_pairs_mut()
            .append_pair("fields", "id,name,email")
            .append_pair("access_token", token);
        let sent = self.client.get(me).send().await;
        let (status, profile) = json_answer("oauth2-facebook", sent).await?;
        if !status.is_success() || string(&profile, "id").as_deref() != Some(user_id.as_str()) {
            return Err(refused(
                "the profile of the access token's user cannot be read",
            ));
        }
        identity(user_id, &profile)
    }
}

/// The operator's authentication function: an HTTPS endpoint that gets the login payload, signed.
pub struct Function {
    client: reqwest::Client,
    url: url::Url,
    key: Vec<u8>,
}

impl Function {
    /// Posts the payload (the login body without realm-core's `provider` and the device `options`) with
    /// `webhook-id`, `webhook-timestamp` and `webhook-signature`; a 2xx answer `{id, name?, email?}`
    /// logs that user in, a 4xx answer (its `error`, if any) refuses.
    pub async fn verify(&self, body: &Map<String, Value>) -> Result<Verified, CustomJwtError> {
        let mut payload = body.clone();
        payload.remove("provider");
        payload.remove("options");
        let text = Value::Object(payload).to_string();
        let mut request = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json");
        for (name, value) in headers(&self.key, &format!("msg_{}", new_id()), &text) {
            request = request.header(name, value);
        }
        let sent = request.body(text).send().await;
        let (status, answer) = json_answer("custom-function", sent).await?;
        if !status.is_success() {
            let why = string(&answer, "error").unwrap_or_else(|| format!("HTTP {status}"));
            return Err(refused(format!(
                "the authentication function refused: {why}"
            )));
        }
        let user_id = match answer.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(refused("the authentication function answered no `id`")),
        };
        identity(user_id, &answer)
    }
}

/// The timeout every provider request shares by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
