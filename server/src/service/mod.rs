//! Services the routes and jobs share, built on the store: the rate limiter, the mailer (its queue and
//! worker), the Prometheus metrics, the aggregated audit and the custom JWT provider's keys. The one
//! edge inside this layer: mail → metrics.

pub mod audit_batch;
pub mod custom_jwt;
pub mod mail;
pub mod metrics;
pub mod ratelimit;
