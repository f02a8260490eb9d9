//! The tokens a session is given: the access token's audiences and fixed claims per app, its claims
//! (custom user data included), and the login answer with the refresh token.

use std::collections::{BTreeMap, HashMap};

use appkeys_protocol::wire;

use super::AppState;
use crate::config::Config;
use crate::crypto::token::{AccessClaims, RefreshClaims};
use crate::error::AppError;
use crate::util::{new_id, now_secs};

impl AppState {
    /// The audiences of access tokens of `app_id`: the app id, then the app's configured ones.
    pub(crate) fn audiences(&self, app_id: &str) -> Vec<String> {
        let configured = self.inner.audiences.get(app_id).into_iter().flatten();
        std::iter::once(app_id.to_owned())
            .chain(configured.filter(|a| *a != app_id).cloned())
            .collect()
    }

    /// A new access token of a session.
    pub(crate) fn access_token(&self, s: &TokenSubject<'_>) -> String {
        let now = now_secs();
        self.inner.signer.sign_access(&AccessClaims {
            iss: self.inner.issuer.clone(),
            sub: s.user_id.to_owned(),
            aud: self.audiences(s.app_id),
            iat: now,
            exp: now.saturating_add(self.inner.access_ttl),
            jti: new_id(),
            client_id: s.app_id.to_owned(),
            sid: s.session_id.to_owned(),
            provider: s.provider.to_owned(),
            api_key_id: s.api_key_id.map(str::to_owned),
            typ: "access",
            baas_device_id: s.device_id.to_owned(),
            baas_domain_id: s.app_id.to_owned(),
            scope: s.scope.map(str::to_owned),
            user_data: s
                .user_data
                .and_then(|d| serde_json::value::RawValue::from_string(d.to_owned()).ok()),
            extra: self
                .inner
                .token_claims
                .get(s.app_id)
                .cloned()
                .unwrap_or_default(),
        })
    }

    /// The custom data of `user_id` for its next access token (none for a user deleted meanwhile).
    pub(crate) async fn user_data(&self, user_id: &str) -> Result<Option<String>, AppError> {
        let data = self
            .inner
            .store
            .custom_data(user_id)
            .await
            .map_err(AppError::db)?;
        Ok(data.flatten())
    }

    /// The login answer for a new session: both tokens, user and device.
    pub(crate) fn login_response(&self, s: &TokenSubject<'_>) -> wire::LoginResponse {
        let now = now_secs();
        let refresh = self.inner.signer.sign_refresh(&RefreshClaims {
            sub: s.user_id.to_owned(),
            typ: "refresh",
            iat: now,
            exp: now.saturating_add(self.inner.refresh_ttl),
            baas_device_id: s.device_id.to_owned(),
            baas_domain_id: s.app_id.to_owned(),
            baas_id: s.session_id.to_owned(),
        });
        wire::LoginResponse {
            access_token: self.access_token(s),
            refresh_token: refresh,
            user_id: s.user_id.to_owned(),
            device_id: s.device_id.to_owned(),
            device_secret: None,
        }
    }
}

/// Whose tokens to issue: a session and what it was opened with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenSubject<'a> {
    pub(crate) user_id: &'a str,
    pub(crate) app_id: &'a str,
    pub(crate) device_id: &'a str,
    pub(crate) session_id: &'a str,
    pub(crate) provider: &'a str,
    pub(crate) api_key_id: Option<&'a str>,
    /// The user's custom data (JSON object text), carried in the access token.
    pub(crate) user_data: Option<&'a str>,
    /// The scopes of a key session (space-separated, RFC 9068 `scope`).
    pub(crate) scope: Option<&'a str>,
}

/// Claims the server sets itself: `--token-claim` may not name them.
const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "sid",
    "provider",
    "api_key_id",
    "typ",
    "baas_device_id",
    "baas_domain_id",
    "baas_id",
    "user_data",
    "scope",
    "cnf",
    "azp",
];

/// The audiences and fixed claims of each served app's access tokens. `--audience` and `--token-claim`
/// serve a single app: with several, a token of one app would carry an audience that another app's API
/// accepts — each audience and claim must name its app (`--app-audience`, `--app-token-claim`).
#[allow(clippy::type_complexity)]
pub(super) fn per_app_tokens(
    config: &Config,
) -> Result<
    (
        HashMap<String, Vec<String>>,
        HashMap<String, BTreeMap<String, String>>,
    ),
    String,
> {
    let shared = !config.audiences.is_empty() || !config.token_claims.is_empty();
    if shared && config.apps.len() > 1 {
        return Err(format!(
            "--audience and --token-claim apply to every app, and {} apps are served: a token of one \
             app would be accepted where another app's tokens are meant. Name each one's app with \
             --app-audience APP=VALUE and --app-token-claim APP:NAME=VALUE",
            config.apps.len()
        ));
    }
    let mut audiences: HashMap<String, Vec<String>> = HashMap::new();
    let mut claims: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for app in &config.apps {
        audiences.insert(app.clone(), config.audiences.clone());
        claims.insert(app.clone(), config.token_claims.clone());
    }
    let unknown = |app: &str, flag: &str| format!("{flag} {app}:…: the app is not served (--app)");
    for (app, audience) in &config.app_audiences {
        let list = audiences
            .get_mut(app)
            .ok_or_else(|| unknown(app, "--app-audience"))?;
        list.push(audience.clone());
    }
    for (app, claim) in &config.app_token_claims {
        let list = claims
            .get_mut(app)
            .ok_or_else(|| unknown(app, "--app-token-claim"))?;
        list.push(claim.clone());
    }
    let claims = claims
        .into_iter()
        .map(|(app, pairs)| Ok((app, token_claims(&pairs)?)))
        .collect::<Result<_, String>>()?;
    Ok((audiences, claims))
}

/// `--token-claim NAME=VALUE` pairs as a map; a reserved, empty or repeated name is an error.
fn token_claims(pairs: &[(String, String)]) -> Result<BTreeMap<String, String>, String> {
    let mut claims = BTreeMap::new();
    for (name, value) in pairs {
        if name.is_empty() || RESERVED_CLAIMS.contains(&name.as_str()) {
            return Err(format!(
                "--token-claim {name}: the server sets this claim itself (choose another name)"
            ));
        }
        if claims.insert(name.clone(), value.clone()).is_some() {
            return Err(format!("--token-claim {name}: given twice"));
        }
    }
    Ok(claims)
}
