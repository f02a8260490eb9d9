//! The ES256 keys that sign access tokens, and what is published of them.
//!
//! A key file holds one or more P-256 private keys in PEM (`BEGIN PRIVATE KEY`, PKCS#8, or `BEGIN EC PRIVATE
//! KEY`, SEC1 — what `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` and
//! `appkeys-server signing-key generate` write). The first key signs; every key is published in the JWKS, so a
//! new key can be published before it signs (rotation). Each key is named by its RFC 7638 JWK thumbprint, so
//! every instance sharing a file names it the same. The file must be private to its owner; SQLite
//! deployments without one get `signing-key.pem` (0600) generated next to the database; the key is never
//! stored in the database.

use std::path::{Path, PathBuf};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{DecodingKey, EncodingKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use p256::SecretKey;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::secrets::{check_private, write_new_private_file, SecretError};

/// One signing key: its private half for signing, its public half for verifying and publishing.
pub struct SigningKey {
    /// RFC 7638 thumbprint of the public key (base64url SHA-256): the `kid`.
    pub kid: String,
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
    /// The public key as published.
    pub jwk: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

/// A public key as RFC 7517 publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jwk {
    /// `EC`.
    pub kty: &'static str,
    /// `P-256`.
    pub crv: &'static str,
    /// The x coordinate, base64url.
    pub x: String,
    /// The y coordinate, base64url.
    pub y: String,
    /// The thumbprint.
    pub kid: String,
    /// `ES256`.
    pub alg: &'static str,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// The RFC 7638 thumbprint of a P-256 public key with coordinates `x` and `y` (base64url).
pub fn thumbprint(x: &str, y: &str) -> String {
    // The required members in lexicographic order, no white space.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

impl SigningKey {
    /// The key of one PEM block (PKCS#8 or SEC1); `source` names where it came from in errors.
    pub fn from_pem(pem: &str, source: &str) -> Result<SigningKey, SecretError> {
        let bad = |why: String| SecretError::BadKey(format!("signing key {source}: {why}"));
        let secret = if pem.contains("BEGIN EC PRIVATE KEY") {
            SecretKey::from_sec1_pem(pem)
                .map_err(|e| bad(format!("not a P-256 EC private key ({e})")))?
        } else if pem.contains("BEGIN PRIVATE KEY") {
            SecretKey::from_pkcs8_pem(pem)
                .map_err(|e| bad(format!("not a P-256 private key ({e})")))?
        } else {
            return Err(bad(
                "expected a PEM 'PRIVATE KEY' or 'EC PRIVATE KEY' block".to_owned(),
            ));
        };
        let der = secret
            .to_pkcs8_der()
            .map_err(|e| bad(format!("cannot encode the key ({e})")))?;
        let encoding = EncodingKey::from_ec_der(der.as_bytes());
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
            &secret.public_key(),
            false,
        );
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(bad("the public key is the identity point".to_owned()));
        };
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        let decoding = DecodingKey::from_ec_components(&x, &y)
            .map_err(|e| bad(format!("cannot use the public key ({e})")))?;
        let kid = thumbprint(&x, &y);
        Ok(SigningKey {
            jwk: Jwk {
                kty: "EC",
                crv: "P-256",
                x,
                y,
                kid: kid.clone(),
                alg: "ES256",
                use_: "sig",
            },
            kid,
            encoding,
            decoding,
        })
    }
}

/// The PEM blocks of a key file's text, in order (anything outside them is ignored).
pub fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("-----BEGIN ") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
            if line.starts_with("-----END ") {
                blocks.push(current.take().unwrap_or_default());
            }
        }
    }
    blocks
}

/// Reads `--signing-key-file`: private to its owner, at least one key; the PEM text of each key.
pub fn read_file(path: &Path) -> Result<Vec<String>, SecretError> {
    check_private(path)?;
    let text = std::fs::read_to_string(path)?;
    let blocks: Vec<String> = pem_blocks(&text)
        .into_iter()
        .filter(|b| !b.contains("PUBLIC KEY") && !b.contains("EC PARAMETERS"))
        .collect();
    if blocks.is_empty() {
        return Err(SecretError::Empty(path.to_owned()));
    }
    for block in &blocks {
        SigningKey::from_pem(block, &path.display().to_string())?;
    }
    Ok(blocks)
}

/// A new P-256 private key, PKCS#8 PEM.
pub fn generate_pem() -> String {
    let secret = SecretKey::random(&mut rand::rngs::OsRng);
    secret
        .to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.to_string())
        .expect("a new P-256 key encodes as PKCS#8")
}

/// The generated key file of a SQLite deployment, `signing-key.pem` next to the database.
pub fn generated_path(db_path: &Path) -> PathBuf {
    let dir = db_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join("signing-key.pem")
}

/// Reads the SQLite-side key file next to the database, creating it (0600, atomically, so instances
/// starting together end up with the same key).
pub fn generated_file(db_path: &Path) -> Result<Vec<String>, SecretError> {
    let path = generated_path(db_path);
    if !path.exists() {
        write_new_private_file(&path, generate_pem().as_bytes())?;
    }
    read_file(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_both_pem_forms_have_the_rfc7638_thumbprint() {
        // RFC 7638 §3.1's example is RSA; this checks the EC member order on a fixed key instead.
        assert_eq!(
            thumbprint("a", "b"),
            URL_SAFE_NO_PAD.encode(Sha256::digest(
                br#"{"crv":"P-256","kty":"EC","x":"a","y":"b"}"#
            ))
        );
        let pem = generate_pem();
        let key = SigningKey::from_pem(&pem, "test").unwrap();
        let secret = SecretKey::from_pkcs8_pem(&pem).unwrap();
        let sec1 = secret.to_sec1_pem(LineEnding::LF).unwrap();
        let same = SigningKey::from_pem(&sec1, "test").unwrap();
        assert_eq!(key.kid, same.kid);
        assert_eq!(key.jwk, same.jwk);
        assert_eq!(key.kid, thumbprint(&key.jwk.x, &key.jwk.y));
        assert!(SigningKey::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "t"
        )
        .is_err());
        let two = format!("# rotation\n{pem}\n{}", sec1.as_str());
        assert_eq!(pem_blocks(&two).len(), 2);
    }
}
