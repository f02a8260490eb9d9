//! What handlers read from a request: the client (its IP, resolved through trusted proxies, and its
//! `User-Agent`) and the JSON object body (declared JSON, else 415), with App Services–shaped rejections.

use std::net::{IpAddr, SocketAddr};

use appkeys_protocol::ErrorCode;
use axum::{
    body::Bytes,
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request},
    http::{request::Parts, StatusCode},
};
use ipnet::IpNet;
use serde_json::{Map, Value};

use crate::error::AppError;
use crate::model::Client;
use crate::state::AppState;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The request body as a JSON object, declared `application/json`; an empty body is `{}`.
pub(crate) struct JsonObject(pub(crate) Map<String, Value>);

impl FromRequest<AppState> for JsonObject {
    type Rejection = AppError;

    /// Reads the whole body within the body-read timeout (408 `RequestTimeout` after it: a client
    /// trickling its body cannot hold the request open).
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .map(is_json);
        let bytes = read_body(req, state).await?;
        let empty = bytes.iter().all(|b| b.is_ascii_whitespace());
        // A body must be declared JSON (any parameters, e.g. charset): a cross-site `text/plain` POST,
        // which needs no CORS preflight, is never read as a login or a registration.
        match declared {
            Some(false) => return Err(unsupported()),
            None if !empty => return Err(unsupported()),
            _ => {}
        }
        parse_object(&bytes).map(JsonObject)
    }
}

/// Whether a `Content-Type` is `application/json` (case-insensitive, parameters allowed).
fn is_json(value: &axum::http::HeaderValue) -> bool {
    value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

fn unsupported() -> AppError {
    AppError::new(
        ErrorCode::UnsupportedMediaType,
        "the request body must be JSON (Content-Type: application/json)",
    )
}

/// The whole body (at most [`MAX_BODY_BYTES`]) within the body-read timeout, else 413 or 408.
pub(crate) async fn read_body(req: Request, state: &AppState) -> Result<Bytes, AppError> {
    let read = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES);
    match tokio::time::timeout(state.inner.body_read_timeout, read).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => Err(body_error(e)),
        Err(_) => Err(AppError::new(
            ErrorCode::RequestTimeout,
            "the request body was not received in time",
        )),
    }
}

fn body_error(e: axum::Error) -> AppError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if err
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            return AppError::for_status(StatusCode::PAYLOAD_TOO_LARGE);
        }
        source = err.source();
    }
    AppError::new(ErrorCode::BadRequest, "could not read the request body")
}

fn parse_object(bytes: &Bytes) -> Result<Map<String, Value>, AppError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AppError::new(
            ErrorCode::BadRequest,
            "request body must be a JSON object",
        )),
        Err(_) => Err(AppError::new(
            ErrorCode::BadRequest,
            "request body is not valid JSON",
        )),
    }
}

/// A required string field: missing/null/empty → 400 `MissingParameter`, other types → 400
/// `InvalidParameter`.
pub(crate) fn required_str<'a>(
    body: &'a Map<String, Value>,
    field: &str,
) -> Result<&'a str, AppError> {
    match body.get(field) {
        None | Some(Value::Null) => Err(missing(field)),
        Some(Value::String(s)) if s.is_empty() => Err(missing(field)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(AppError::new(
            ErrorCode::InvalidParameter,
            format!("'{field}' must be a string."),
        )),
    }
}

pub(crate) fn missing(field: &str) -> AppError {
    AppError::new(
        ErrorCode::MissingParameter,
        format!("'{field}' is a required string."),
    )
}

/// The client's IP: the socket peer, or — when the peer is a trusted proxy — the right-most
/// address of `X-Forwarded-For` that is not itself a trusted proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The client IP of a request from `peer` with these `X-Forwarded-For` values. IPv4-mapped IPv6
    /// addresses (`::ffff:a.b.c.d`, as a dual-stack socket reports IPv4 peers) count as the IPv4
    /// address; a hop may carry a port (`203.0.113.7:4711`, `[2001:db8::1]:443`).
    pub fn resolve<'a>(
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
        trusted: &[IpNet],
    ) -> IpAddr {
        let peer = peer.to_canonical();
        let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
        if !is_trusted(&peer) {
            return peer;
        }
        let mut client = peer;
        let hops = forwarded_for
            .flat_map(|v| v.split(',').collect::<Vec<_>>().into_iter())
            .rev();
        for hop in hops {
            let Some(ip) = parse_hop(hop.trim()) else {
                break;
            };
            client = ip;
            if !is_trusted(&ip) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` hop: an address, with or without a port, canonical (mapped IPv4 as IPv4).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // In-process callers (tests driving the router directly) have no socket: unspecified.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>();
        Ok(ClientIp(ClientIp::resolve(
            peer,
            forwarded.into_iter(),
            state.trusted_proxies(),
        )))
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect());
        Ok(Client { ip, user_agent })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ip_is_the_rightmost_untrusted_hop_behind_a_trusted_proxy() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Untrusted peer: its own address, whatever it claims.
        assert_eq!(
            ClientIp::resolve(ip("203.0.113.9"), ["1.2.3.4"].into_iter(), &trusted),
            ip("203.0.113.9")
        );
        // Trusted proxy: the right-most hop that is not a trusted proxy.
        assert_eq!(
            ClientIp::resolve(
                ip("10.0.0.2"),
                ["6.6.6.6, 198.51.100.7, 10.0.0.5"].into_iter(),
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            ClientIp::resolve(ip("::1"), ["6.6.6.6", "198.51.100.7"].into_iter(), &trusted),
            ip("198.51.100.7")
        );
        // No header, or garbage: the proxy itself (or the last good hop).
        assert_eq!(
            ClientIp::resolve(ip("10.0.0.2"), [].into_iter(), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            ClientIp::resolve(
                ip("10.0.0.2"),
                ["nonsense, 198.51.100.7"].into_iter(),
                &trusted
            ),
            ip("198.51.100.7")
        );
        // Issue 22: a hop with a port, an IPv4-mapped proxy, mapped clients count as IPv4.
        assert_eq!(
            ClientIp::resolve(ip("10.0.0.2"), ["198.51.100.7:4711"].into_iter(), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            ClientIp::resolve(ip("10.0.0.2"), ["[2001:db8::7]:443"].into_iter(), &trusted),
            ip("2001:db8::7")
        );
        assert_eq!(
            ClientIp::resolve(
                ip("::ffff:10.0.0.2"),
                ["198.51.100.7"].into_iter(),
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            ClientIp::resolve(ip("::ffff:203.0.113.9"), [].into_iter(), &trusted),
            ip("203.0.113.9")
        );
    }
}
