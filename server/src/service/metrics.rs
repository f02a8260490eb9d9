//! Prometheus metrics (`GET /metrics`, text format): requests by route and status, a latency
//! histogram, logins by provider and outcome, rate-limited requests, key operations, emails, active
//! sessions and database pool usage.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::db::Store;
use crate::model::Event;

/// The server's metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    logins: IntCounterVec,
    limited: IntCounterVec,
    key_operations: IntCounterVec,
    emails: IntCounterVec,
    sessions: IntGaugeVec,
    pool: IntGaugeVec,
    webhooks: IntCounterVec,
    webhook_latency: Histogram,
    webhook_outbox: IntGaugeVec,
    /// When the sessions were last counted (a scrape counts at most every [`SESSIONS_EVERY`]).
    sessions_counted: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

/// How stale the session count of a scrape may be: scrapes stay cheap however often they come.
const SESSIONS_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// Metrics whose values depend on whether an email address has an account: left out of the public
/// `/metrics` (main listener), shown on the private `--metrics-listen` one.
const PRIVATE: &[&str] = &["appkeys_emails_total"];

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Fresh metrics in their own registry.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "appkeys_http_request_duration_seconds",
                "Time to answer a request, by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(latency.clone()))
            .expect("unique metric");
        let webhook_latency = Histogram::with_opts(
            HistogramOpts::new(
                "appkeys_webhook_delivery_seconds",
                "Time from a webhook event's write to its delivery",
            )
            .buckets(vec![
                0.1, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 1800.0, 3600.0, 21600.0,
            ]),
        )
        .expect("valid metric");
        registry
            .register(Box::new(webhook_latency.clone()))
            .expect("unique metric");
        Metrics {
            webhooks: counter(
                "appkeys_webhook_attempts_total",
                "Webhook delivery attempts, by outcome (delivered, retried, failed)",
                &["outcome"],
            ),
            webhook_outbox: gauge(
                "appkeys_webhook_outbox_events",
                "Webhook events in the outbox, by state (pending, delivered, failed); oldest_pending_seconds",
                &["state"],
            ),
            webhook_latency,
            requests: counter(
                "appkeys_http_requests_total",
                "Requests answered, by route pattern, method and status",
                &["route", "method", "status"],
            ),
            logins: counter(
                "appkeys_logins_total",
                "Login attempts, by provider and outcome",
                &["provider", "outcome"],
            ),
            limited: counter(
                "appkeys_rate_limited_total",
                "Requests refused by a rate limit (429), by provider",
                &["provider"],
            ),
            key_operations: counter(
                "appkeys_key_operations_total",
                "API key operations, by operation (created, enabled, disabled, deleted)",
                &["operation"],
            ),
            emails: counter(
                "appkeys_emails_total",
                "Confirmation and reset emails, by kind (confirm, reset) and outcome (sent, failed, dropped)",
                &["kind", "outcome"],
            ),
            sessions: gauge("appkeys_sessions_active", "Sessions in the database", &[]),
            pool: gauge(
                "appkeys_db_pool_connections",
                "Database connections by pool (readers, writer) and state (open, idle)",
                &["pool", "state"],
            ),
            latency,
            registry,
            sessions_counted: Default::default(),
        }
    }

    /// One answered request.
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency.with_label_values(&[route]).observe(seconds);
    }

    /// One webhook delivery attempt (`delivered` with the seconds since the event was written).
    pub fn webhook(&self, outcome: &str, seconds: Option<f64>) {
        self.webhooks.with_label_values(&[outcome]).inc();
        if let Some(s) = seconds {
            self.webhook_latency.observe(s);
        }
    }

    /// The outbox by state.
    pub fn webhook_outbox(&self, counts: &crate::db::webhooks::OutboxCounts) {
        for (state, n) in [
            ("pending", counts.pending),
            ("delivered", counts.delivered),
            ("failed", counts.failed),
            ("oldest_pending_seconds", counts.oldest_pending_ms / 1000),
        ] {
            self.webhook_outbox.with_label_values(&[state]).set(n);
        }
    }

    /// One email sent, failed or dropped.
    pub fn email(&self, kind: &str, outcome: &str) {
        self.emails.with_label_values(&[kind, outcome]).inc();
    }

    /// Counts what an audit event says (logins, rate limits, key operations).
    pub fn event(&self, event: &Event) {
        let provider = event.provider.as_deref().unwrap_or("-");
        match event.event {
            "login.succeeded" | "login.failed" => {
                self.logins
                    .with_label_values(&[provider, event.outcome])
                    .inc();
            }
            "rate_limited" => self.limited.with_label_values(&[provider]).inc(),
            "key.created" | "key.enabled" | "key.disabled" | "key.deleted" => self
                .key_operations
                .with_label_values(&[&event.event["key.".len()..]])
                .inc(),
            _ => {}
        }
    }

    /// The text exposition. `public` (the main listener, reachable by anyone): without the metrics that
    /// would tell whether an address has an account. The session count is at most 15 s old.
    pub async fn render(&self, store: &Store, public: bool) -> String {
        let due = {
            let mut counted = self
                .sessions_counted
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let due = counted.is_none_or(|at| at.elapsed() >= SESSIONS_EVERY);
            if due {
                *counted = Some(std::time::Instant::now());
            }
            due
        };
        if due {
            match store.count("SELECT COUNT(*) FROM sessions").await {
                Ok(n) => self.sessions.with_label_values(&[] as &[&str]).set(n),
                Err(e) => tracing::warn!(error = %e, "metrics: counting sessions failed"),
            }
        }
        for (pool, open, idle) in store.pool_usage() {
            self.pool.with_label_values(&[pool, "open"]).set(open);
            self.pool.with_label_values(&[pool, "idle"]).set(idle);
        }
        let mut families = self.registry.gather();
        if public {
            families.retain(|f| !PRIVATE.contains(&f.name()));
        }
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&families, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
