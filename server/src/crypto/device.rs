//! Device secrets: 256 random bits (64 hex) that an email/password login gives the device that logged in;
//! sent back with its later logins, they prove a known device (see `db::devices`, stored as SHA-256).

use rand::RngCore;

/// Hex characters of a device secret.
pub const SECRET_HEX_LEN: usize = 64;

/// A new device secret.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_HEX_LEN / 2];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether `secret` has the form of a device secret (anything else is ignored, never looked up).
pub fn is_well_formed(secret: &str) -> bool {
    secret.len() == SECRET_HEX_LEN
        && secret
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_secrets_are_well_formed_and_differ() {
        let (a, b) = (new_secret(), new_secret());
        assert!(is_well_formed(&a) && is_well_formed(&b));
        assert_ne!(a, b);
        assert!(!is_well_formed(&a[1..]));
        assert!(!is_well_formed(
            &a.to_ascii_uppercase()
                .replace(|c: char| c.is_ascii_digit(), "A")
        ));
    }
}
