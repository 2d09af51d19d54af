//! The sign-in of DESIGN.md §1 with an e-mailed code (issue items 1 and 4).

use crate::helpers::{TestApp, PASSWORD};

#[tokio::test]
async fn a_new_account_signs_in_with_an_emailed_code_and_saves_a_backup_code() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();

    let page = browser.get("/sign-in").await;
    assert_eq!(page.html().heading().as_deref(), Some("Sign in"));
    let code = app.sign_in_until_code(&browser, "ann@example.com").await;
    let page = browser.get("/sign-in/code").await;
    assert!(
        page.html().has_text("We sent a code to a•••@example.com."),
        "{}",
        page.body
    );

    let page = browser.post("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/save-backup-code"));
    // Not signed in until the code is confirmed as saved (S22).
    assert!(!app.is_signed_in(&browser).await);
    let page = browser.get("/sign-in/save-backup-code").await;
    let backup = page.backup_code().expect("backup code on the page");
    assert_eq!(backup.len(), 29, "six groups of four: {backup}");
    assert!(page
        .html()
        .button("I have saved this code for future use")
        .is_some());

    let page = browser.post("/sign-in/save-backup-code", &[]).await;
    assert_eq!(page.location.as_deref(), Some("/account"));
    let page = browser.get("/account").await;
    assert!(page.html().has_text("Signed in as ann@example.com."));
    assert!(app.is_signed_in(&browser).await);
}

#[tokio::test]
async fn the_second_sign_in_needs_no_new_backup_code() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    app.sign_out(&browser).await;

    let code = app.sign_in_until_code(&browser, "ann@example.com").await;
    let page = browser.post("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(page.location.as_deref(), Some("/account"));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;

    let wrong = app
        .enter_email_and_password(&app.browser(), "ann@example.com", "not the password")
        .await;
    let unknown = app
        .enter_email_and_password(&app.browser(), "nobody@example.com", PASSWORD)
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert!(wrong.html().has_text("Email or password is incorrect"));
    assert!(unknown.html().has_text("Email or password is incorrect"));
    // The pages differ only in the address they echo back.
    assert_eq!(
        wrong.body.replace("ann@example.com", "X"),
        unknown
            .body
            .replace("nobody@example.com", "X")
            .replace(&csrf_of(&unknown), &csrf_of(&wrong))
    );
}

/// The CSRF token of the password form, the one value two answers may differ in.
fn csrf_of(page: &gatehouse_testkit::Page) -> String {
    page.html()
        .form("/sign-in/password")
        .and_then(|form| form.hidden("csrf"))
        .expect("a CSRF field")
}

#[tokio::test]
async fn the_email_step_reveals_nothing_about_whether_an_account_exists() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let known = app
        .browser()
        .post("/sign-in", &[("email", "ann@example.com")])
        .await;
    let unknown = app
        .browser()
        .post("/sign-in", &[("email", "nobody@example.com")])
        .await;
    assert_eq!(
        (known.status, known.location.clone()),
        (unknown.status, unknown.location.clone())
    );
    let cookie_names = |page: &gatehouse_testkit::Page| {
        page.set_cookies()
            .iter()
            .map(|c| c.split('=').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(cookie_names(&known), cookie_names(&unknown));
    assert_eq!(known.body, unknown.body);
}

#[tokio::test]
async fn a_malformed_email_is_refused_with_a_clear_message() {
    let app = TestApp::spawn().await;
    let page = app
        .browser()
        .post("/sign-in", &[("email", "not-an-address")])
        .await;
    assert_eq!(page.status, 422);
    assert!(page
        .html()
        .has_text("Enter an email address like name@example.com"));
    assert_eq!(
        page.html().field("email").map(|f| f.value()).as_deref(),
        Some("not-an-address"),
        "what was typed is kept"
    );
}

#[tokio::test]
async fn a_wrong_code_is_refused_and_the_right_one_still_works() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    let code = app.sign_in_until_code(&browser, "ann@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let page = browser.post("/sign-in/code", &[("code", wrong)]).await;
    assert_eq!(page.status, 401);
    assert!(page.html().has_text("That code is incorrect"));
    let page = browser.post("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/save-backup-code"));
}

#[tokio::test]
async fn wrong_code_five_times_ends_the_sign_in() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    let code = app.sign_in_until_code(&browser, "ann@example.com").await;
    let before = app.mails_to("ann@example.com");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        let page = browser.post("/sign-in/code", &[("code", wrong)]).await;
        assert_eq!(page.status, 401);
    }
    let page = browser.post("/sign-in/code", &[("code", wrong)]).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in?notice=too-many-codes")
    );
    // The right code no longer helps: the password must be entered again (S10).
    let page = browser.post("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in?notice=too-many-codes")
    );
    assert!(!app.is_signed_in(&browser).await);
    // S52: the owner is told that someone had the password but not the code.
    let notice = app.mail.wait_for_new("ann@example.com", before).await;
    assert!(
        notice
            .subject()
            .contains("entered your password but not the code"),
        "{}",
        notice.subject()
    );
}

#[tokio::test]
async fn a_code_from_one_sign_in_does_not_work_in_another() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let first = app.browser();
    let code_of_first = app.sign_in_until_code(&first, "ann@example.com").await;
    let second = app.browser();
    let code_of_second = app.sign_in_until_code(&second, "ann@example.com").await;
    if code_of_first == code_of_second {
        return; // one chance in a million; nothing to compare
    }
    let page = second
        .post("/sign-in/code", &[("code", &code_of_first)])
        .await;
    assert_eq!(page.status, 401, "S8: codes are bound to their sign-in");
}

#[tokio::test]
async fn resend_sends_a_new_code_but_not_before_the_cooldown() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    app.sign_in_until_code(&browser, "ann@example.com").await;
    let before = app.mails_to("ann@example.com");
    let page = browser.post("/sign-in/code/resend", &[]).await;
    assert_eq!(page.status, 429);
    assert!(
        page.html().has_text("before asking for another code"),
        "{}",
        page.body
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        app.mails_to("ann@example.com"),
        before,
        "nothing was sent (S9)"
    );
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    let session = browser
        .cookie("gatehouse_session")
        .expect("a session cookie");
    app.sign_out(&browser).await;
    assert!(!app.is_signed_in(&browser).await);
    // A copy of the old cookie is worth nothing now (S33).
    let copy = app.browser();
    copy.set_cookie("gatehouse_session", &session);
    assert_eq!(
        copy.get("/account").await.location.as_deref(),
        Some("/sign-in?return_to=/account")
    );
}

#[tokio::test]
async fn after_signing_in_the_person_returns_to_a_same_origin_path_only() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    for (asked, landed) in [
        ("/account?tab=security", "/account?tab=security"),
        ("//evil.example/", "/account"),
        ("https://evil.example/", "/account"),
    ] {
        let browser = app.browser();
        let page = browser
            .post(
                "/sign-in",
                &[("email", "ann@example.com"), ("return_to", asked)],
            )
            .await;
        assert_eq!(page.location.as_deref(), Some("/sign-in/password"));
        let before = app.mails_to("ann@example.com");
        browser
            .post("/sign-in/password", &[("password", PASSWORD)])
            .await;
        let code = app.mail.wait_for_code("ann@example.com", before).await;
        let page = browser.post("/sign-in/code", &[("code", &code)]).await;
        let page = if page.location.as_deref() == Some("/sign-in/save-backup-code") {
            browser.post("/sign-in/save-backup-code", &[]).await
        } else {
            page
        };
        assert_eq!(
            page.location.as_deref(),
            Some(landed),
            "S37: return_to={asked}"
        );
    }
}
