//! appkeys: the client SDK for user API keys of Atlas App Services-style apps.
//!
//! The crate has two layers:
//! * a pure-Rust core, tested natively with `cargo test`: [`app::AppCore`] runs every SDK operation
//!   as an `async fn` (location lookup, login, profile, the API-key routes, realm-web's refresh-and-
//!   retry rules with one shared refresh per user), [`user::UserCore`] holds a user's state,
//!   [`storage`] the persisted layout. HTTP and JSON come from a [`platform::Platform`]; the wire
//!   types are the `appkeys-protocol` serde structs the server uses too;
//! * the `#[wasm_bindgen]` layer (`wasm`, only on `wasm32`): realm-web 2.0.1's classes `App`, `User`,
//!   `ApiKeyAuth`, `EmailPasswordAuth` and `Credentials`, whose methods return promises
//!   (wasm-bindgen-futures) of futures that own clones of the core's `Rc` handles; HTTP through
//!   gloo-net, values into and out of JS through serde-wasm-bindgen, `localStorage` through web-sys.
pub use appkeys_protocol as protocol;

pub mod app;
pub mod credentials;
pub mod error;
pub mod flight;
pub mod platform;
pub mod storage;
pub mod user;

/// The JS API (`#[wasm_bindgen]` classes); public so the wasm-bindgen tests can drive it.
#[cfg(target_arch = "wasm32")]
pub mod wasm;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod core_tests;

/// The base URL used when the App config names none: the local server's default address.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:9090";
