//! `appkeys-server`: a self-hostable, App Services–compatible auth server with user API keys.
//!
//! Layers, bottom to top; a module imports only from the layers below it (checked by
//! `scripts/check-layers.mjs` in the test command):
//!
//! 1. leaves — [`error`], [`config`], [`util`]; then [`model`] (audit events, purposes, the email and
//!    password rules) and [`crypto`] (key format, link tokens, JWTs and secrets, Argon2id);
//! 2. [`db`] — the [`Store`]: one file per entity, each with its own `impl Store` block; no HTTP;
//! 3. [`service`] — rate limiter, mailer, metrics (the one edge inside the layer: mail → metrics);
//! 4. [`state`] — [`AppState`]: builds everything, issues tokens;
//! 5. [`jobs`] (sweep, `lastUsedAt` flush) and [`http`] (router, extractors, routes, serving);
//! 6. the binary `src/bin/appkeys-server/` (command line, admin commands, startup).
//!
//! See `docs/ARCHITECTURE.md` for one request end to end and `docs/PROTOCOL.md` for the wire contract.

pub mod config;
pub mod error;
pub mod util;

pub mod crypto;
pub mod model;

pub mod db;

pub mod service;

pub mod state;

pub mod http;
pub mod jobs;

pub use config::{Config, HashLimits, RateLimits};
pub use db::{Backend, Store, StoreError, StoreOptions};
pub use error::AppError;
pub use http::{app, metrics_app};
pub use state::{AppState, StateError};
