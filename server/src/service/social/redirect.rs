//! The web redirect flow's provider side: where each provider's authorization page is, and how its
//! authorization code becomes a verified identity. Google and Facebook take the flow's PKCE challenge
//! (S256) and get its verifier at the exchange; Apple documents no PKCE, so its codes are bound to the
//! flow by appkeys' own `state` and the browser's verifier cookie (checked by the callback), and exchanged
//! with a client secret that appkeys signs with the team's key (ES256, five minutes).

use std::time::Duration;

use appkeys_protocol::Provider;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{
    fields, joined, json_answer, outbound, refused, string, CustomJwtError, Facebook, Google,
    JwtVerifier, Social, Verified, APPLE_ISSUER,
};
use crate::config::AppleConfig;
use crate::util::now_secs;

/// Sign in with Apple: ID tokens, and the web redirect flow when the team's key is configured.
pub struct Apple {
    id_tokens: JwtVerifier,
    web: Option<AppleWeb>,
}

struct AppleWeb {
    client: reqwest::Client,
    services_id: String,
    team_id: String,
    key_id: String,
    key: EncodingKey,
    token_url: url::Url,
    auth_url: url::Url,
}

/// The claims of the client secret Apple's token endpoint takes.
#[derive(Serialize)]
struct ClientSecret<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

impl Apple {
    pub(super) fn new(config: &AppleConfig, timeout: Duration) -> Result<Apple, String> {
        let id_tokens = JwtVerifier::id_tokens(
            ("--apple-jwks-url", &config.jwks_url),
            timeout,
            config.client_ids.clone(),
            vec![APPLE_ISSUER.to_owned()],
            fields(&["email=email"]),
        )?;
        let web = match &config.web {
            Some(w) => Some(AppleWeb {
                client: outbound::client(timeout)?,
                services_id: config.client_ids[0].clone(),
                team_id: w.team_id.clone(),
                key_id: w.key_id.clone(),
                key: EncodingKey::from_ec_pem(w.private_key.as_bytes()).map_err(|e| {
                    format!("--apple-private-key-file: not a P-256 private key in PEM ({e})")
                })?,
                token_url: outbound::checked_url("--apple-token-url", &w.token_url)?,
                auth_url: outbound::checked_url("--apple-auth-url", &w.auth_url)?,
            }),
            None => None,
        };
        Ok(Apple { id_tokens, web })
    }

    /// An ID token of Sign in with Apple.
    pub async fn verify(&self, token: &str, app_id: &str) -> Result<Verified, CustomJwtError> {
        self.id_tokens.verify(token, app_id).await
    }
}

impl AppleWeb {
    fn client_secret(&self) -> Result<String, CustomJwtError> {
        let iat = now_secs();
        let claims = ClientSecret {
            iss: &self.team_id,
            sub: &self.services_id,
            aud: APPLE_ISSUER,
            iat,
            exp: iat + 300,
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| super::unavailable("oauth2-apple", e))
    }
}

/// A provider whose web redirect flow this server runs.
pub enum Redirecting<'a> {
    /// Google (needs its client secret).
    Google(&'a Google),
    /// Apple (needs the team's key).
    Apple(&'a Apple),
    /// Facebook.
    Facebook(&'a Facebook),
}

impl Social {
    /// `provider`'s redirect flow, if it has one here.
    pub fn redirecting(&self, provider: Provider) -> Option<Redirecting<'_>> {
        match provider {
            Provider::Google => self
                .google
                .as_ref()
                .filter(|g| g.redirects())
                .map(Redirecting::Google),
            Provider::Apple => self
                .apple
                .as_ref()
                .filter(|a| a.web.is_some())
                .map(Redirecting::Apple),
            Provider::Facebook => self.facebook.as_ref().map(Redirecting::Facebook),
            _ => None,
        }
    }
}

/// `base` with the query `pairs` added.
fn with_query(base: &url::Url, pairs: &[(&str, &str)]) -> String {
    let mut url = base.clone();
    url.query_pairs_mut().extend_pairs(pairs);
    url.into()
}

impl Redirecting<'_> {
    /// The provider.
    pub fn provider(&self) -> Provider {
        match self {
            Redirecting::Google(_) => Provider::Google,
            Redirecting::Apple(_) => Provider::Apple,
            Redirecting::Facebook(_) => Provider::Facebook,
        }
    }

    /// Where to send the user's browser: the provider's authorization page with `state`, the PKCE S256
    /// `challenge` (not for Apple) and `redirect_uri` (appkeys' callback).
    pub fn authorization_url(&self, state: &str, challenge: &str, redirect_uri: &str) -> String {
        let pkce = [
            ("state", state),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("redirect_uri", redirect_uri),
            ("response_type", "code"),
        ];
        match self {
            Redirecting::Google(google) => match google.exchange() {
                Ok(x) => with_query(
                    &x.auth_url,
                    &[
                        &pkce[..],
                        &[
                            ("client_id", &x.client_id),
                            ("scope", "openid email profile"),
                        ],
                    ]
                    .concat(),
                ),
                Err(_) => String::new(),
            },
            Redirecting::Facebook(facebook) => with_query(
                &facebook.auth_url,
                &[
                    &pkce[..],
                    &[
                        ("client_id", &facebook.app_id),
                        ("scope", "email public_profile"),
                    ],
                ]
                .concat(),
            ),
            Redirecting::Apple(apple) => match &apple.web {
                Some(web) => with_query(
                    &web.auth_url,
                    &[
                        ("state", state),
                        ("redirect_uri", redirect_uri),
                        ("response_type", "code"),
                        ("client_id", &web.services_id),
                        ("scope", "name email"),
                        // Apple posts its answer when names or emails are asked for.
                        ("response_mode", "form_post"),
                    ],
                ),
                None => String::new(),
            },
        }
    }

    /// The identity of an authorization `code` sent to `redirect_uri` in a flow whose PKCE verifier is
    /// `verifier`. Apple's first answer for a user also carries `user` (`{"name": {"firstName",
    /// "lastName"}}`, not signed, so only the profile's name is taken from it).
    pub async fn finish(
        &self,
        code: &str,
        user: Option<&str>,
        redirect_uri: &str,
        verifier: &str,
        app_id: &str,
    ) -> Result<Verified, CustomJwtError> {
        match self {
            Redirecting::Google(google) => {
                google
                    .exchange_code(code, redirect_uri, Some(verifier), app_id)
                    .await
            }
            Redirecting::Facebook(facebook) => {
                let mut url = joined(&facebook.graph_url, &["oauth", "access_token"])?;
                url.query_pairs_mut().extend_pairs([
                    ("client_id", facebook.app_id.as_str()),
                    ("client_secret", &facebook.app_secret),
                    ("redirect_uri", redirect_uri),
                    ("code", code),
                    ("code_verifier", verifier),
                ]);
                let sent = facebook.client.get(url).send().await;
                let (status, answer) = json_answer("oauth2-facebook", sent).await?;
                let token = string(&answer, "access_token")
                    .filter(|_| status.is_success())
                    .ok_or_else(|| refused("the authorization code was refused"))?;
                facebook.verify_token(&token).await
            }
            Redirecting::Apple(apple) => {
                let web = apple.web.as_ref().ok_or_else(|| refused("no web flow"))?;
                let secret = web.client_secret()?;
                let form = [
                    ("client_id", web.services_id.as_str()),
                    ("client_secret", &secret),
                    ("code", code),
                    ("grant_type", "authorization_code"),
                    ("redirect_uri", redirect_uri),
                ];
                let sent = web
                    .client
                    .post(web.token_url.clone())
                    .form(&form)
                    .send()
                    .await;
                let (status, answer) = json_answer("oauth2-apple", sent).await?;
                let token = string(&answer, "id_token")
                    .filter(|_| status.is_success())
                    .ok_or_else(|| {
                        let why = string(&answer, "error").unwrap_or_else(|| status.to_string());
                        refused(format!("the authorization code was refused ({why})"))
                    })?;
                let verified = apple.verify(&token, app_id).await?;
                Ok(with_apple_name(verified, user))
            }
        }
    }
}

/// `verified` with the names of Apple's `user` answer added to its profile fields.
fn with_apple_name(mut verified: Verified, user: Option<&str>) -> Verified {
    let name = user
        .and_then(|u| serde_json::from_str::<Value>(u).ok())
        .and_then(|u| u.get("name").and_then(Value::as_object).cloned());
    let Some(name) = name else {
        return verified;
    };
    let mut data: Map<String, Value> = verified
        .data
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    let first = string(&name, "firstName");
    let last = string(&name, "lastName");
    for (field, value) in [("first_name", &first), ("last_name", &last)] {
        if let Some(v) = value {
            data.insert(
                field.to_owned(),
                Value::String(v.chars().take(100).collect()),
            );
        }
    }
    let full: Vec<&str> = [&first, &last]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    if !full.is_empty() {
        data.insert(
            "name".to_owned(),
            Value::String(full.join(" ").chars().take(200).collect()),
        );
    }
    verified.data = (!data.is_empty()).then(|| Value::Object(data).to_string());
    verified
}
