//! "Create account": off by default; the address is verified by code before the account
//! exists; the same answer whether or not the address is taken (S46); S1-S3 apply.

use crate::helpers::{TestApp, PASSWORD};
use gatehouse_testkit::ServerOptions;

async fn open_for_sign_up() -> TestApp {
    TestApp::spawn_with(ServerOptions {
        env: vec![("GATEHOUSE_ALLOW_SIGN_UP".into(), "true".into())],
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn sign_up_is_closed_unless_turned_on() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let html = browser.get("/sign-in").await.html();
    assert!(html.link("Create account").is_none() && !html.mentions("Create account"));
    assert_eq!(browser.get("/sign-up").await.status, 404);
    let page = browser
        .post(
            "/sign-up",
            &[("email", "new@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 404);
}

#[tokio::test]
async fn a_new_account_is_created_after_its_address_is_verified_and_then_signs_in() {
    let app = open_for_sign_up().await;
    let browser = app.browser();
    assert_eq!(
        browser
            .get("/sign-in")
            .await
            .html()
            .link("Create account")
            .as_deref(),
        Some("/sign-up")
    );
    let page = browser
        .post(
            "/sign-up",
            &[("email", "new@example.com"), ("password", "password1234")],
        )
        .await;
    assert_eq!(page.status, 422, "S2 applies");
    let page = browser
        .post(
            "/sign-up",
            &[("email", "new@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-up/verify"));
    let code = app.mail.wait_for_code("new@example.com", 0).await;
    // Not an account yet.
    let out = app
        .server
        .cli(&["user", "show", "new@example.com"], None)
        .await;
    assert_ne!(out.code, 0);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let page = browser.post("/sign-up/verify", &[("code", wrong)]).await;
    assert_eq!(page.status, 401);
    let page = browser.post("/sign-up/verify", &[("code", &code)]).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in?notice=account-created")
    );
    // It signs in like every account: password, e-mailed code, a backup code to save.
    app.sign_in_saving_backup_code(&browser, "new@example.com", false)
        .await;
    assert!(app.is_signed_in(&browser).await);
}

#[tokio::test]
async fn a_taken_address_gets_the_same_answer_and_its_owner_a_notice() {
    let app = open_for_sign_up().await;
    app.add_user("ann@example.com").await;
    let taken = app
        .browser()
        .post(
            "/sign-up",
            &[
                ("email", "ann@example.com"),
                ("password", "another long passphrase"),
            ],
        )
        .await;
    let fresh = app
        .browser()
        .post(
            "/sign-up",
            &[
                ("email", "newer@example.com"),
                ("password", "another long passphrase"),
            ],
        )
        .await;
    assert_eq!(
        (taken.status, taken.location.clone()),
        (fresh.status, fresh.location.clone())
    );
    let names = |p: &gatehouse_testkit::Page| {
        p.set_cookies()
            .iter()
            .map(|c| c.split('=').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&taken), names(&fresh));
    let notice = app.mail.wait_for_new("ann@example.com", 0).await;
    assert!(notice.subject().contains("tried to create an account"));
    assert_eq!(notice.code(), None, "the owner gets no code");
    // Ann's password is untouched.
    let page = app
        .enter_email_and_password(&app.browser(), "ann@example.com", PASSWORD)
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/code"));
}

#[tokio::test]
async fn starting_the_sign_up_again_brings_no_fresh_guesses() {
    let app = open_for_sign_up().await;
    let browser = app.browser();
    let start = || {
        browser.post(
            "/sign-up",
            &[("email", "new@example.com"), ("password", PASSWORD)],
        )
    };
    assert_eq!(start().await.location.as_deref(), Some("/sign-up/verify"));
    let code = app.mail.wait_for_code("new@example.com", 0).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        let page = browser.post("/sign-up/verify", &[("code", wrong)]).await;
        assert_eq!(page.status, 401);
    }
    let page = browser.post("/sign-up/verify", &[("code", wrong)]).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-up"),
        "this code is spent"
    );
    // A new start mails a new code, but the address's budget is already used: the guesses
    // wait behind growing delays (2 s, then 4 s) instead of getting five more (S10, S48).
    assert_eq!(start().await.location.as_deref(), Some("/sign-up/verify"));
    app.mail.wait_for_code("new@example.com", 1).await;
    let mut evaluated = 0;
    for _ in 0..4 {
        let page = browser.post("/sign-up/verify", &[("code", wrong)]).await;
        match (page.status, page.location.as_deref()) {
            (401, _) => evaluated += 1,
            (_, Some("/sign-up")) => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(
        evaluated <= 2,
        "{evaluated} guesses evaluated after a restart"
    );
}
