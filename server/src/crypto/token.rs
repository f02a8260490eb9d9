//! HS256 JWTs with the `jsonwebtoken` crate. Both tokens are JWTs (realm-core parses them). Each
//! token names its key in the header (`kid`), so secrets can be rotated: the first secret signs,
//! every configured one verifies.

use appkeys_protocol::TokenKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The claims appkeys puts in its tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// `"access"` or `"refresh"`.
    pub typ: String,
    /// Issued at (seconds).
    pub iat: i64,
    /// Expires at (seconds).
    pub exp: i64,
    /// Device id.
    pub baas_device_id: String,
    /// App id.
    pub baas_domain_id: String,
    /// Session id (access tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Session id (refresh tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baas_id: Option<String>,
}

impl Claims {
    /// The session id the token belongs to.
    pub fn session_id(&self) -> Option<&str> {
        match self.typ.as_str() {
            "access" => self.iss.as_deref(),
            "refresh" => self.baas_id.as_deref(),
            _ => None,
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT signed by one of our keys (or not HS256).
    Malformed,
    /// Past `exp`.
    Expired,
    /// An access token where a refresh token was needed, or the reverse.
    WrongType,
}

struct Key {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// Signs with the first secret and verifies with any of them.
#[derive(Clone)]
pub struct Signer {
    keys: std::sync::Arc<Vec<Key>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("Signer").field("kids", &kids).finish()
    }
}

/// The key id of a secret: 16 hex digits of its SHA-256 (names the key, reveals nothing of it).
pub fn key_id(secret: &[u8]) -> String {
    hex::encode(&Sha256::digest(secret)[..8])
}

impl Signer {
    /// A signer with one secret.
    pub fn new(secret: &[u8]) -> Self {
        Signer::with_secrets(&[secret])
    }

    /// A signer whose first secret signs; all verify. `secrets` must not be empty.
    pub fn with_secrets<S: AsRef<[u8]>>(secrets: &[S]) -> Self {
        assert!(!secrets.is_empty(), "at least one signing secret");
        let keys = secrets
            .iter()
            .map(|s| Key {
                kid: key_id(s.as_ref()),
                encoding: EncodingKey::from_secret(s.as_ref()),
                decoding: DecodingKey::from_secret(s.as_ref()),
            })
            .collect();
        Signer {
            keys: std::sync::Arc::new(keys),
        }
    }

    /// Serialises and signs the claims (HS256, `kid` of the signing key).
    pub fn sign(&self, claims: &Claims) -> String {
        let key = &self.keys[0];
        let header = Header {
            kid: Some(key.kid.clone()),
            ..Header::new(Algorithm::HS256)
        };
        jsonwebtoken::encode(&header, claims, &key.encoding).expect("HS256 signing cannot fail")
    }

    /// Checks the algorithm (HS256 only: `none` and others are refused) and the signature with the
    /// key the header names (or, without `kid`, any key); returns the claims without looking at
    /// `exp` or `typ`.
    pub fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Malformed);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.required_spec_claims = ["exp".to_owned()].into_iter().collect();
        self.keys
            .iter()
            .filter(|k| header.kid.as_deref().is_none_or(|kid| kid == k.kid))
            .find_map(|k| jsonwebtoken::decode::<Claims>(token, &k.decoding, &validation).ok())
            .map(|data| data.claims)
            .ok_or(TokenError::Malformed)
    }

    /// Full check: signature, type and expiry (`now` in seconds).
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
    use super::*;

    fn claims(typ: &str, exp: i64) -> Claims {
        Claims {
            sub: "u".into(),
            typ: typ.into(),
            iat: 0,
            exp,
            baas_device_id: "d".into(),
            baas_domain_id: "a".into(),
            iss: Some("s".into()),
            baas_id: Some("s".into()),
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let signer = Signer::new(b"secret");
        let t = signer.sign(&claims("access", 100));
        assert_eq!(signer.verify(&t, TokenKind::Access, 99).unwrap().sub, "u");
        assert_eq!(
            signer.verify(&t, TokenKind::Access, 100),
            Err(TokenError::Expired)
        );
        assert_eq!(
            signer.verify(&t, TokenKind::Refresh, 0),
            Err(TokenError::WrongType)
        );
        assert_eq!(
            Signer::new(b"other").verify(&t, TokenKind::Access, 0),
            Err(TokenError::Malformed)
        );
        let mut tampered = t.clone();
        tampered.insert(t.find('.').unwrap() + 2, 'x');
        assert_eq!(
            signer.verify(&tampered, TokenKind::Access, 0),
            Err(TokenError::Malformed)
        );
        assert_eq!(signer.decode("a.b"), Err(TokenError::Malformed));
    }

    #[test]
    fn rotation_and_algorithm_pinning() {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let old = Signer::new(b"old-secret-old-secret-old-secret");
        let token = old.sign(&claims("access", 100));
        // The new secret signs, the old one still verifies; a removed one does not.
        let rotated = Signer::with_secrets(&[
            b"new-secret-new-secret-new-secret".as_slice(),
            b"old-secret-old-secret-old-secret".as_slice(),
        ]);
        assert!(rotated.verify(&token, TokenKind::Access, 0).is_ok());
        let fresh = rotated.sign(&claims("access", 100));
        assert!(fresh.starts_with(&URL_SAFE_NO_PAD.encode(format!(
            r#"{{"typ":"JWT","alg":"HS256","kid":"{}"}}"#,
            key_id(b"new-secret-new-secret-new-secret")
        ))));
        let removed = Signer::new(b"new-secret-new-secret-new-secret");
        assert_eq!(
            removed.verify(&token, TokenKind::Access, 0),
            Err(TokenError::Malformed)
        );
        assert!(removed.verify(&fresh, TokenKind::Access, 0).is_ok());
        // alg "none" (no signature) is refused.
        let payload = token.split('.').nth(1).unwrap();
        let none = format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
        );
        assert_eq!(old.decode(&none), Err(TokenError::Malformed));
    }
}
