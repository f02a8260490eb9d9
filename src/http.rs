//! Building requests per endpoint and the shape of responses.
use crate::json::Json;
#[allow(unused_imports)]
use crate::prelude::*;
use appkeys_protocol::{Endpoint, Method, TokenKind};

/// An HTTP request, as a task asks for it ([`crate::client::Step::Send`]). Its headers follow from the fields
/// (see [`HttpRequest::headers`]); no header list is built, which keeps the wasm smaller.
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

/// The `Accept` and `Content-Type` value.
pub const JSON_TYPE: &str = "application/json";

impl HttpRequest {
    /// Header names and values, in the order sent: `Accept: application/json` always,
    /// `Content-Type: application/json` only with a body, `Authorization` when a token is sent.
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

    /// The value of header `name` (exact, case-sensitive name as listed by [`HttpRequest::headers`]).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
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
    let authorization = match (endpoint.token(), token) {
        (TokenKind::None, _) | (_, None) => None,
        (_, Some(token)) => {
            let mut value = String::from("Bearer ");
            value.push_str(token);
            Some(value)
        }
    };
    HttpRequest {
        method: endpoint.method(),
        url: endpoint.url(origin),
        authorization,
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
