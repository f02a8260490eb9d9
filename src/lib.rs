//! appkeys SDK (skeleton; see issue 3).
pub use appkeys_protocol as protocol;
