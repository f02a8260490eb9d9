//! Services the routes and jobs share, built on the store: the rate limiter, the mailer (its queue and
//! worker), the Prometheus metrics, the aggregated audit, the JWT verifiers of the custom JWT provider
//! and of Google and Apple, the other sign-in providers (`social`) and the requests they make
//! (`outbound`). The edges inside this layer: mail → metrics; custom_jwt → outbound; social →
//! custom_jwt, outbound.

pub mod audit_batch;
pub mod custom_data;
pub mod custom_jwt;
pub mod mail;
pub mod metrics;
pub mod outbound;
pub mod ratelimit;
pub mod social;
pub mod webhooks;
