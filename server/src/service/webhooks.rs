//! Webhooks in the Standard Webhooks format (issue 31): the signature (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`; a `whsec_` secret is base64-decoded
//! first) shared with the authentication function, and one delivery of an outbox event to the operator's
//! endpoint. Which events are written, and when they are retried, is the outbox's and the delivery job's.

use std::time::Duration;

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::outbound;
use crate::config::WebhookConfig;
use crate::db::webhooks::Delivery;
use crate::util::now_secs;

/// The HMAC key of a shared secret: a Standard Webhooks secret (`whsec_` + base64) is decoded, any other
/// secret is used as its bytes.
pub fn signing_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|b64| STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The Standard Webhooks signature of `body` sent as message `id` at `timestamp`: `v1,<base64>`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The Standard Webhooks headers of `body` sent as message `id` now, signed with `key`.
pub fn headers(key: &[u8], id: &str, body: &str) -> [(&'static str, String); 3] {
    let timestamp = now_secs();
    [
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature(key, id, timestamp, body)),
    ]
}

/// The operator's webhook endpoint.
pub struct Webhooks {
    client: reqwest::Client,
    url: url::Url,
    key: Vec<u8>,
    /// How long an event is retried (from when it was written).
    pub retry_for: Duration,
    /// The longest a delivery may take.
    pub timeout: Duration,
    /// The event types delivered (others are marked failed, never posted).
    pub events: Vec<String>,
}

impl Webhooks {
    /// The endpoint of `config` (no network until a delivery).
    pub fn new(config: &WebhookConfig) -> Result<Webhooks, String> {
        Ok(Webhooks {
            client: outbound::client(config.timeout)?,
            url: outbound::checked_url("--webhook-url", &config.url)?,
            key: signing_key(&config.secret),
            retry_for: config.retry_for,
            timeout: config.timeout,
            events: config.events.clone(),
        })
    }

    /// Posts `delivery`; `Err` says why it did not count (not 2xx, unreachable, too slow).
    pub async fn deliver(&self, delivery: &Delivery) -> Result<(), String> {
        let mut request = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("user-agent", "appkeys-webhooks");
        for (name, value) in headers(&self.key, &delivery.id, &delivery.payload) {
            request = request.header(name, value);
        }
        let response = request
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        match response.status() {
            s if s.is_success() => Ok(()),
            s => Err(format!("HTTP {s}")),
        }
    }
}

/// The wait before attempt `attempts + 1`: 1 s, doubling, at most an hour.
pub fn backoff(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 13) - 1).unwrap_or(0);
    Duration::from_secs(2u64.pow(exponent)).min(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(signing_key("plain secret"), b"plain secret".to_vec());
    }

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(40), Duration::from_secs(3600));
    }
}
