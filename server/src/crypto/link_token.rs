//! The tokens of confirmation and password-reset links: 256 random bits (64 hex), stored only as their
//! SHA-256 hex, named by a public 24-hex id (`tokenId` of the link).

use appkeys_protocol::is_object_id;
use rand::RngCore;

use crate::util::new_id;

/// Hex characters of a token (32 random bytes).
pub const TOKEN_HEX_LEN: usize = 64;

/// A new token: `(id, secret, SHA-256 hex of the secret)`.
pub fn new_token() -> (String, String, String) {
    let mut bytes = [0u8; TOKEN_HEX_LEN / 2];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let hash = super::apikey::hash(&secret);
    (new_id(), secret, hash)
}

/// `(id, SHA-256 hex of the token)` of a link's `tokenId` and `token`, both normalised to lower case;
/// `None` when they are malformed (refused without a lookup).
pub fn parse(token: &str, id: &str) -> Option<(String, String)> {
    let well_formed = token.len() == TOKEN_HEX_LEN
        && token.bytes().all(|b| b.is_ascii_hexdigit())
        && is_object_id(id);
    well_formed.then(|| {
        (
            id.to_ascii_lowercase(),
            super::apikey::hash(&token.to_ascii_lowercase()),
        )
    })
}
