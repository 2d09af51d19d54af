//! `X-Request-Id` and JSON logs, as an operator and an attacker see them: every response
//! carries an id; a client cannot choose it unless it is a trusted proxy; the id is in the
//! request's log line and in the security events the request caused.

use crate::helpers::{TestApp, PASSWORD};
use gatehouse_testkit::{Browser, Page, ServerOptions};
use std::time::Duration;

fn request_id(page: &Page) -> String {
    page.headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no X-Request-Id on {} {:?}", page.status, page.headers))
        .to_string()
}

fn is_generated(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The e-mail step, then the password posted with `headers`, as a proxy in front would.
async fn post_password_with(browser: &Browser, email: &str, headers: &[(&str, &str)]) -> Page {
    let page = browser.post("/sign-in", &[("email", email)]).await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/password"));
    let csrf = browser.cookie("gatehouse_csrf").unwrap();
    browser
        .post_raw(
            "/sign-in/password",
            &[("csrf", csrf.as_str()), ("password", PASSWORD)],
            headers,
        )
        .await
}

/// The request ids of an account's password events, read from the server's database.
async fn password_event_request_ids(app: &TestApp) -> Vec<Option<String>> {
    let pool = app.server.sqlite().await;
    let ids = sqlx::query_scalar(
        "SELECT request_id FROM security_events WHERE event = 'password' ORDER BY occurred_at, id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    ids
}

#[tokio::test]
async fn every_response_carries_a_generated_request_id() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let mut seen = Vec::new();
    for path in [
        "/sign-in",
        "/healthz",
        "/readyz",
        "/no-such-page",
        "/oauth2/jwks",
    ] {
        let id = request_id(&browser.get(path).await);
        assert!(is_generated(&id), "{path}: {id}");
        seen.push(id);
    }
    let form = browser
        .post_raw("/sign-in", &[("email", "x@example.com")], &[])
        .await;
    assert_eq!(form.status, 403, "refused without its CSRF token");
    seen.push(request_id(&form));
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 6, "each request its own id");
}

#[tokio::test]
async fn a_request_id_from_an_untrusted_peer_is_not_echoed() {
    let app = TestApp::spawn().await;
    let page = app
        .browser()
        .get_with_headers("/sign-in", &[("x-request-id", "chosen-by-the-client")])
        .await;
    let id = request_id(&page);
    assert_ne!(id, "chosen-by-the-client");
    assert!(is_generated(&id), "{id}");
    assert!(!app.server.output().contains("chosen-by-the-client"));
}

#[tokio::test]
async fn a_trusted_proxys_request_id_is_echoed_and_recorded_with_the_sign_in() {
    let app = TestApp::spawn_with(ServerOptions {
        env: vec![("GATEHOUSE_TRUSTED_PROXIES".into(), "127.0.0.1".into())],
        ..Default::default()
    })
    .await;
    let browser = app.browser();
    let page = browser
        .get_with_headers("/sign-in", &[("x-request-id", "edge-7f3a:2.1_x")])
        .await;
    assert_eq!(request_id(&page), "edge-7f3a:2.1_x");
    // Even a proxy's id must be plain: a line break or a page of text is replaced.
    for bad in ["two words", &"a".repeat(129)] {
        let page = browser
            .get_with_headers("/sign-in", &[("x-request-id", bad)])
            .await;
        assert!(is_generated(&request_id(&page)), "{bad:?}");
    }

    app.add_user("ann@example.com").await;
    let page =
        post_password_with(&browser, "ann@example.com", &[("x-request-id", "edge-42")]).await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/code"));
    assert_eq!(request_id(&page), "edge-42");
    assert_eq!(
        password_event_request_ids(&app).await,
        [Some("edge-42".to_string())]
    );
}

#[tokio::test]
async fn the_security_event_of_a_sign_in_carries_the_id_its_response_carried() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let page = post_password_with(
        &app.browser(),
        "ann@example.com",
        &[("x-request-id", "forged-by-the-client")],
    )
    .await;
    let id = request_id(&page);
    assert!(is_generated(&id), "{id}");
    assert_eq!(password_event_request_ids(&app).await, [Some(id)]);
}

/// Waits until the server has logged a line holding `needle` (logs arrive asynchronously).
async fn wait_for_log(app: &TestApp, needle: &str) {
    for _ in 0..100 {
        if app.server.output().contains(needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {needle:?} in the log:\n{}", app.server.output());
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_each_requests_fields() {
    let app = TestApp::spawn_with(ServerOptions {
        env: vec![("GATEHOUSE_LOG_FORMAT".into(), "json".into())],
        ..Default::default()
    })
    .await;
    app.add_user("ann@example.com").await;
    let page = post_password_with(&app.browser(), "ann@example.com", &[]).await;
    let id = request_id(&page);
    wait_for_log(&app, &id).await;

    let mut lines = Vec::new();
    for line in app.server.output().lines() {
        // The one plain line on stdout, for scripts and tests (DESIGN.md §4).
        if line.starts_with("listening on http://") {
            continue;
        }
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        for field in ["timestamp", "level", "message"] {
            assert!(object.get(field).is_some(), "no {field}: {line}");
        }
        lines.push(object);
    }
    let requests: Vec<_> = lines.iter().filter(|l| l["message"] == "request").collect();
    assert!(requests.len() >= 2, "one line per request: {lines:?}");
    let password = requests
        .iter()
        .find(|l| l["request_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no request line for {id}: {requests:?}"));
    assert_eq!(password["level"], "INFO");
    assert_eq!(password["route"], "/sign-in/password");
    assert_eq!(password["status"], 303);
    assert!(password["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0));
    // What the request logged on its way carries its id too.
    let event = lines
        .iter()
        .find(|l| l["message"] == "security event" && l["event"] == "password")
        .unwrap_or_else(|| panic!("no security event: {lines:?}"));
    assert_eq!(event["span"]["request_id"], id.as_str());
}
