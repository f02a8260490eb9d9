//! HS256 JWTs (hand-rolled with hmac + sha2; both tokens are JWTs so realm-core can parse them).

use appkeys_protocol::TokenKind;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Refresh tokens live 60 days.
pub const REFRESH_TTL_SECS: i64 = 60 * 24 * 60 * 60;

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

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
    /// Not a JWT signed by us.
    Malformed,
    /// Past `exp`.
    Expired,
    /// An access token where a refresh token was needed, or the reverse.
    WrongType,
}

/// Signs and verifies tokens with one secret.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// A signer for the given secret.
    pub fn new(secret: &[u8]) -> Self {
        Signer {
            key: secret.to_vec(),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts any key length")
    }

    /// Serialises and signs the claims.
    pub fn sign(&self, claims: &Claims) -> String {
        let payload = serde_json::to_vec(claims).expect("claims serialise");
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(HEADER),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{sig}")
    }

    /// Checks signature and header; returns the claims without looking at `exp` or `typ`.
    pub fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        mac.verify_slice(&sig).map_err(|_| TokenError::Malformed)?;
        let header: serde_json::Value = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(TokenError::Malformed);
        }
        URL_SAFE_NO_PAD
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
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
}
