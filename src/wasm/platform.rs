//! The wasm build's [`Platform`]: HTTP through gloo-net (the global `fetch` of browsers, workers and
//! Node ≥ 20), JSON through `JSON.parse` / `JSON.stringify` and serde-wasm-bindgen.
use crate::platform::{HttpRequest, HttpResponse, Platform, JSON_TYPE};
use gloo_net::http::{Headers, Request, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::JsValue;

/// gloo-net + JS JSON.
#[derive(Debug, Clone, Copy, Default)]
pub struct Web;

impl Platform for Web {
    /// The error `fetch` failed with (a `TypeError` for network and CORS failures).
    type Error = JsValue;

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, JsValue> {
        let response = send(request).await?;
        let json = response
            .headers()
            .get("content-type")
            .is_some_and(|t| t.starts_with(JSON_TYPE));
        // The body is read in any case (a failing read fails the call, never leaves it pending);
        // only a JSON response's body counts.
        let text = response.text().await.map_err(to_js_error)?;
        Ok(HttpResponse {
            status: response.status(),
            status_text: response.status_text(),
            json: Some(text).filter(|t| json && !t.is_empty()),
        })
    }

    fn to_json<T: Serialize>(value: &T) -> String {
        js_sys::JSON::stringify(&super::to_value(value))
            .map(String::from)
            .unwrap_or_default()
    }

    fn from_json<T: DeserializeOwned>(text: &str) -> Option<T> {
        let value = js_sys::JSON::parse(text).ok()?;
        serde_wasm_bindgen::from_value(value).ok()
    }
}

/// One request; not generic, so its code is in the wasm once.
///
/// The request is built as a `web_sys::Request` and sent as a gloo-net `Request` (`From<web_sys::Request>`):
/// gloo-net's `RequestBuilder` would first construct a throwaway `Request` and a `URL` to merge query
/// parameters (we never have any), which costs measurable client CPU per call in Node's fetch.
async fn send(request: HttpRequest) -> Result<Response, JsValue> {
    let headers = Headers::new();
    headers.set("Accept", JSON_TYPE);
    if let Some(auth) = &request.authorization {
        headers.set("Authorization", auth);
    }
    let init = web_sys::RequestInit::new();
    init.set_method(request.method.as_str());
    if let Some(body) = &request.body {
        headers.set("Content-Type", JSON_TYPE);
        init.set_body(&JsValue::from_str(body));
    }
    init.set_headers(&headers.into_raw());
    let raw = web_sys::Request::new_with_str_and_init(&request.url, &init)?;
    Request::from(raw).send().await.map_err(to_js_error)
}

/// gloo-net's error as a JS error of the same kind (`TypeError: Failed to fetch`, …).
fn to_js_error(error: gloo_net::Error) -> JsValue {
    match error {
        gloo_net::Error::JsError(e) if e.name == "TypeError" => {
            js_sys::TypeError::new(&e.message).into()
        }
        gloo_net::Error::JsError(e) => {
            let error = js_sys::Error::new(&e.message);
            error.set_name(&e.name);
            error.into()
        }
        other => js_sys::Error::new(&other.to_string()).into(),
    }
}
