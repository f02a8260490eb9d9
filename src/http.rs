//! Building requests per endpoint and the shape of responses.
use crate::json::Json;
#[allow(unused_imports)]
use crate::prelude::*;
use appkeys_protocol::{Endpoint, Method, TokenKind};

/// An HTTP request, ready for a [`crate::client::Transport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// Header names and values, in the order sent.
    pub headers: Vec<(&'static str, String)>,
    /// JSON body text, if any.
    pub body: Option<String>,
}

impl HttpRequest {
    /// The value of header `name` (exact, case-sensitive name as built here).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Builds the request for `endpoint` below `origin` the way realm-web's `fetchJSON` does:
/// `Accept: application/json` always, `Content-Type: application/json` only with a body, and
/// `Authorization: Bearer <token>` when the endpoint carries a token and one is known. (A missing token
/// is sent as no header at all; the server then answers 401 like for any bad session.)
pub fn build_request(
    origin: &str,
    endpoint: &Endpoint<'_>,
    token: Option<&str>,
    body: Option<String>,
) -> HttpRequest {
    let mut headers = vec![("Accept", "application/json".to_owned())];
    if body.is_some() {
        headers.push(("Content-Type", "application/json".to_owned()));
    }
    if endpoint.token() != TokenKind::None {
        if let Some(token) = token {
            let mut value = String::from("Bearer ");
            value.push_str(token);
            headers.push(("Authorization", value));
        }
    }
    HttpRequest {
        method: endpoint.method(),
        url: endpoint.url(origin),
        headers,
        body,
    }
}

/// A response as the transport hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse<J> {
    /// Status code.
    pub status: u16,
    /// Status text (may be empty, e.g. over HTTP/2).
    pub status_text: String,
    /// The parsed body when the response declared `Content-Type: application/json…` and had a
    /// non-empty, well-formed body; `None` otherwise (e.g. 204).
    pub body: Option<J>,
}

impl<J: Json> HttpResponse<J> {
    /// 2xx?
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}
