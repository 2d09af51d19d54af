//! "Trust this device" (issue item 2; S26-S30).

use crate::helpers::{TestApp, PASSWORD};

#[tokio::test]
async fn a_trusted_browser_skips_the_code_but_not_the_password() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    app.sign_in_saving_backup_code(&browser, "ann@example.com", true)
        .await;
    app.sign_out(&browser).await;

    let before = app.mails_to("ann@example.com");
    let page = browser
        .post("/sign-in", &[("email", "ann@example.com")])
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/password"),
        "the password is still asked"
    );
    let page = browser
        .post("/sign-in/password", &[("password", "wrong password")])
        .await;
    assert_eq!(page.status, 401, "trust never replaces the password (S27)");
    let page = browser
        .post("/sign-in/password", &[("password", PASSWORD)])
        .await;
    assert_eq!(page.location.as_deref(), Some("/account"), "no code asked");
    assert!(app.is_signed_in(&browser).await);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.mails_to("ann@example.com"), before, "no code was sent");
}

#[tokio::test]
async fn another_browser_is_asked_for_a_code() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let trusted = app.browser();
    app.sign_in_saving_backup_code(&trusted, "ann@example.com", true)
        .await;
    let other = app.browser();
    let page = app
        .enter_email_and_password(&other, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/code"));
}

#[tokio::test]
async fn trust_is_off_unless_ticked() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    assert_eq!(browser.cookie("gatehouse_trust"), None);
    app.sign_out(&browser).await;
    let page = app
        .enter_email_and_password(&browser, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/code"));
}

#[tokio::test]
async fn the_trust_cookie_is_http_only_same_site_and_lasts_thirty_days() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    let code = app.sign_in_until_code(&browser, "ann@example.com").await;
    let page = browser
        .post("/sign-in/code", &[("code", &code), ("trust_device", "on")])
        .await;
    let trust = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("gatehouse_trust="))
        .expect("trust cookie");
    assert!(
        trust.contains("HttpOnly") && trust.contains("SameSite=Lax"),
        "{trust}"
    );
    assert!(
        trust.contains(&format!("Max-Age={}", 30 * 24 * 3600)),
        "{trust}"
    );
}

#[tokio::test]
async fn a_tampered_or_foreign_trust_cookie_silently_falls_back_to_the_code() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    app.add_user("bob@example.com").await;
    let bobs = app.browser();
    app.sign_in_saving_backup_code(&bobs, "bob@example.com", true)
        .await;
    let bobs_trust = bobs.cookie("gatehouse_trust").expect("trust cookie");

    // Bob's trust is bound to Bob: it does not skip Ann's code (S26, S27).
    let browser = app.browser();
    browser.set_cookie("gatehouse_trust", &bobs_trust);
    let page = app
        .enter_email_and_password(&browser, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/code"));

    // A tampered value is ignored (S30).
    let browser = app.browser();
    let mut tampered = bobs_trust.clone();
    tampered.replace_range(0..1, if tampered.starts_with('A') { "B" } else { "A" });
    browser.set_cookie("gatehouse_trust", &tampered);
    let page = app
        .enter_email_and_password(&browser, "bob@example.com", PASSWORD)
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/code"));
}

#[tokio::test]
async fn a_forged_trust_field_on_the_password_step_does_nothing() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    app.sign_out(&browser).await;
    browser
        .post("/sign-in", &[("email", "ann@example.com")])
        .await;
    let page = browser
        .post(
            "/sign-in/password",
            &[("password", PASSWORD), ("trust_device", "on")],
        )
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/code"),
        "S28: trust is offered only on the code step"
    );
    assert_eq!(browser.cookie("gatehouse_trust"), None);
}

#[tokio::test]
async fn disabling_the_account_revokes_its_trusted_devices_and_sessions() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    app.sign_in_saving_backup_code(&browser, "ann@example.com", true)
        .await;
    let out = app
        .server
        .cli(&["user", "disable", "ann@example.com"], None)
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !app.is_signed_in(&browser).await,
        "S33: sessions end with the account"
    );
    let out = app
        .server
        .cli(&["user", "enable", "ann@example.com"], None)
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let page = app
        .enter_email_and_password(&browser, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/code"),
        "S29: trust was revoked"
    );
}

/// S26: the operator's `trust_days` is what the box promises and what the cookie lasts.
#[tokio::test]
async fn the_code_page_and_the_trust_cookie_follow_the_configured_trust_lifetime() {
    let app = TestApp::spawn_with(gatehouse_testkit::ServerOptions {
        env: vec![("GATEHOUSE_TRUST_DAYS".into(), "7".into())],
        ..Default::default()
    })
    .await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    let code = app.sign_in_until_code(&browser, "ann@example.com").await;
    let page = browser.get("/sign-in/code").await;
    let html = page.html();
    assert!(
        html.has_text("Skip verification codes on this computer and browser for 7 days."),
        "{}",
        html.text()
    );
    assert!(!html.has_text("30 days"), "{}", html.text());
    let page = browser
        .post("/sign-in/code", &[("code", &code), ("trust_device", "on")])
        .await;
    let trust = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("gatehouse_trust="))
        .expect("trust cookie");
    assert!(
        trust.contains(&format!("Max-Age={}", 7 * 24 * 3600)),
        "{trust}"
    );
}
