//! Location, health, routing errors, body handling, CORS.

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn healthz_is_liveness_and_readyz_checks_the_database() {
    let t = TestApp::new().await;
    let r = t.call("GET", "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), Some("application/json"));
    assert_eq!(r.json(), json!({ "status": "ok" }));
    let r = t.call("GET", "/readyz", None, None).await;
    assert_eq!(r.json(), json!({ "status": "ready" }));
    // With the pool closed, the process is still alive, but not ready (503, Retry-After, no details)
    // — once the last successful readiness write is older than 2 s (issue 22: `/readyz` writes at most
    // every 2 s however often it is asked).
    t.state.store().close().await;
    let r = t.call("GET", "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = t.call("GET", "/readyz", None, None).await;
    assert_eq!(r.headers.get("retry-after").unwrap(), "5");
    let msg = r.assert_error(503, "ServiceUnavailable");
    assert_eq!(msg, "the database is unavailable");
}

#[tokio::test]
async fn location_returns_all_four_fields() {
    let t = TestApp::new().await;
    let r = t
        .call("GET", &format!("{P}/app/{APP}/location"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), Some("application/json"));
    assert_eq!(
        r.json(),
        json!({
            "deployment_model": "LOCAL",
            "location": "appkeys",
            "hostname": "http://appkeys.test:9090",
            "ws_hostname": "ws://appkeys.test:9090",
        })
    );
    let r = t
        .call("GET", &format!("{P}/app/second-app/location"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn location_of_an_https_origin_uses_wss() {
    let mut c = config();
    c.public_url = "https://keys.example.com".into();
    let t = TestApp::with_config(c).await;
    let r = t
        .call("GET", &format!("{P}/app/{APP}/location"), None, None)
        .await;
    let j = r.json();
    assert_eq!(j["hostname"], "https://keys.example.com");
    assert_eq!(j["ws_hostname"], "wss://keys.example.com");
}

#[tokio::test]
async fn unknown_app_is_404_on_every_app_route() {
    let t = TestApp::new().await;
    let r = t
        .call("GET", &format!("{P}/app/nope/location"), None, None)
        .await;
    r.assert_error(404, "AppNotFound");
    let r = t
        .call(
            "POST",
            &format!("{P}/app/nope/auth/providers/anon-user/login"),
            None,
            Some("{}"),
        )
        .await;
    r.assert_error(404, "AppNotFound");
    let r = t
        .call(
            "POST",
            &format!("{P}/app/nope/auth/providers/local-userpass/register"),
            None,
            Some(r#"{"email":"a@b.c","password":"pass-phrase-1"}"#),
        )
        .await;
    r.assert_error(404, "AppNotFound");
    // The app is checked before the body and the provider.
    let r = t
        .call(
            "POST",
            &format!("{P}/app/nope/auth/providers/oauth2-google/login"),
            None,
            Some("{not json"),
        )
        .await;
    r.assert_error(404, "AppNotFound");
}

#[tokio::test]
async fn unknown_route_and_method_are_json_errors() {
    let t = TestApp::new().await;
    for path in [
        "/",
        "/nope",
        &format!("{P}/auth/nope"),
        &format!("{P}/app/{APP}/functions/call"),
    ] {
        let r = t.call("GET", path, None, None).await;
        r.assert_error(404, "NotFound");
    }
    let r = t
        .call("PATCH", &format!("{P}/auth/profile"), None, None)
        .await;
    r.assert_error(405, "MethodNotAllowed");
    assert!(r.headers.contains_key(header::ALLOW));
    let r = t
        .call("POST", &format!("{P}/app/{APP}/location"), None, Some("{}"))
        .await;
    r.assert_error(405, "MethodNotAllowed");
    let r = t.call("DELETE", &keys_path(), None, None).await;
    r.assert_error(405, "MethodNotAllowed");
}

#[tokio::test]
async fn bad_bodies_are_clear_4xx() {
    let t = TestApp::new().await;
    let login = format!("{P}/app/{APP}/auth/providers/local-userpass/login");
    for (body, code) in [
        ("{", "BadRequest"),
        ("not json", "BadRequest"),
        ("[1,2]", "BadRequest"),
        ("\"str\"", "BadRequest"),
        ("null", "BadRequest"),
        (r#"{"username": 5, "password": "x"}"#, "InvalidParameter"),
        (
            r#"{"username": "a@b.c", "password": ["x"]}"#,
            "InvalidParameter",
        ),
        (r#"{"password": "x"}"#, "MissingParameter"),
        (r#"{"username": "a@b.c"}"#, "MissingParameter"),
        ("", "MissingParameter"),
    ] {
        let r = t.call("POST", &login, None, Some(body)).await;
        let status = r.status.as_u16();
        assert_eq!(status, 400, "{body}: {}", r.text());
        r.assert_error(400, code);
    }
    // Oversized (declared length and chunked/streamed) bodies.
    let big = format!(
        r#"{{"username":"{}","password":"x"}}"#,
        "a".repeat(70 * 1024)
    );
    let r = t.call("POST", &login, None, Some(&big)).await;
    r.assert_error(413, "PayloadTooLarge");
    let stream = futures_stream(big.into_bytes());
    let req = Request::post(&login)
        .header(header::CONTENT_TYPE, "application/json")
        .body(stream)
        .unwrap();
    let r = t.send(req).await;
    r.assert_error(413, "PayloadTooLarge");
    // Oversized body on a route that reads no body is also refused (declared length).
    let req = Request::put(format!("{P}/auth/api_keys/{}/enable", "a".repeat(24)))
        .header(header::CONTENT_LENGTH, "100000")
        .body(Body::from(vec![b' '; 100_000]))
        .unwrap();
    let r = t.send(req).await;
    r.assert_error(413, "PayloadTooLarge");
}

fn futures_stream(bytes: Vec<u8>) -> Body {
    let chunks: Vec<Result<axum::body::Bytes, std::io::Error>> = bytes
        .chunks(8192)
        .map(|c| Ok(axum::body::Bytes::copy_from_slice(c)))
        .collect();
    Body::from_stream(futures_util::stream::iter(chunks))
}

#[tokio::test]
async fn bodies_must_be_declared_json() {
    // Issue 21 changed this (it used to parse any content type): a body must be declared JSON, so that a
    // cross-site `text/plain` or form POST (no CORS preflight) is never read as a login or a registration.
    let t = TestApp::new().await;
    let login = format!("{P}/app/{APP}/auth/providers/anon-user/login");
    let register = format!("{P}/app/{APP}/auth/providers/local-userpass/register");
    let send = |path: &str, ct: Option<&str>, body: &'static str| {
        let mut b = Request::post(path);
        if let Some(ct) = ct {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        b.body(Body::from(body)).unwrap()
    };
    let device = r#"{"options":{"device":{"platform":"node"}}}"#;
    for ct in [
        "application/json",
        "application/json;charset=utf-8",
        "Application/JSON; charset=UTF-8",
    ] {
        let r = t.send(send(&login, Some(ct), device)).await;
        assert_eq!(r.status, StatusCode::OK, "{ct}: {}", r.text());
    }
    // An empty body needs no declaration (it is `{}`).
    assert_eq!(t.send(send(&login, None, "")).await.status, StatusCode::OK);
    let account = r#"{"email":"csrf@example.com","password":"pass-phrase-1"}"#;
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data"),
        None,
    ] {
        for path in [&login, &register] {
            let r = t.send(send(path, ct, account)).await;
            r.assert_error(415, "UnsupportedMediaType");
        }
    }
    // Nothing was registered by them.
    t.login(
        "local-userpass",
        json!({"username": "csrf@example.com", "password": "pass-phrase-1"}),
    )
    .await
    .assert_error(401, "InvalidPassword");
}

#[tokio::test]
async fn cors_preflight_defaults_to_any_origin() {
    let t = TestApp::new().await;
    let req = Request::options(keys_path())
        .header(header::ORIGIN, "http://localhost:5173")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization,content-type,accept",
        )
        .body(Body::empty())
        .unwrap();
    let r = t.send(req).await;
    assert!(r.status.is_success(), "{:?}", r.status);
    let h = |n: header::HeaderName| {
        r.headers
            .get(n)
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
    };
    assert_eq!(h(header::ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(), Some("*"));
    let methods = h(header::ACCESS_CONTROL_ALLOW_METHODS).unwrap();
    for m in ["get", "post", "put", "delete"] {
        assert!(methods.contains(m), "{methods}");
    }
    let headers = h(header::ACCESS_CONTROL_ALLOW_HEADERS).unwrap();
    for m in ["authorization", "content-type", "accept"] {
        assert!(headers.contains(m), "{headers}");
    }
    // Actual responses (errors too) carry the header.
    let req = Request::get(format!("{P}/auth/profile"))
        .header(header::ORIGIN, "http://localhost:5173")
        .body(Body::empty())
        .unwrap();
    let r = t.send(req).await;
    r.assert_error(401, "InvalidSession");
    assert_eq!(
        r.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(),
        "*"
    );
}

#[tokio::test]
async fn cors_origins_can_be_restricted() {
    let mut c = config();
    c.cors_origins = vec![
        "https://good.example".into(),
        "http://localhost:3000".into(),
    ];
    let t = TestApp::with_config(c).await;
    let preflight = |origin: &str| {
        Request::options(format!("{P}/auth/session"))
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "DELETE")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
            .body(Body::empty())
            .unwrap()
    };
    let r = t.send(preflight("https://good.example")).await;
    assert_eq!(
        r.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(),
        "https://good.example"
    );
    let r = t.send(preflight("https://evil.example")).await;
    assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

/// Throws odd input at every route with every kind of token: never a 5xx, always a JSON error body
/// for 4xx.
#[tokio::test]
async fn no_client_input_causes_a_server_error() {
    let t = TestApp::new().await;
    let u = t.user("fuzz@example.com").await;
    let (id, key) = t.new_key(&u.refresh, "k").await;
    let ks = Tokens::from(&t.key_login(&key).await);
    let anon = t.anon().await;
    let tokens: Vec<Option<String>> = vec![
        None,
        Some(String::new()),
        Some("%00".into()),
        Some("a.b.c".into()),
        Some(u.access.clone()),
        Some(u.refresh.clone()),
        Some(ks.refresh.clone()),
        Some(anon.refresh.clone()),
    ];
    let bodies = [
        None,
        Some("".to_owned()),
        Some("{".to_owned()),
        Some("[]".to_owned()),
        Some("1e999".to_owned()),
        Some("\"\\u0000\"".to_owned()),
        Some(r#"{"name":"\u0000","email":"\u0000@x","password":"\u0000\u0000\u0000\u0000\u0000\u0000","username":"\u0000","key":"\u0000"}"#.to_owned()),
        Some(r#"{"name":{"$oid":"5eb5931548d79bc784adf46e"},"email":["a@b"],"password":true,"username":1e308,"key":null}"#.to_owned()),
        Some(format!(r#"{{"name":"{}"}}"#, "n".repeat(5000))),
        Some(format!("{}{}", "[".repeat(200), "]".repeat(200))),
        Some("\u{feff}{}".to_owned()),
    ];
    let ids = [
        id.as_str(),
        "%00",
        "%FF",
        "x%2Fy",
        &"f".repeat(300),
        "000000000000000000000000",
    ];
    let mut paths = vec![
        ("GET".to_owned(), format!("{P}/app/{APP}/location")),
        ("GET".to_owned(), format!("{P}/app/%00/location")),
        ("GET".to_owned(), format!("{P}/app/%FF%FE/location")),
        (
            "POST".to_owned(),
            format!("{P}/app/{APP}/auth/providers/local-userpass/login"),
        ),
        (
            "POST".to_owned(),
            format!("{P}/app/{APP}/auth/providers/api-key/login"),
        ),
        (
            "POST".to_owned(),
            format!("{P}/app/{APP}/auth/providers/anon-user/login"),
        ),
        (
            "POST".to_owned(),
            format!("{P}/app/{APP}/auth/providers/%00/login"),
        ),
        (
            "POST".to_owned(),
            format!("{P}/app/{APP}/auth/providers/local-userpass/register"),
        ),
        ("GET".to_owned(), format!("{P}/auth/profile")),
        ("POST".to_owned(), format!("{P}/auth/session")),
        ("POST".to_owned(), keys_path()),
        ("GET".to_owned(), keys_path()),
        ("GET".to_owned(), "/healthz".to_owned()),
    ];
    for i in ids {
        paths.push(("GET".into(), format!("{P}/auth/api_keys/{i}")));
        paths.push(("PUT".into(), format!("{P}/auth/api_keys/{i}/enable")));
        paths.push(("PUT".into(), format!("{P}/auth/api_keys/{i}/disable")));
    }
    let mut checked = 0;
    for (method, path) in &paths {
        for token in &tokens {
            for body in &bodies {
                let r = t
                    .call(method, path, token.as_deref(), body.as_deref())
                    .await;
                assert!(
                    r.status.as_u16() < 500,
                    "{method} {path} token={token:?} body={body:?} -> {} {}",
                    r.status,
                    r.text()
                );
                if !r.status.is_success() {
                    assert_eq!(
                        r.content_type(),
                        Some("application/json"),
                        "{method} {path}"
                    );
                    let j = r.json();
                    assert!(j["error"].is_string() && j["error_code"].is_string());
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 1000);
    // Destructive routes last, once per token kind.
    for token in &tokens {
        for (method, path) in [
            ("DELETE", format!("{P}/auth/api_keys/%00")),
            ("DELETE", format!("{P}/auth/session")),
        ] {
            let r = t.call(method, &path, token.as_deref(), Some("{")).await;
            assert!(r.status.as_u16() < 500, "{method} {path} -> {}", r.status);
        }
    }
    let r = t
        .call("DELETE", &format!("{P}/auth/delete"), Some("%00"), None)
        .await;
    r.assert_error(401, "InvalidSession");
}
