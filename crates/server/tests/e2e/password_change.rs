//! Changing the password from the account page (S6, S2, S5).

use crate::helpers::{TestApp, PASSWORD};

const NEW_PASSWORD: &str = "a brand new passphrase";

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_everything_else() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let here = app.signed_in_browser("ann@example.com").await;
    let elsewhere = app.browser();
    let code = app.sign_in_until_code(&elsewhere, "ann@example.com").await;
    let page = elsewhere
        .post("/sign-in/code", &[("code", &code), ("trust_device", "on")])
        .await;
    assert_eq!(page.location.as_deref(), Some("/account"));

    let page = here
        .post(
            "/account/password",
            &[
                ("current_password", "not my password"),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 401);
    assert!(page.html().has_text("Your current password is incorrect"));
    let page = here
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "password1234"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(
        page.html().has_text("too common"),
        "S2: the refusal says why"
    );

    let before = app.mails_to("ann@example.com");
    let page = here
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/account?notice=password-changed")
    );
    assert!(
        app.is_signed_in(&here).await,
        "the session that changed it stays"
    );
    assert!(!app.is_signed_in(&elsewhere).await, "other sessions end");
    let notice = app.mail.wait_for_new("ann@example.com", before).await;
    assert!(notice.subject().contains("password was changed"));

    // The old password is gone, and the other browser's trust with it.
    let page = app
        .enter_email_and_password(&elsewhere, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(page.status, 401);
    let page = app
        .enter_email_and_password(&elsewhere, "ann@example.com", NEW_PASSWORD)
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/code"),
        "trusted devices were revoked"
    );
}

#[tokio::test]
async fn password_fields_work_with_password_managers() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    let page = browser.get("/sign-in").await;
    let autocomplete = |page: &gatehouse_testkit::Page, field: &str| {
        page.html()
            .field(field)
            .and_then(|f| f.autocomplete().map(str::to_string))
    };
    // `webauthn`: the browser may offer passkeys in the field's autofill too (S58).
    assert_eq!(
        autocomplete(&page, "email").as_deref(),
        Some("username webauthn")
    );
    let page = browser
        .post("/sign-in", &[("email", "ann@example.com")])
        .await;
    assert_eq!(page.status, 303);
    let page = browser.get("/sign-in/password").await;
    assert_eq!(
        autocomplete(&page, "password").as_deref(),
        Some("current-password"),
        "S5"
    );
    assert_eq!(
        autocomplete(&page, "username").as_deref(),
        Some("username"),
        "S5: the manager knows whose password"
    );
    assert_eq!(
        page.html().field("username").map(|f| f.value()).as_deref(),
        Some("ann@example.com")
    );
    let signed_in = app.signed_in_browser("ann@example.com").await;
    let page = signed_in.get("/account").await;
    assert_eq!(
        autocomplete(&page, "new_password").as_deref(),
        Some("new-password"),
        "S5"
    );
}

/// Moves every session's sign-in `secs` into the past, as if it had signed in that long ago
/// (the server's clock cannot be moved from outside).
async fn sign_ins_happened_earlier(app: &TestApp, secs: i64) {
    let pool = app.server.sqlite().await;
    sqlx::query("UPDATE sessions SET created_at = created_at - $1")
        .bind(secs)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[tokio::test]
async fn changing_the_password_needs_a_recent_sign_in() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    sign_ins_happened_earlier(&app, 11 * 60).await;
    let page = browser
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    // S34: sent to sign in again, and nothing changed.
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in?return_to=/account&notice=reauthenticate"),
        "{}",
        page.body
    );
    assert!(
        app.is_signed_in(&browser).await,
        "the session itself lives on"
    );
    let other = app.browser();
    let page = app
        .enter_email_and_password(&other, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/code"),
        "the old password still works"
    );
}
