//! appkeys: the client SDK for user API keys of Atlas App Services-style apps (issue 3).
//!
//! The crate has two layers:
//! * a pure-Rust, sans-IO core (this module tree, no wasm-bindgen): request building per
//!   [`appkeys_protocol::Endpoint`], response and error interpretation, the refresh-and-retry state
//!   machine with shared refreshes, user state and storage layout. Each SDK operation is a
//!   [`client::Task`] that [`client::AppCore::step`] advances with responses; storage sits behind
//!   [`client::Store`] and JSON values behind [`json::Json`], so `cargo test -p appkeys` drives all of
//!   it natively against an in-memory server;
//! * a thin `#[wasm_bindgen]` layer (`wasm`, only on `wasm32`) that drives tasks with the global
//!   `fetch` and promise chains, parses and writes JSON in JavaScript (far cheaper in bytes than serde
//!   in the wasm), and builds realm-web 2.0.1's objects: `App`, `Credentials`, `User`, `user.apiKeys`.
// Errors are rare and short-lived; boxing them would only add code to the wasm.
#![allow(clippy::result_large_err)]
// `String::push(char)` brings UTF-8 encoding code into the wasm; `push_str("x")` does not.
#![allow(clippy::single_char_add_str)]
// Without the `std` feature (the npm package's wasm, see Cargo.toml) the crate is `no_std` + `alloc`.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

/// The `alloc` names the crate uses, for the `no_std` build (the std prelude has them otherwise).
mod prelude {
    pub use alloc::borrow::ToOwned;
    pub use alloc::boxed::Box;
    pub use alloc::rc::Rc;
    pub use alloc::string::String;
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}

pub use appkeys_protocol as protocol;

pub mod client;
pub mod error;
pub mod http;
pub mod json;
pub mod slot;

/// The JS API (`#[wasm_bindgen]` exports); public so the wasm-bindgen tests can drive it.
#[cfg(target_arch = "wasm32")]
pub mod wasm;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod core_tests;

/// The base URL used when the App config names none: the local server's default address.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:9090";
