//! The API key secret format: `appk_` + 43 base62 characters of CSPRNG output (≥ 256 bits) + 6 base62
//! characters of the CRC32 of the random part. 54 characters in all.

use rand::{rngs::OsRng, RngCore};
use sha2::{Digest, Sha256};

/// Prefix of every key.
pub const PREFIX: &str = "appk_";
/// Random characters.
pub const RANDOM_LEN: usize = 43;
/// Checksum characters.
pub const CHECK_LEN: usize = 6;
/// Total key length.
pub const KEY_LEN: usize = PREFIX.len() + RANDOM_LEN + CHECK_LEN;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn checksum(random: &str) -> String {
    let mut n = crc32fast::hash(random.as_bytes()) as u64;
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("ascii")
}

/// A fresh secret key.
pub fn generate() -> String {
    let mut random = String::with_capacity(RANDOM_LEN);
    let mut buf = [0u8; 64];
    while random.len() < RANDOM_LEN {
        OsRng.fill_bytes(&mut buf);
        for b in buf {
            // 248 = 4 * 62: rejection sampling keeps every character uniform.
            if b < 248 && random.len() < RANDOM_LEN {
                random.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    let check = checksum(&random);
    format!("{PREFIX}{random}{check}")
}

/// True when `key` has the right prefix, length, alphabet and checksum (no database needed).
pub fn is_well_formed(key: &str) -> bool {
    if key.len() != KEY_LEN || !key.starts_with(PREFIX) {
        return false;
    }
    let body = &key[PREFIX.len()..];
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (random, check) = body.split_at(RANDOM_LEN);
    checksum(random) == check
}

/// SHA-256 hex of the whole key: what the database stores.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The non-secret prefix shown to users: `appk_` + the first 4 random characters.
pub fn start(key: &str) -> String {
    key[..PREFIX.len() + 4].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_well_formed_and_distinct() {
        let a = generate();
        let b = generate();
        assert_eq!(a.len(), 54);
        assert!(is_well_formed(&a) && is_well_formed(&b));
        assert_ne!(a, b);
        assert_eq!(start(&a).len(), 9);
        assert_eq!(hash(&a).len(), 64);
    }

    #[test]
    fn malformed_keys_are_refused() {
        let k = generate();
        let mut flipped = k.clone().into_bytes();
        flipped[10] = if flipped[10] == b'a' { b'b' } else { b'a' };
        assert!(!is_well_formed(&String::from_utf8(flipped).unwrap()));
        assert!(!is_well_formed(&k[..53]));
        assert!(!is_well_formed(&format!("xxxx_{}", &k[5..])));
        assert!(!is_well_formed(&format!("{}-{}", &k[..20], &k[21..])));
        assert!(!is_well_formed(""));
    }
}
