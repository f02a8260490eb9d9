//! Secrets and what is made of them: the API key format and its hash, emailed link tokens, the access
//! and refresh tokens (JWTs) and their signing secrets, the checks of custom JWTs, device secrets, and bounded Argon2id
//! password hashing.

pub mod apikey;
pub mod custom_jwt;
pub mod device;
pub mod link_token;
pub mod passwords;
pub mod secrets;
pub mod signing;
pub mod token;
