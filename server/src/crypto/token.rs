//! The two tokens of a session, both JWTs (realm-core parses them):
//!
//! * **Access tokens** are ES256 (P-256) JWTs that anyone can verify with the published keys (JWKS):
//!   header `{alg: ES256, typ: at+jwt, kid}`; claims `iss`, `sub`, `aud`, `iat`, `exp`, `jti`, `client_id`,
//!   `sid` (the session), `provider`, `api_key_id` (key sessions), the App Services fields realm clients
//!   read (`typ: "access"`, `baas_device_id`, `baas_domain_id`) and the operator's fixed claims. Access
//!   tokens of earlier releases (HS256 with the private secrets, the session id in `iss`) are still
//!   accepted until they expire.
//! * **Refresh tokens** stay HS256 with the private secrets (`--jwt-secret-file`): no published key
//!   verifies them, so no verifier can take one for an access token, and rotating the signing keys logs
//!   nobody out. Each names its secret (`kid`), so the secrets rotate too.

use std::collections::BTreeMap;

use appkeys_protocol::TokenKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::signing::SigningKey;

/// The claims of a new access token.
#[derive(Debug, Clone, Serialize)]
pub struct AccessClaims {
    /// The issuer (`--issuer`, the public URL by default).
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// The app id, then every `--audience`.
    pub aud: Vec<String>,
    /// Issued at (seconds).
    pub iat: i64,
    /// Expires at (seconds).
    pub exp: i64,
    /// A unique id of this token.
    pub jti: String,
    /// The app id (RFC 9068).
    pub client_id: String,
    /// The session id.
    pub sid: String,
    /// The provider the session was opened with (`local-userpass`, `anon-user`, `api-key`).
    pub provider: String,
    /// The key of a session opened with a user API key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<String>,
    /// `access` (as App Services' tokens).
    pub typ: &'static str,
    /// The session's device id (App Services).
    pub baas_device_id: String,
    /// The app id (App Services).
    pub baas_domain_id: String,
    /// The scopes of a key session (space-separated, RFC 9068).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The user's custom data (a JSON object), where realm-web and realm-core read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<Box<serde_json::value::RawValue>>,
    /// Fixed claims of `--token-claim NAME=VALUE`.
    #[serde(flatten)]
    pub extra: BTreeMap<String, String>,
}

/// The claims of a new refresh token (the format of every release so far).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshClaims {
    /// The user id.
    pub sub: String,
    /// `refresh`.
    pub typ: &'static str,
    /// Issued at (seconds).
    pub iat: i64,
    /// Expires at (seconds).
    pub exp: i64,
    /// The session's device id.
    pub baas_device_id: String,
    /// The app id.
    pub baas_domain_id: String,
    /// The session id.
    pub baas_id: String,
}

/// What a verified token says (either kind, either format).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// `access` or `refresh`.
    pub typ: String,
    /// Issued at.
    #[serde(default)]
    pub iat: i64,
    /// Expires at.
    pub exp: i64,
    /// The session of an access token.
    #[serde(default)]
    pub sid: Option<String>,
    /// The session of an HS256 access token of an earlier release; the issuer of an ES256 one.
    #[serde(default)]
    pub iss: Option<String>,
    /// The session of a refresh token.
    #[serde(default)]
    pub baas_id: Option<String>,
    /// The token's id (ES256 access tokens).
    #[serde(default)]
    pub jti: Option<String>,
}

impl Claims {
    /// The session the token belongs to.
    pub fn session_id(&self) -> Option<&str> {
        match self.typ.as_str() {
            "access" => self.sid.as_deref().or(self.iss.as_deref()),
            "refresh" => self.baas_id.as_deref(),
            _ => None,
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token of ours: bad format, signature, algorithm or key.
    Malformed,
    /// Past `exp`.
    Expired,
    /// A token of the other kind.
    WrongType,
}

struct Secret {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// Signs and verifies both kinds of token.
#[derive(Clone)]
pub struct Signer {
    secrets: std::sync::Arc<Vec<Secret>>,
    keys: std::sync::Arc<Vec<SigningKey>>,
    /// ES256 signatures already verified: SHA-256 of the token → its claims. An ECDSA verification
    /// costs tens of microseconds, and clients send the same access token many times; the cache skips
    /// only the signature check (expiry, kind and the session are checked on every use). Bounded: it
    /// is emptied when full.
    verified: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<[u8; 32], Claims>>>,
}

/// Most entries of the verified-signature cache.
const VERIFIED_CACHE: usize = 10_000;

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secrets: Vec<&str> = self.secrets.iter().map(|k| k.kid.as_str()).collect();
        let keys: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("Signer")
            .field("secrets", &secrets)
            .field("keys", &keys)
            .finish()
    }
}

/// The `kid` of an HS256 secret: 16 hex of its SHA-256.
pub fn key_id(secret: &[u8]) -> String {
    hex::encode(&Sha256::digest(secret)[..8])
}

impl Signer {
    /// A signer with these HS256 secrets (the first signs refresh tokens, all verify) and these ES256
    /// keys (the first signs access tokens, all verify and are published).
    pub fn new<S: AsRef<[u8]>>(secrets: &[S], keys: Vec<SigningKey>) -> Self {
        assert!(!secrets.is_empty(), "at least one refresh-token secret");
        assert!(!keys.is_empty(), "at least one signing key");
        let secrets = secrets
            .iter()
            .map(|s| Secret {
                kid: key_id(s.as_ref()),
                encoding: EncodingKey::from_secret(s.as_ref()),
                decoding: DecodingKey::from_secret(s.as_ref()),
            })
            .collect();
        Signer {
            secrets: std::sync::Arc::new(secrets),
            keys: std::sync::Arc::new(keys),
            verified: Default::default(),
        }
    }

    /// The published keys, signing key first.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// A new access token (ES256, the first signing key).
    pub fn sign_access(&self, claims: &AccessClaims) -> String {
        let key = &self.keys[0];
        let header = Header {
            typ: Some("at+jwt".to_owned()),
            kid: Some(key.kid.clone()),
            ..Header::new(Algorithm::ES256)
        };
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .expect("ES256 signing with a valid key")
    }

    /// A new refresh token (HS256, the first secret).
    pub fn sign_refresh(&self, claims: &RefreshClaims) -> String {
        self.sign_hs256(claims)
    }

    /// An HS256 token with the first secret (refresh tokens; the access tokens of earlier releases).
    pub fn sign_hs256(&self, claims: &impl Serialize) -> String {
        let secret = &self.secrets[0];
        let header = Header {
            kid: Some(secret.kid.clone()),
            ..Header::new(Algorithm::HS256)
        };
        jsonwebtoken::encode(&header, claims, &secret.encoding).expect("HS256 signing cannot fail")
    }

    /// The claims of a token signed by us, without checking `exp` or the kind: ES256 with a published
    /// key (`kid` required), or HS256 with a secret. Anything else — `none`, another algorithm, HS256
    /// keyed with a public key, an unknown `kid`, a bad signature — is `Malformed`.
    pub fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.required_spec_claims = ["exp".to_owned()].into_iter().collect();
        let claims = match header.alg {
            Algorithm::ES256 => {
                let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
                let cache = || self.verified.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(claims) = cache().get(&digest) {
                    return Ok(claims.clone());
                }
                let kid = header.kid.as_deref().ok_or(TokenError::Malformed)?;
                let key = self
                    .keys
                    .iter()
                    .find(|k| k.kid == kid)
                    .ok_or(TokenError::Malformed)?;
                let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
                    .map_err(|_| TokenError::Malformed)?
                    .claims;
                // Only access tokens are ever signed with the published keys.
                if claims.typ != "access" || header.typ.as_deref() != Some("at+jwt") {
                    return Err(TokenError::Malformed);
                }
                let mut cache = cache();
                if cache.len() >= VERIFIED_CACHE {
                    cache.clear();
                }
                cache.insert(digest, claims.clone());
                claims
            }
            Algorithm::HS256 => {
                self.secrets
                    .iter()
                    .filter(|k| header.kid.as_deref().is_none_or(|kid| kid == k.kid))
                    .find_map(|k| {
                        jsonwebtoken::decode::<Claims>(token, &k.decoding, &validation).ok()
                    })
                    .ok_or(TokenError::Malformed)?
                    .claims
            }
            _ => return Err(TokenError::Malformed),
        };
        Ok(claims)
    }

    /// A token of `kind` signed by us, unexpired at `now`, naming its session.
    pub fn verify(&self, token: &str, kind: TokenKind, now: i64) -> Result<Claims, TokenError> {
        let claims = self.decode(token)?;
        if Some(claims.typ.as_str()) != kind.claim() {
            return Err(TokenError::WrongType);
        }
        if claims.session_id().is_none() {
            return Err(TokenError::Malformed);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

    use super::*;
    use crate::crypto::signing::{generate_pem, SigningKey};

    fn key() -> SigningKey {
        SigningKey::from_pem(&generate_pem(), "test").unwrap()
    }

    fn access(exp: i64) -> AccessClaims {
        AccessClaims {
            iss: "https://auth.example".into(),
            sub: "u".into(),
            aud: vec!["app".into()],
            iat: 0,
            exp,
            jti: "j".into(),
            client_id: "app".into(),
            sid: "s".into(),
            provider: "api-key".into(),
            api_key_id: Some("k".into()),
            typ: "access",
            baas_device_id: "d".into(),
            baas_domain_id: "app".into(),
            scope: None,
            user_data: None,
            extra: BTreeMap::new(),
        }
    }

    fn refresh(exp: i64) -> RefreshClaims {
        RefreshClaims {
            sub: "u".into(),
            typ: "refresh",
            iat: 0,
            exp,
            baas_device_id: "d".into(),
            baas_domain_id: "app".into(),
            baas_id: "s".into(),
        }
    }

    const SECRET: &[u8] = b"old-secret-old-secret-old-secret";

    #[test]
    fn access_tokens_are_es256_refresh_tokens_hs256() {
        let signer = Signer::new(&[SECRET], vec![key()]);
        let t = signer.sign_access(&access(100));
        let header = jsonwebtoken::decode_header(&t).unwrap();
        assert_eq!(
            (header.alg, header.typ.as_deref(), header.kid.as_deref()),
            (
                Algorithm::ES256,
                Some("at+jwt"),
                Some(signer.keys()[0].kid.as_str())
            )
        );
        let claims = signer.verify(&t, TokenKind::Access, 99).unwrap();
        assert_eq!((claims.sub.as_str(), claims.session_id()), ("u", Some("s")));
        assert_eq!(
            signer.verify(&t, TokenKind::Access, 100),
            Err(TokenError::Expired)
        );
        assert_eq!(
            signer.verify(&t, TokenKind::Refresh, 0),
            Err(TokenError::WrongType)
        );
        let r = signer.sign_refresh(&refresh(100));
        assert_eq!(
            jsonwebtoken::decode_header(&r).unwrap().alg,
            Algorithm::HS256
        );
        assert_eq!(
            signer
                .verify(&r, TokenKind::Refresh, 0)
                .unwrap()
                .session_id(),
            Some("s")
        );
        assert_eq!(
            signer.verify(&r, TokenKind::Access, 0),
            Err(TokenError::WrongType)
        );
        // Another key, an unknown kid, a tampered payload: refused.
        let other = Signer::new(&[SECRET], vec![key()]);
        assert_eq!(
            other.verify(&t, TokenKind::Access, 0),
            Err(TokenError::Malformed)
        );
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap())
                .unwrap()
                .replace("\"sub\":\"u\"", "\"sub\":\"v\""),
        );
        assert_eq!(signer.decode(&parts.join(".")), Err(TokenError::Malformed));
    }

    #[test]
    fn old_hs256_access_tokens_still_verify_and_forgeries_do_not() {
        let signer = Signer::new(&[SECRET], vec![key()]);
        // An access token of an earlier release: HS256, the session id in `iss`.
        let legacy = signer.sign_hs256(&serde_json::json!({
            "sub": "u", "typ": "access", "iat": 0, "exp": 100, "iss": "s",
            "baas_device_id": "d", "baas_domain_id": "app"
        }));
        assert_eq!(
            signer
                .verify(&legacy, TokenKind::Access, 0)
                .unwrap()
                .session_id(),
            Some("s")
        );
        // HS256 keyed with the public key (algorithm confusion): refused.
        let jwk = &signer.keys()[0].jwk;
        let confused = jsonwebtoken::encode(
            &Header {
                kid: Some(jwk.kid.clone()),
                ..Header::new(Algorithm::HS256)
            },
            &access(100),
            &EncodingKey::from_secret(format!("{}{}", jwk.x, jwk.y).as_bytes()),
        )
        .unwrap();
        assert_eq!(signer.decode(&confused), Err(TokenError::Malformed));
        // alg none: refused.
        let payload = legacy.split('.').nth(1).unwrap();
        let none = format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
        );
        assert_eq!(signer.decode(&none), Err(TokenError::Malformed));
        // A refresh-shaped token signed with a published key is not a refresh token.
        let fake_refresh = jsonwebtoken::encode(
            &Header {
                typ: Some("at+jwt".into()),
                kid: Some(jwk.kid.clone()),
                ..Header::new(Algorithm::ES256)
            },
            &refresh(100),
            &signer.keys()[0].encoding,
        )
        .unwrap();
        assert_eq!(signer.decode(&fake_refresh), Err(TokenError::Malformed));
    }

    #[test]
    fn rotation_of_secrets_and_keys() {
        let (old_key, new_key) = (generate_pem(), generate_pem());
        let k = |pem: &str| SigningKey::from_pem(pem, "t").unwrap();
        let before = Signer::new(&[SECRET], vec![k(&old_key)]);
        let token = before.sign_access(&access(100));
        let refresh_token = before.sign_refresh(&refresh(100));
        // The new key published second, then first: old tokens verify throughout.
        let published = Signer::new(&[SECRET], vec![k(&old_key), k(&new_key)]);
        assert!(published.verify(&token, TokenKind::Access, 0).is_ok());
        let swapped = Signer::new(&[SECRET], vec![k(&new_key), k(&old_key)]);
        assert!(swapped.verify(&token, TokenKind::Access, 0).is_ok());
        let fresh = swapped.sign_access(&access(100));
        assert_eq!(
            jsonwebtoken::decode_header(&fresh).unwrap().kid,
            Some(k(&new_key).kid)
        );
        // The old key removed: its tokens stop verifying; refresh tokens never depended on it.
        let removed = Signer::new(&[SECRET], vec![k(&new_key)]);
        assert_eq!(
            removed.verify(&token, TokenKind::Access, 0),
            Err(TokenError::Malformed)
        );
        assert!(removed.verify(&fresh, TokenKind::Access, 0).is_ok());
        assert!(removed
            .verify(&refresh_token, TokenKind::Refresh, 0)
            .is_ok());
        // Secret rotation: a new secret signs, the old one still verifies.
        let rotated = Signer::new(
            &[b"new-secret-new-secret-new-secret".as_slice(), SECRET],
            vec![k(&new_key)],
        );
        assert!(rotated
            .verify(&refresh_token, TokenKind::Refresh, 0)
            .is_ok());
    }
}
