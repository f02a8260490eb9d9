//! The flags of the `custom-token` provider (realm's `Credentials.jwt`), as App Services' Custom JWT
//! provider was configured, and the configuration they make.

use std::{path::PathBuf, time::Duration};

use appkeys_server::config::{CustomJwtConfig, MetadataField};
use appkeys_server::crypto::secrets;

/// Longest HS256 secret accepted (characters), as App Services.
const MAX_SECRET_CHARS: usize = 512;

/// The `custom-token` provider is on with either a JWKS URL or a secret file.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Custom JWT provider (Credentials.jwt)")]
pub(crate) struct CustomJwtArgs {
    /// Your identity provider's JWKS (RS256 and ES256 keys; tokens must name theirs with `kid`), e.g.
    /// https://YOUR_DOMAIN/.well-known/jwks.json (Auth0, Clerk) or Firebase's
    /// https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com.
    /// Cached; fetched again when ten minutes old or on an unknown `kid` (at most once a minute).
    /// Must be https (http only on loopback).
    #[arg(
        long,
        value_name = "URL",
        env = "APPKEYS_CUSTOM_JWT_JWKS_URL",
        conflicts_with_all = ["custom_jwt_secret_file", "custom_jwt_public_key_file"]
    )]
    pub(crate) custom_jwt_jwks_url: Option<String>,

    /// File of your identity provider's public keys in PEM (RSA keys verify RS256, P-256 keys ES256;
    /// several keys may follow one another; any one verifies), as App Services' RS256 "signing key"
    /// option. It may be readable by anyone (these are public keys).
    #[arg(long, value_name = "PATH", env = "APPKEYS_CUSTOM_JWT_PUBLIC_KEY_FILE")]
    pub(crate) custom_jwt_public_key_file: Option<PathBuf>,

    /// File of HS256 secrets, one per line (32 to 512 characters; any one verifies; blank and `#`
    /// lines skipped); must not be readable by group or others.
    #[arg(long, value_name = "PATH", env = "APPKEYS_CUSTOM_JWT_SECRET_FILE")]
    pub(crate) custom_jwt_secret_file: Option<PathBuf>,

    /// An accepted `aud` (repeatable, any one must match; the env twin is comma-separated) [default:
    /// the app id].
    #[arg(
        long = "custom-jwt-audience",
        value_name = "VALUE",
        env = "APPKEYS_CUSTOM_JWT_AUDIENCES",
        value_delimiter = ','
    )]
    pub(crate) custom_jwt_audiences: Vec<String>,

    /// The required `iss` (e.g. https://securetoken.google.com/PROJECT_ID for Firebase) [default: any].
    #[arg(long, value_name = "VALUE", env = "APPKEYS_CUSTOM_JWT_ISSUER")]
    pub(crate) custom_jwt_issuer: Option<String>,

    /// A claim copied into the user's profile data: FIELD=CLAIM.PATH (a dot path into the token),
    /// FIELD!=CLAIM.PATH when tokens without it must be refused (repeatable; the env twin is
    /// comma-separated; field names of at most 64 characters).
    #[arg(
        long = "custom-jwt-metadata",
        value_name = "FIELD=CLAIM.PATH",
        env = "APPKEYS_CUSTOM_JWT_METADATA",
        value_delimiter = ','
    )]
    pub(crate) custom_jwt_metadata: Vec<String>,

    /// Longest wait for the JWKS URL (connection, answer and body); past it the login gets 503 with
    /// Retry-After, while keys fetched earlier keep working.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "APPKEYS_CUSTOM_JWT_JWKS_TIMEOUT",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=60)
    )]
    pub(crate) custom_jwt_jwks_timeout: u64,
}

impl CustomJwtArgs {
    /// The provider's configuration; `None` when neither a JWKS URL nor a secret file is given.
    pub(crate) fn config(&self) -> Result<Option<CustomJwtConfig>, String> {
        let list = |values: &[String]| -> Vec<String> {
            values
                .iter()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect()
        };
        let audiences = list(&self.custom_jwt_audiences);
        let metadata = list(&self.custom_jwt_metadata)
            .iter()
            .map(|m| MetadataField::parse(m))
            .collect::<Result<Vec<_>, _>>()?;
        let issuer = self
            .custom_jwt_issuer
            .as_deref()
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(str::to_owned);
        let jwks_url = self
            .custom_jwt_jwks_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        let secrets = match &self.custom_jwt_secret_file {
            Some(path) => read_secrets(path)?,
            None => Vec::new(),
        };
        let public_keys = match &self.custom_jwt_public_key_file {
            Some(path) => read_public_keys(path)?,
            None => Vec::new(),
        };
        if jwks_url.is_none() && secrets.is_empty() && public_keys.is_empty() {
            if !audiences.is_empty() || !metadata.is_empty() || issuer.is_some() {
                return Err("the --custom-jwt-* settings need --custom-jwt-jwks-url, \
                            --custom-jwt-secret-file or --custom-jwt-public-key-file (the provider's keys)"
                    .to_owned());
            }
            return Ok(None);
        }
        Ok(Some(CustomJwtConfig {
            jwks_url,
            secrets,
            public_keys,
            audiences,
            issuer,
            metadata,
            jwks_timeout: Duration::from_secs(self.custom_jwt_jwks_timeout),
        }))
    }
}

/// The secret file: private, one secret per line, each 32 to 512 characters.
fn read_secrets(path: &std::path::Path) -> Result<Vec<String>, String> {
    let secrets = secrets::read_file(path).map_err(|e| format!("--custom-jwt-secret-file: {e}"))?;
    if secrets.iter().any(|s| s.chars().count() > MAX_SECRET_CHARS) {
        return Err(format!(
            "--custom-jwt-secret-file {}: a secret is longer than {MAX_SECRET_CHARS} characters",
            path.display()
        ));
    }
    Ok(secrets)
}

/// The public key file: one or more PEM blocks, each an RSA or P-256 public key.
fn read_public_keys(path: &std::path::Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--custom-jwt-public-key-file {}: {e}", path.display()))?;
    let mut keys = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN ") {
            current.clear();
        }
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END ") {
            appkeys_server::crypto::custom_jwt::pem_key(&current)
                .map_err(|e| format!("--custom-jwt-public-key-file {}: {e}", path.display()))?;
            keys.push(std::mem::take(&mut current));
        }
    }
    if keys.is_empty() {
        return Err(format!(
            "--custom-jwt-public-key-file {}: no PEM public key in it",
            path.display()
        ));
    }
    Ok(keys)
}
