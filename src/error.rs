//! Errors: the server's error responses (realm-web's `MongoDBRealmError`, our JS `AppError`) and
//! everything else an SDK call can fail with.
use crate::platform::{HttpResponse, Platform};
use appkeys_protocol::{ErrorCode, Method};
use serde::Deserialize;

/// The fields of an error response, as exposed on the JS `AppError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppErrorData {
    /// Request method.
    pub method: &'static str,
    /// Request URL.
    pub url: String,
    /// HTTP status.
    pub status_code: u16,
    /// HTTP status text.
    pub status_text: String,
    /// `error` of the body, when it is a string.
    pub error: Option<String>,
    /// `error_code` of the body, when it is a string.
    pub error_code: Option<String>,
    /// `link` of the body, when it is a string.
    pub link: Option<String>,
}

/// An error body as far as the SDK reads it: every field optional (the server's own
/// [`appkeys_protocol::wire::ErrorBody`] always has `error` and `error_code`; proxies and other
/// servers may send less).
#[derive(Debug, Default, Deserialize)]
struct ErrorFields {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    link: Option<String>,
}

impl AppErrorData {
    /// Interprets a non-2xx response to a `method` request of `url`. The body only counts when it
    /// was a JSON object with string fields.
    pub fn from_response<P: Platform>(method: Method, url: &str, response: &HttpResponse) -> Self {
        let fields = response
            .json
            .as_deref()
            .and_then(P::from_json::<ErrorFields>)
            .unwrap_or_default();
        AppErrorData {
            method: method.as_str(),
            url: url.to_owned(),
            status_code: response.status,
            status_text: response.status_text.clone(),
            error: fields.error,
            error_code: fields.error_code,
            link: fields.link,
        }
    }

    /// realm-web's condition for "the token is bad": 401 with `InvalidSession` or `unauthorized`.
    pub fn is_invalid_session(&self) -> bool {
        self.status_code == 401
            && (self.error_code.as_deref() == Some(ErrorCode::InvalidSession.as_str())
                || self.error.as_deref() == Some("unauthorized"))
    }
}

/// Everything an SDK call can fail with. `E` is the platform's own error (a JS `TypeError` from
/// `fetch` in the wasm build), passed through untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error<E> {
    /// The server answered with a non-2xx status.
    App(Box<AppErrorData>),
    /// The request could not be made (network failure, CORS, …).
    Transport(E),
    /// An argument has the wrong type or shape; raised before any request is sent.
    Type(String),
    /// Anything else (unexpected response shape, unknown user, …).
    Other(&'static str),
}

impl<E> Error<E> {
    /// The server error, if this is one.
    pub fn app(&self) -> Option<&AppErrorData> {
        match self {
            Error::App(data) => Some(data),
            _ => None,
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core_tests::Native;

    fn response(status: u16, json: Option<&str>) -> HttpResponse {
        HttpResponse {
            status,
            status_text: "Not Found".into(),
            json: json.map(str::to_owned),
        }
    }

    #[test]
    fn parses_error_body() {
        let body =
            r#"{"error": "API key not found", "error_code": "APIKeyNotFound", "link": "http://l"}"#;
        let e = AppErrorData::from_response::<Native>(
            Method::Get,
            "http://h:1/x",
            &response(404, Some(body)),
        );
        assert_eq!(e.method, "GET");
        assert_eq!(e.url, "http://h:1/x");
        assert_eq!(e.status_code, 404);
        assert_eq!(e.error.as_deref(), Some("API key not found"));
        assert_eq!(e.error_code.as_deref(), Some("APIKeyNotFound"));
        assert_eq!(e.link.as_deref(), Some("http://l"));
        assert_eq!(e.status_text, "Not Found");
        assert!(!e.is_invalid_session());
    }

    #[test]
    fn non_json_or_odd_bodies_leave_fields_empty() {
        for body in [
            None,
            Some("[1]"),
            Some(r#"{"error": 5, "error_code": null}"#),
        ] {
            let e = AppErrorData::from_response::<Native>(Method::Get, "u", &response(502, body));
            assert_eq!((e.error, e.error_code, e.link), (None, None, None));
            assert_eq!(e.status_code, 502);
        }
    }

    #[test]
    fn invalid_session_detection_follows_realm_web() {
        let mk = |status, body: &str| {
            AppErrorData::from_response::<Native>(Method::Get, "u", &response(status, Some(body)))
        };
        assert!(mk(
            401,
            r#"{"error": "expired", "error_code": "InvalidSession"}"#
        )
        .is_invalid_session());
        assert!(mk(401, r#"{"error": "unauthorized"}"#).is_invalid_session());
        assert!(
            !mk(401, r#"{"error": "bad key", "error_code": "AuthError"}"#).is_invalid_session()
        );
        assert!(!mk(403, r#"{"error": "x", "error_code": "InvalidSession"}"#).is_invalid_session());
    }
}
