//! Requests to other services (identity providers' keys and token endpoints, the Graph API, the
//! operator's authentication function): https only (plain http to a loopback host, for a local provider
//! and tests), bounded in time by the client and in size by [`read_limited`], at most 3 redirects and
//! none to plain http.

use std::time::Duration;

/// Whether `url` is https, or http to a loopback host.
pub(crate) fn safe_scheme(url: &url::Url) -> bool {
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

/// `url` (the value of `flag`) if it may be called: a URL, https or http on loopback.
pub fn checked_url(flag: &str, url: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{flag} {url}: {e}"))?;
    if !safe_scheme(&parsed) {
        return Err(format!(
            "{flag} {url}: must be https (plain http only on loopback): what is fetched in the clear \
             could be swapped on the way"
        ));
    }
    Ok(parsed)
}

/// A client whose whole request (connect, answer, body) takes at most `timeout`.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= 3 {
                attempt.error("too many redirects")
            } else if !safe_scheme(attempt.url()) {
                attempt.error("a redirect to plain http")
            } else {
                attempt.follow()
            }
        }))
        .user_agent(concat!("appkeys-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// The body of `response`, refused past `max` bytes (declared or streamed).
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("the answer is larger than {max} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| e.without_url().to_string())?
    {
        if body.len() + chunk.len() > max {
            return Err(format!("the answer is larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
