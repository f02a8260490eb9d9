//! The wasm build's [`Platform`]: HTTP through gloo-net (the global `fetch` of browsers, workers and
//! Node ≥ 20), JSON through `JSON.parse` / `JSON.stringify` and serde-wasm-bindgen.
use crate::platform::{HttpRequest, HttpResponse, Platform, JSON_TYPE};
use appkeys_protocol::Method;
use gloo_net::http::{Request, Response};
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
        let response = send(request).await.map_err(to_js_error)?;
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
async fn send(request: HttpRequest) -> Result<Response, gloo_net::Error> {
    let builder = match request.method {
        Method::Get => Request::get(&request.url),
        Method::Post => Request::post(&request.url),
        Method::Put => Request::put(&request.url),
        Method::Delete => Request::delete(&request.url),
    };
    let mut builder = builder.header("Accept", JSON_TYPE);
    if let Some(auth) = &request.authorization {
        builder = builder.header("Authorization", auth);
    }
    match request.body {
        Some(body) => {
            builder
                .header("Content-Type", JSON_TYPE)
                .body(body)?
                .send()
                .await
        }
        None => builder.send().await,
    }
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
