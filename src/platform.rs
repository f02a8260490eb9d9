//! What the core needs of the platform it runs on: sending HTTP requests and reading and writing JSON.
//!
//! The wasm build implements [`Platform`] with gloo-net for HTTP and `JSON.parse`/`JSON.stringify` +
//! serde-wasm-bindgen for JSON (`crate::wasm::Web`); the native tests with an in-memory server and
//! serde_json. Requests and responses are plain values ([`HttpRequest`], [`HttpResponse`]), so the
//! core's logic never depends on the platform's types.
use appkeys_protocol::{Endpoint, Method, TokenKind};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;

/// The `Accept` and `Content-Type` value.
pub const JSON_TYPE: &str = "application/json";

/// An HTTP request as the core asks for it. Headers follow from the fields (see
/// [`HttpRequest::headers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// The `Authorization` header's value (`Bearer <token>`), when one is sent.
    pub authorization: Option<String>,
    /// JSON body text, if any.
    pub body: Option<String>,
}

impl HttpRequest {
    /// Builds the request for `endpoint` below `origin` the way realm-web's `fetchJSON` does:
    /// `Accept: application/json` always, `Content-Type: application/json` only with a body, and
    /// `Authorization: Bearer <token>` when the endpoint carries a token and one is known. (A missing
    /// token is sent as no header at all; the server then answers 401 like for any bad session.)
    pub fn new(
        origin: &str,
        endpoint: &Endpoint<'_>,
        token: Option<&str>,
        body: Option<String>,
    ) -> Self {
        let authorization = match endpoint.token() {
            TokenKind::None => None,
            _ => token.map(|t| format!("Bearer {t}")),
        };
        HttpRequest {
            method: endpoint.method(),
            url: endpoint.url(origin),
            authorization,
            body,
        }
    }

    /// Header names and values, in the order sent.
    pub fn headers(&self) -> Vec<(&'static str, &str)> {
        let mut headers = vec![("Accept", JSON_TYPE)];
        if self.body.is_some() {
            headers.push(("Content-Type", JSON_TYPE));
        }
        if let Some(auth) = &self.authorization {
            headers.push(("Authorization", auth.as_str()));
        }
        headers
    }

    /// The value of header `name` (as spelled by [`HttpRequest::headers`]).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

/// A response as the platform hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Status text (may be empty, e.g. over HTTP/2).
    pub status_text: String,
    /// The body text when the response declared `Content-Type: application/json…` and had a
    /// non-empty body; `None` otherwise (e.g. 204).
    pub json: Option<String>,
}

impl HttpResponse {
    /// 2xx?
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// HTTP and JSON, as the platform provides them.
pub trait Platform {
    /// Why a request could not be made (network failure, CORS, …). Passed to the caller untouched.
    type Error: Clone;

    /// Sends one request.
    fn send(&self, request: HttpRequest)
        -> impl Future<Output = Result<HttpResponse, Self::Error>>;

    /// JSON text of `value` (request bodies, stored values).
    fn to_json<T: Serialize>(value: &T) -> String;

    /// `text` read as a `T`; `None` when it is not JSON or not of that shape.
    fn from_json<T: DeserializeOwned>(text: &str) -> Option<T>;
}
