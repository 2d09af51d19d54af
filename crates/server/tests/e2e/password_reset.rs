//! "Forgot password?" (S6, S46): a single-use link by e-mail that ends every session and
//! trusted device; the same answer for unknown addresses; links never built from Host.

use crate::helpers::{TestApp, PASSWORD};

const NEW_PASSWORD: &str = "a fresh start for ann";

/// The reset link in the newest mail to `email` after `before` mails, as a path.
async fn reset_link(app: &TestApp, email: &str, before: usize) -> String {
    let mail = app.mail.wait_for_new(email, before).await;
    assert!(
        mail.subject().contains("Reset your Gatehouse password"),
        "{}",
        mail.subject()
    );
    let body = mail.text();
    let start = body
        .find(&app.server.base_url)
        .expect("a link to this server")
        + app.server.base_url.len();
    body[start..].split_whitespace().next().unwrap().to_string()
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_signs_out_everywhere() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let laptop = app.browser();
    app.sign_in_saving_backup_code(&laptop, "ann@example.com", true)
        .await;

    let phone = app.browser();
    let page = phone.get("/sign-in/password").await;
    assert_eq!(page.status, 303, "no sign-in yet on the phone");
    let before = app.mails_to("ann@example.com");
    let page = phone
        .post("/forgot-password", &[("email", "ann@example.com")])
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/forgot-password?notice=sent")
    );
    let link = reset_link(&app, "ann@example.com", before).await;
    assert!(link.starts_with("/reset-password?token="), "{link}");
    let token = link
        .trim_start_matches("/reset-password?token=")
        .to_string();

    let page = phone.get(&link).await;
    let html = page.html();
    assert_eq!(html.heading().as_deref(), Some("Choose a new password"));
    assert!(
        html.has_text("For the account a•••@example.com."),
        "{}",
        html.text()
    );
    let page = phone
        .post(
            "/reset-password",
            &[("token", &token), ("new_password", "password1234")],
        )
        .await;
    assert_eq!(page.status, 422, "S2 applies to resets too");
    let before = app.mails_to("ann@example.com");
    let page = phone
        .post(
            "/reset-password",
            &[("token", &token), ("new_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in?notice=password-reset")
    );
    let notice = app.mail.wait_for_new("ann@example.com", before).await;
    assert!(notice.subject().contains("password was reset"));

    assert!(!app.is_signed_in(&laptop).await, "every session ended");
    let page = app
        .enter_email_and_password(&laptop, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(page.status, 401, "the old password is gone");
    let page = app
        .enter_email_and_password(&laptop, "ann@example.com", NEW_PASSWORD)
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/code"),
        "the second step is still asked"
    );

    let again = phone.get(&link).await;
    assert_eq!(again.status, 410, "single use");
}

#[tokio::test]
async fn asking_for_a_reset_answers_the_same_for_unknown_addresses() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let known = app
        .browser()
        .post("/forgot-password", &[("email", "ann@example.com")])
        .await;
    let unknown = app
        .browser()
        .post("/forgot-password", &[("email", "nobody@example.com")])
        .await;
    assert_eq!(
        (known.status, known.location.clone()),
        (unknown.status, unknown.location.clone())
    );
    app.mail.wait_for_new("ann@example.com", 0).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(app.mail.to("nobody@example.com").is_empty());
}

#[tokio::test]
async fn reset_links_never_use_the_host_the_request_names() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    browser.get("/forgot-password").await;
    let csrf = browser.cookie("gatehouse_csrf").unwrap();
    let page = browser
        .post_raw(
            "/forgot-password",
            &[("csrf", &csrf), ("email", "ann@example.com")],
            &[("host", "evil.example")],
        )
        .await;
    assert_eq!(page.status, 303);
    let mail = app.mail.wait_for_new("ann@example.com", 0).await;
    assert!(!mail.data.contains("evil.example"), "reset-link poisoning");
    assert!(mail.text().contains(&app.server.base_url));
}
