//! The flags of Google, Apple, Facebook and the authentication function (realm's
//! `Credentials.google/apple/facebook/function`), as App Services configured those providers, and the
//! configuration they make. Secrets come from private files, never from the command line.

use std::{path::PathBuf, time::Duration};

use appkeys_server::config::{
    AppleConfig, AppleWebConfig, FacebookConfig, FunctionConfig, GoogleConfig, SocialConfig,
};
use appkeys_server::crypto::secrets;
use appkeys_server::service::outbound::checked_url;

/// Shortest shared secret of the authentication function.
const MIN_FUNCTION_SECRET: usize = 32;

#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Google, Apple, Facebook and authentication function sign-in")]
pub(crate) struct SocialArgs {
    /// A Google OAuth client id whose ID tokens are accepted (repeatable: the web, iOS and Android
    /// clients each have one; the env twin is comma-separated). Turns on `oauth2-google`.
    #[arg(
        long = "google-client-id",
        value_name = "ID",
        env = "APPKEYS_GOOGLE_CLIENT_IDS",
        value_delimiter = ','
    )]
    pub(crate) google_client_ids: Vec<String>,

    /// File holding the web client's secret (private): with it, authorization codes (`authCode`) are
    /// exchanged at Google's token endpoint as the first --google-client-id.
    #[arg(long, value_name = "PATH", env = "APPKEYS_GOOGLE_CLIENT_SECRET_FILE")]
    pub(crate) google_client_secret_file: Option<PathBuf>,

    /// The `redirect_uri` sent with a code exchange [default: none, as for mobile server auth codes].
    #[arg(long, value_name = "URL", env = "APPKEYS_GOOGLE_REDIRECT_URI")]
    pub(crate) google_redirect_uri: Option<String>,

    /// Google's signing keys.
    #[arg(
        long,
        value_name = "URL",
        env = "APPKEYS_GOOGLE_JWKS_URL",
        default_value = "https://www.googleapis.com/oauth2/v3/certs"
    )]
    pub(crate) google_jwks_url: String,

    /// Google's token endpoint (code exchange).
    #[arg(
        long,
        value_name = "URL",
        env = "APPKEYS_GOOGLE_TOKEN_URL",
        default_value = "https://oauth2.googleapis.com/token"
    )]
    pub(crate) google_token_url: String,

    /// Google's authorization endpoint (the web redirect flow).
    #[arg(
        long,
        value_name = "URL",
        env = "APPKEYS_GOOGLE_AUTH_URL",
        default_value = "https://accounts.google.com/o/oauth2/v2/auth"
    )]
    pub(crate) google_auth_url: String,

    /// An app page the web redirect flow (realm-web's `Credentials.google({ redirectUrl })`) may send its
    /// result to, exactly as the app passes it (repeatable; the env twin is comma-separated). Without one
    /// the flow is off. Register PUBLIC_URL/api/client/v2.0/auth/callback as the OAuth client's
    /// redirect URI.
    #[arg(
        long = "oauth-redirect-url",
        value_name = "URL",
        env = "APPKEYS_OAUTH_REDIRECT_URLS",
        value_delimiter = ','
    )]
    pub(crate) oauth_redirect_urls: Vec<String>,

    /// An accepted `aud` of Sign in with Apple ID tokens: a bundle id or a Services ID (repeatable; the
    /// env twin is comma-separated). Turns on `oauth2-apple`.
    #[arg(
        long = "apple-client-id",
        value_name = "ID",
        env = "APPKEYS_APPLE_CLIENT_IDS",
        value_delimiter = ','
    )]
    pub(crate) apple_client_ids: Vec<String>,

    /// Apple's signing keys.
    #[arg(
        long,
        value_name = "URL",
        env = "APPKEYS_APPLE_JWKS_URL",
        default_value = "https://appleid.apple.com/auth/keys"
    )]
    pub(crate) apple_jwks_url: String,

    /// Your Apple developer team id. With --apple-key-id and --apple-private-key-file it turns on the web
    /// redirect flow (`Credentials.apple(redirectUrl)`), in which the first --apple-client-id (your
    /// Services ID) exchanges authorization codes.
    #[arg(long, value_name = "ID", env = "APPKEYS_APPLE_TEAM_ID")]
    pub(crate) apple_team_id: Option<String>,

    /// The key id of your Sign in with Apple key.
    #[arg(long, value_name = "ID", env = "APPKEYS_APPLE_KEY_ID")]
    pub(crate) apple_key_id: Option<String>,

    /// File holding that key (private): the `.p8` file Apple gives, a P-256 key in PEM.
    #[arg(long, value_name = "PATH", env = "APPKEYS_APPLE_PRIVATE_KEY_FILE")]
    pub(crate) apple_private_key_file: Option<PathBuf>,

    /// Apple's token endpoint (code exchange).
    #[arg(
        long,
        value_name = "URL",
        env = "APPKEYS_APPLE_TOKEN_URL",
        default_value = "https://appleid.apple.com/auth/token"
    )]
    pub(crate) apple_token_url: String,

    /// Apple's authorization endpoint (the web redirect flow).
    #[arg(
        long,
        value_name = "URL",
        env = "APPKEYS_APPLE_AUTH_URL",
        default_value = "https://appleid.apple.com/auth/authorize"
    )]
    pub(crate) apple_auth_url: String,

    /// The Facebook app id whose user access tokens are accepted. Turns on `oauth2-facebook` (needs
    /// --facebook-app-secret-file).
    #[arg(long, value_name = "ID", env = "APPKEYS_FACEBOOK_APP_ID")]
    pub(crate) facebook_app_id: Option<String>,

    /// File holding the Facebook app secret (private).
    #[arg(long, value_name = "PATH", env = "APPKEYS_FACEBOOK_APP_SECRET_FILE")]
    pub(crate) facebook_app_secret_file: Option<PathBuf>,

    /// The Graph API's base URL.
    #[arg(
        long,
        value_name = "URL",
        env = "APPKEYS_FACEBOOK_GRAPH_URL",
        default_value = "https://graph.facebook.com"
    )]
    pub(crate) facebook_graph_url: String,

    /// Facebook's login dialog (the web redirect flow, `Credentials.facebook(redirectUrl)`; its codes
    /// are exchanged at the Graph API's `oauth/access_token`).
    #[arg(
        long,
        value_name = "URL",
        env = "APPKEYS_FACEBOOK_AUTH_URL",
        default_value = "https://www.facebook.com/v21.0/dialog/oauth"
    )]
    pub(crate) facebook_auth_url: String,

    /// Your authentication function's HTTPS endpoint: each `custom-function` login posts its payload
    /// there, signed (Standard Webhooks headers), and logs in the user whose `id` it answers. Turns on
    /// `custom-function` (needs --function-secret-file).
    #[arg(long, value_name = "URL", env = "APPKEYS_FUNCTION_URL")]
    pub(crate) function_url: Option<String>,

    /// File holding the secret that signs the function's requests (private; a `whsec_…` secret or any
    /// string of at least 32 bytes).
    #[arg(long, value_name = "PATH", env = "APPKEYS_FUNCTION_SECRET_FILE")]
    pub(crate) function_secret_file: Option<PathBuf>,

    /// Longest wait for any of these providers (connection, answer and body); past it the login gets
    /// 503 with Retry-After.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_PROVIDER_TIMEOUT",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=60)
    )]
    pub(crate) provider_timeout: u64,
}

/// The one secret of a private file.
fn one_secret(flag: &str, path: &std::path::Path) -> Result<String, String> {
    let lines =
        secrets::read_private_lines(path).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
    match lines.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "{flag} {}: expected exactly one secret line",
            path.display()
        )),
    }
}

/// Entries of a repeatable flag, trimmed, blanks dropped.
fn list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// `url` checked for `flag` (https, or http on loopback).
fn url(flag: &str, value: &str) -> Result<String, String> {
    checked_url(flag, value.trim()).map(|_| value.trim().to_owned())
}

impl SocialArgs {
    /// Apple's web redirect flow: all three of team id, key id and key file, or none.
    fn apple_web(&self) -> Result<Option<AppleWebConfig>, String> {
        let (team, key, file) = (
            &self.apple_team_id,
            &self.apple_key_id,
            &self.apple_private_key_file,
        );
        let (Some(team_id), Some(key_id), Some(path)) = (team, key, file) else {
            return match (team, key, file) {
                (None, None, None) => Ok(None),
                _ => Err(
                    "--apple-team-id, --apple-key-id and --apple-private-key-file go together"
                        .to_owned(),
                ),
            };
        };
        let flag = "--apple-private-key-file";
        secrets::check_private(path).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
        let private_key =
            std::fs::read_to_string(path).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
        Ok(Some(AppleWebConfig {
            team_id: team_id.trim().to_owned(),
            key_id: key_id.trim().to_owned(),
            private_key,
            token_url: url("--apple-token-url", &self.apple_token_url)?,
            auth_url: url("--apple-auth-url", &self.apple_auth_url)?,
        }))
    }

    /// The providers' configuration; a provider whose settings are incomplete refuses to start,
    /// naming the flag.
    pub(crate) fn config(&self) -> Result<SocialConfig, String> {
        let google_ids = list(&self.google_client_ids);
        let google = match (google_ids.is_empty(), &self.google_client_secret_file) {
            (true, Some(_)) => {
                return Err("--google-client-secret-file needs --google-client-id".to_owned())
            }
            (true, None) => None,
            (false, secret) => Some(GoogleConfig {
                client_ids: google_ids,
                client_secret: secret
                    .as_deref()
                    .map(|p| one_secret("--google-client-secret-file", p))
                    .transpose()?,
                redirect_uri: self.google_redirect_uri.clone().filter(|u| !u.is_empty()),
                jwks_url: url("--google-jwks-url", &self.google_jwks_url)?,
                token_url: url("--google-token-url", &self.google_token_url)?,
                auth_url: url("--google-auth-url", &self.google_auth_url)?,
            }),
        };
        let apple_ids = list(&self.apple_client_ids);
        let apple_web = self.apple_web()?;
        let apple = match (apple_ids.is_empty(), apple_web) {
            (true, None) => None,
            (true, Some(_)) => {
                return Err("--apple-team-id needs --apple-client-id (your Services ID)".to_owned())
            }
            (false, web) => Some(AppleConfig {
                client_ids: apple_ids,
                jwks_url: url("--apple-jwks-url", &self.apple_jwks_url)?,
                web,
            }),
        };
        let facebook = match (&self.facebook_app_id, &self.facebook_app_secret_file) {
            (None, None) => None,
            (Some(app_id), Some(path)) => Some(FacebookConfig {
                app_id: app_id.trim().to_owned(),
                app_secret: one_secret("--facebook-app-secret-file", path)?,
                graph_url: url("--facebook-graph-url", &self.facebook_graph_url)?,
                auth_url: url("--facebook-auth-url", &self.facebook_auth_url)?,
            }),
            (Some(_), None) => {
                return Err("--facebook-app-id needs --facebook-app-secret-file".to_owned())
            }
            (None, Some(_)) => {
                return Err("--facebook-app-secret-file needs --facebook-app-id".to_owned())
            }
        };
        let function = match (&self.function_url, &self.function_secret_file) {
            (None, None) => None,
            (Some(endpoint), Some(path)) => {
                let secret = one_secret("--function-secret-file", path)?;
                if secret.len() < MIN_FUNCTION_SECRET && !secret.starts_with("whsec_") {
                    return Err(format!(
                        "--function-secret-file {}: the secret is shorter than {MIN_FUNCTION_SECRET} bytes",
                        path.display()
                    ));
                }
                Some(FunctionConfig {
                    url: url("--function-url", endpoint)?,
                    secret,
                })
            }
            (Some(_), None) => return Err("--function-url needs --function-secret-file".to_owned()),
            (None, Some(_)) => return Err("--function-secret-file needs --function-url".to_owned()),
        };
        let redirect_urls = list(&self.oauth_redirect_urls);
        for page in &redirect_urls {
            let parsed =
                url::Url::parse(page).map_err(|e| format!("--oauth-redirect-url {page}: {e}"))?;
            if parsed.scheme() != "https" && parsed.scheme() != "http" {
                return Err(format!(
                    "--oauth-redirect-url {page}: an http(s) page is needed"
                ));
            }
        }
        Ok(SocialConfig {
            google,
            apple,
            facebook,
            function,
            redirect_urls,
            timeout: Duration::from_secs(self.provider_timeout),
        })
    }
}
