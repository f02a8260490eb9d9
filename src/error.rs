//! Errors: the server's error responses (realm-web's `MongoDBRealmError`, our JS `AppError`) and
//! everything else the SDK can fail with.
use crate::http::{HttpRequest, HttpResponse};
use crate::json::Json;
#[allow(unused_imports)]
use crate::prelude::*;
use appkeys_protocol::{ErrorCode, Method};

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

impl AppErrorData {
    /// Interprets a non-2xx response to `request` (the body only counts when it was JSON).
    pub fn from_response<J: Json>(request: &HttpRequest, response: &HttpResponse<J>) -> Self {
        Self::from_parts(request.method, request.url.clone(), response)
    }

    /// Like [`AppErrorData::from_response`], from the request's method and URL.
    pub fn from_parts<J: Json>(method: Method, url: String, response: &HttpResponse<J>) -> Self {
        let field = |name: &str| response.body.as_ref().and_then(|b| b.str_field(name));
        AppErrorData {
            method: method.as_str(),
            url,
            status_code: response.status,
            status_text: response.status_text.clone(),
            error: field("error"),
            error_code: field("error_code"),
            link: field("link"),
        }
    }

    /// realm-web's condition for "the token is bad": 401 with `InvalidSession` or `unauthorized`.
    pub fn is_invalid_session(&self) -> bool {
        self.status_code == 401
            && (self.error_code.as_deref() == Some(ErrorCode::InvalidSession.as_str())
                || self.error.as_deref() == Some("unauthorized"))
    }
}

/// Everything an SDK call can fail with. `E` is the transport's own error (a JS `TypeError` from
/// `fetch` in the wasm build), passed through untouched.
#[derive(Debug, Clone, PartialEq)]
pub enum Error<E> {
    /// The server answered with a non-2xx status.
    App(Box<AppErrorData>),
    /// The request could not be made (network failure, CORS, …), or the shared refresh a call waited
    /// for failed (that error, as the platform passed it on).
    Transport(E),
    /// An argument has the wrong type or shape; raised before any request is sent.
    Type(&'static str),
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
    use crate::http::build_request;
    use appkeys_protocol::Endpoint;
    use serde_json::json;

    fn request() -> HttpRequest {
        build_request(
            "http://h:1",
            &Endpoint::FetchApiKey {
                id: "5eb5931548d79bc784adf46e",
            },
            Some("r"),
            None,
        )
    }

    #[test]
    fn parses_error_body() {
        let resp = HttpResponse {
            status: 404,
            status_text: "Not Found".into(),
            body: Some(
                json!({"error": "API key not found", "error_code": "APIKeyNotFound", "link": "http://l"}),
            ),
        };
        let e = AppErrorData::from_response(&request(), &resp);
        assert_eq!(e.method, "GET");
        assert_eq!(
            e.url,
            "http://h:1/api/client/v2.0/auth/api_keys/5eb5931548d79bc784adf46e"
        );
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
            Some(json!([1])),
            Some(json!({"error": 5, "error_code": null})),
        ] {
            let resp = HttpResponse {
                status: 502,
                status_text: String::new(),
                body,
            };
            let e = AppErrorData::from_response(&request(), &resp);
            assert_eq!(e.error, None);
            assert_eq!(e.error_code, None);
            assert_eq!(e.link, None);
            assert_eq!(e.status_code, 502);
        }
    }

    #[test]
    fn invalid_session_detection_follows_realm_web() {
        let mk = |status, body| {
            AppErrorData::from_response(
                &request(),
                &HttpResponse {
                    status,
                    status_text: "x".into(),
                    body: Some(body),
                },
            )
        };
        assert!(mk(
            401,
            json!({"error": "expired", "error_code": "InvalidSession"})
        )
        .is_invalid_session());
        assert!(mk(401, json!({"error": "unauthorized"})).is_invalid_session());
        assert!(
            !mk(401, json!({"error": "bad key", "error_code": "AuthError"})).is_invalid_session()
        );
        assert!(
            !mk(403, json!({"error": "x", "error_code": "InvalidSession"})).is_invalid_session()
        );
    }
}
