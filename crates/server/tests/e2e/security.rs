//! Page-level protections: CSRF and Origin (S35), headers (S36), cookies (S32), and codes
//! kept out of logs and the database (S11).

use crate::helpers::{TestApp, PASSWORD};

#[tokio::test]
async fn a_form_without_the_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    browser.get("/sign-in").await;
    let page = browser
        .post_raw("/sign-in", &[("email", "ann@example.com")], &[])
        .await;
    assert_eq!(page.status, 403);
    assert_eq!(
        browser.cookie("gatehouse_flow"),
        None,
        "no sign-in was started"
    );
    let page = browser
        .post_raw(
            "/sign-in",
            &[("email", "ann@example.com"), ("csrf", "forged")],
            &[],
        )
        .await;
    assert_eq!(page.status, 403);
}

#[tokio::test]
async fn a_cross_site_post_is_refused_even_with_the_token() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser.get("/sign-in").await;
    let csrf = browser.cookie("gatehouse_csrf").unwrap();
    let fields = [("email", "ann@example.com"), ("csrf", csrf.as_str())];
    let page = browser
        .post_raw("/sign-in", &fields, &[("origin", "https://evil.example")])
        .await;
    assert_eq!(page.status, 403);
    assert!(page.html().has_text("sent from another site"));
    let same = browser
        .post_raw(
            "/sign-in",
            &fields,
            &[("origin", app.server.base_url.as_str())],
        )
        .await;
    assert_eq!(same.status, 303);
    // What Chromium sends for its own same-origin form under `Referrer-Policy: no-referrer`.
    let chromium = browser
        .post_raw(
            "/sign-in",
            &fields,
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(chromium.status, 303);
    let sibling = browser
        .post_raw("/sign-in", &fields, &[("sec-fetch-site", "same-site")])
        .await;
    assert_eq!(sibling.status, 403, "a sibling subdomain is not us");
}

#[tokio::test]
async fn every_page_sends_the_security_headers() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    for path in [
        "/sign-in",
        "/sign-in/password",
        "/account",
        "/no-such-page",
        "/static/gatehouse.css",
    ] {
        let page = browser.get(path).await;
        let header = |name: &str| {
            page.headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let csp = header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(
            header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            header("referrer-policy").as_deref(),
            Some("no-referrer"),
            "{path}"
        );
        // Plain HTTP on loopback: no HSTS (it is sent when the public URL is https).
        assert_eq!(header("strict-transport-security"), None, "{path}");
    }
}

#[tokio::test]
async fn only_pages_set_a_cookie_so_protocol_and_static_responses_stay_cacheable() {
    let app = TestApp::spawn().await;
    for path in [
        "/oauth2/jwks",
        "/.well-known/openid-configuration",
        "/static/gatehouse.css",
        "/static/copy.js",
        "/healthz",
    ] {
        // A fresh browser each time: it holds no CSRF cookie, so one would be set if any.
        let page = app.browser().get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.set_cookies(), Vec::<String>::new(), "{path}");
        assert!(
            page.headers.get("content-security-policy").is_some(),
            "{path}: the security headers still apply (S36)"
        );
    }
    let page = app.browser().get("/sign-in").await;
    assert!(
        page.set_cookies()
            .iter()
            .any(|c| c.starts_with("gatehouse_csrf=")),
        "{:?}",
        page.set_cookies()
    );
    let missing = app.browser().get("/no-such-page").await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn behind_https_cookies_are_secure_host_prefixed_and_hsts_is_sent() {
    let app = TestApp::spawn_with(gatehouse_testkit::ServerOptions {
        env: vec![("GATEHOUSE_PUBLIC_URL".into(), "https://id.example".into())],
        ..Default::default()
    })
    .await;
    let page = app.browser().get("/sign-in").await;
    assert!(page.headers.get("strict-transport-security").is_some());
    let cookie = page.set_cookies().join("\n");
    assert!(
        cookie.contains("__Host-gatehouse_csrf=") && cookie.contains("Secure"),
        "{cookie}"
    );
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    let code = app.sign_in_until_code(&browser, "ann@example.com").await;
    browser.post("/sign-in/code", &[("code", &code)]).await;
    let page = browser.post("/sign-in/save-backup-code", &[]).await;
    let session = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("gatehouse_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert_eq!(
        page.location.as_deref(),
        Some("/account"),
        "no token in the URL (S32)"
    );
}

#[tokio::test]
async fn the_password_step_gives_a_handle_that_opens_nothing_else() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    app.sign_in_until_code(&browser, "ann@example.com").await;
    // S31: between the password and the code, the account page stays shut.
    assert!(!app.is_signed_in(&browser).await);
    let page = browser.post("/sign-in/save-backup-code", &[]).await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/code"));
    assert!(!app.is_signed_in(&browser).await);
}

#[tokio::test]
async fn codes_and_backup_codes_never_reach_the_logs_or_the_database() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    let mut secrets = Vec::new();
    let code = app.sign_in_until_code(&browser, "ann@example.com").await;
    secrets.push(code.clone());
    browser.post("/sign-in/code", &[("code", &code)]).await;
    let backup = browser
        .get("/sign-in/save-backup-code")
        .await
        .backup_code()
        .unwrap();
    secrets.push(backup.clone());
    secrets.push(backup.replace('-', ""));
    browser.post("/sign-in/save-backup-code", &[]).await;
    app.sign_out(&browser).await;
    // A second sign-in with a wrong code too, so failures are logged as well.
    let code = app.sign_in_until_code(&browser, "ann@example.com").await;
    secrets.push(code.clone());
    browser.post("/sign-in/code", &[("code", "000000")]).await;

    let logs = app.server.output();
    let mut database = Vec::new();
    for entry in std::fs::read_dir(&app.server.data_dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("gatehouse.db")
        {
            database.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(!database.is_empty());
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "S11: {secret} is in the logs"
        );
        assert!(
            !contains(&database, secret.as_bytes()),
            "S11: {secret} is in the database"
        );
    }
    assert!(!logs.contains(PASSWORD));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_sign_in_handle_is_renewed_when_the_password_is_accepted() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    browser
        .post("/sign-in", &[("email", "ann@example.com")])
        .await;
    let page = browser
        .post("/sign-in/password", &[("password", PASSWORD)])
        .await;
    let flow = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("gatehouse_flow="))
        .expect("the flow cookie is set again");
    assert!(
        flow.contains("Max-Age=600") && flow.contains("HttpOnly"),
        "{flow}"
    );
}
