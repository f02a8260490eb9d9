//! Verifying the JWTs of an app's own identity provider (`custom-token` logins) and the ID tokens of
//! Google and Apple, with no I/O: the keys come from the caller (a JWKS, static public keys or HS256
//! secrets). What is checked: at most [`MAX_TOKEN_LEN`]
//! characters; the algorithm pinned to the key's (no `none`, no HS256 keyed with a public key); the
//! signature; `exp`, `aud` (any one of the accepted audiences) and `sub` required; `nbf` and `iat`
//! honoured, with [`LEEWAY_SECS`] of clock skew; `iss` if configured; required metadata claims present.

use jsonwebtoken::{jwk::Jwk, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::config::MetadataField;

/// Longest token accepted (characters), as App Services.
pub const MAX_TOKEN_LEN: usize = 2048;

/// Clock skew allowed on `exp`, `nbf` and `iat` (seconds).
pub const LEEWAY_SECS: u64 = 30;

/// Longest `sub` kept as an identity id.
pub const MAX_SUBJECT_LEN: usize = 255;

/// Why a token was refused (the message says it; never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Longer than [`MAX_TOKEN_LEN`].
    TooLong,
    /// Not a JWT.
    Malformed,
    /// No `kid` in the header (JWKS mode).
    NoKeyId,
    /// No published key has this `kid`.
    UnknownKey,
    /// The header's algorithm is not the key's.
    Algorithm,
    /// The signature does not verify.
    Signature,
    /// `exp` passed.
    Expired,
    /// `nbf` (or `iat`) lies in the future.
    NotYetValid,
    /// `aud` names none of the accepted audiences.
    Audience,
    /// `iss` is not the configured issuer.
    Issuer,
    /// A required claim (`exp`, `aud`, `sub`) is missing or of the wrong type.
    MissingClaim(&'static str),
    /// A required metadata claim is missing.
    Metadata(String),
    /// The provider itself refused the credentials (Facebook's token check, the authentication
    /// function, a code exchange): its reason.
    Provider(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::TooLong => write!(f, "the token is longer than {MAX_TOKEN_LEN} characters"),
            Refused::Malformed => f.write_str("the token is not a JWT"),
            Refused::NoKeyId => f.write_str("the token's header has no `kid`"),
            Refused::UnknownKey => {
                f.write_str("no key of the identity provider has the token's `kid`")
            }
            Refused::Algorithm => {
                f.write_str("the token's algorithm is not the one its key allows")
            }
            Refused::Signature => f.write_str("the token's signature does not verify"),
            Refused::Expired => f.write_str("the token has expired"),
            Refused::NotYetValid => f.write_str("the token is not valid yet (`nbf` or `iat`)"),
            Refused::Audience => f.write_str("the token's audience is not accepted"),
            Refused::Issuer => f.write_str("the token's issuer is not accepted"),
            Refused::MissingClaim(c) => write!(f, "the token has no valid `{c}` claim"),
            Refused::Metadata(name) => {
                write!(f, "the token lacks the required metadata field `{name}`")
            }
            Refused::Provider(why) => write!(f, "the provider refused the credentials: {why}"),
        }
    }
}

/// A verified token: the subject and the metadata fields (a JSON object, `None` if there are none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `sub`: the identity id.
    pub sub: String,
    /// The metadata fields found, as a JSON object.
    pub data: Option<String>,
}

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// Accepted audiences (any one).
    pub audiences: &'a [String],
    /// Accepted issuers (any one); empty: any.
    pub issuers: &'a [String],
    /// Metadata fields to copy.
    pub metadata: &'a [MetadataField],
    /// Now (seconds since the epoch).
    pub now: u64,
}

/// The header of a token short enough to look at: `(algorithm, kid)`.
pub fn header(token: &str) -> Result<(Algorithm, Option<String>), Refused> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Refused::TooLong);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| Refused::Malformed)?;
    Ok((header.alg, header.kid))
}

/// A published key usable for `custom-token` logins: `(kid, key, algorithm)`. RSA keys verify RS256
/// and P-256 keys ES256 (an `alg` member must agree); encryption keys, keys without `kid` and other
/// types are skipped (`None`).
pub fn jwk_key(jwk: &Jwk) -> Option<(String, DecodingKey, Algorithm)> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, KeyAlgorithm, PublicKeyUse};
    let kid = jwk.common.key_id.clone()?;
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        _ => return None,
    };
    let declared = match jwk.common.key_algorithm {
        None => alg,
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(_) => return None,
    };
    if declared != alg {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((kid, key, alg))
}

/// A static public key from PEM (`--custom-jwt-public-key-file`): RSA keys verify RS256, P-256 keys
/// ES256.
pub fn pem_key(pem: &str) -> Result<(DecodingKey, Algorithm), String> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
        return Ok((key, Algorithm::RS256));
    }
    DecodingKey::from_ec_pem(pem.as_bytes())
        .map(|key| (key, Algorithm::ES256))
        .map_err(|_| "not an RSA or P-256 public key in PEM".to_owned())
}

/// Verifies `token` with `key` for `alg` under `rules`.
pub fn verify(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
    rules: &Rules<'_>,
) -> Result<Verified, Refused> {
    use jsonwebtoken::errors::ErrorKind;
    if token.len() > MAX_TOKEN_LEN {
        return Err(Refused::TooLong);
    }
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.set_audience(rules.audiences);
    if rules.issuers.is_empty() {
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    } else {
        validation.set_issuer(rules.issuers);
        validation.set_required_spec_claims(&["exp", "aud", "sub", "iss"]);
    }
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => Refused::Algorithm,
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidRsaKey(_) => Refused::Signature,
            ErrorKind::ExpiredSignature => Refused::Expired,
            ErrorKind::ImmatureSignature => Refused::NotYetValid,
            ErrorKind::InvalidAudience => Refused::Audience,
            ErrorKind::InvalidIssuer => Refused::Issuer,
            ErrorKind::MissingRequiredClaim(c) => match c.as_str() {
                "exp" => Refused::MissingClaim("exp"),
                "aud" => Refused::MissingClaim("aud"),
                "iss" => Refused::Issuer,
                _ => Refused::MissingClaim("sub"),
            },
            _ => Refused::Malformed,
        })?
        .claims;
    let iat = claims.get("iat");
    if iat.is_some_and(|v| !v.is_number()) {
        return Err(Refused::MissingClaim("iat"));
    }
    if iat
        .and_then(Value::as_f64)
        .is_some_and(|iat| iat > (rules.now + LEEWAY_SECS) as f64)
    {
        return Err(Refused::NotYetValid);
    }
    let sub = match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SUBJECT_LEN => s.clone(),
        _ => return Err(Refused::MissingClaim("sub")),
    };
    let mut data = Map::new();
    for field in rules.metadata {
        match claim(&claims, &field.path) {
            Some(value) => {
                data.insert(field.name.clone(), Value::String(value));
            }
            None if field.required => return Err(Refused::Metadata(field.name.clone())),
            None => {}
        }
    }
    let data = (!data.is_empty()).then(|| Value::Object(data).to_string());
    Ok(Verified { sub, data })
}

/// The claim at a dot path as profile text: strings as they are, numbers and booleans as their JSON
/// text, objects and arrays as JSON; `null` and absent claims are `None`.
fn claim(claims: &Map<String, Value>, path: &str) -> Option<String> {
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "a secret of at least thirty-two characters";

    fn sign(claims: Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    fn check(token: &str, metadata: &[MetadataField]) -> Result<Verified, Refused> {
        let audiences = ["app".to_owned()];
        let issuers = ["idp".to_owned()];
        let rules = Rules {
            audiences: &audiences,
            issuers: &issuers,
            metadata,
            now: 1_000_000,
        };
        let key = DecodingKey::from_secret(SECRET.as_bytes());
        verify(token, &key, Algorithm::HS256, &rules)
    }

    #[test]
    fn claims_are_checked() {
        let far = 4_000_000_000u64;
        let ok =
            json!({"sub": "u1", "aud": ["x", "app"], "iss": "idp", "exp": far, "iat": 999_990});
        assert_eq!(check(&sign(ok.clone()), &[]).unwrap().sub, "u1");
        let with = |k: &str, v: Value| {
            let mut c = ok.clone();
            c[k] = v;
            check(&sign(c), &[])
        };
        assert_eq!(with("exp", json!(1)), Err(Refused::Expired));
        assert_eq!(with("aud", json!("other")), Err(Refused::Audience));
        assert_eq!(with("iss", json!("evil")), Err(Refused::Issuer));
        assert_eq!(with("sub", json!(7)), Err(Refused::MissingClaim("sub")));
        assert_eq!(with("iat", json!(far)), Err(Refused::NotYetValid));
        assert_eq!(with("nbf", json!(far)), Err(Refused::NotYetValid));
        let mut no_sub = ok.clone();
        no_sub.as_object_mut().unwrap().remove("sub");
        assert_eq!(check(&sign(no_sub), &[]), Err(Refused::MissingClaim("sub")));
        let long = with("pad", json!("x".repeat(MAX_TOKEN_LEN)));
        assert_eq!(long, Err(Refused::TooLong));
    }

    #[test]
    fn metadata_paths_and_required_fields() {
        let fields = [
            MetadataField::parse("name=profile.name").unwrap(),
            MetadataField::parse("age=age").unwrap(),
            MetadataField::parse("team!=org.team").unwrap(),
        ];
        let claims = json!({"sub": "u", "aud": "app", "iss": "idp", "exp": 4_000_000_000u64,
            "profile": {"name": "Ada"}, "age": 36, "org": {"team": "core"}});
        let v = check(&sign(claims.clone()), &fields).unwrap();
        let data: Value = serde_json::from_str(&v.data.unwrap()).unwrap();
        assert_eq!(data, json!({"name": "Ada", "age": "36", "team": "core"}));
        let mut without = claims;
        without["org"] = json!({});
        assert_eq!(
            check(&sign(without), &fields),
            Err(Refused::Metadata("team".to_owned()))
        );
        assert!(MetadataField::parse(&format!("{}=a", "f".repeat(65))).is_err());
        assert!(MetadataField::parse("f=a..b").is_err());
        assert!(MetadataField::parse("nothing").is_err());
    }
}
