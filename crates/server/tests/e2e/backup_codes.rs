//! Backup codes (issue item 3; S20-S25).

use crate::helpers::{TestApp, PASSWORD};

/// Signs in up to the code page, then uses a backup code instead.
async fn use_backup_code(
    app: &TestApp,
    browser: &gatehouse_testkit::Browser,
    code: &str,
) -> gatehouse_testkit::Page {
    app.sign_in_until_code(browser, "ann@example.com").await;
    let page = browser.get("/sign-in/backup-code").await;
    assert_eq!(page.html().heading().as_deref(), Some("Use a backup code"));
    browser
        .post("/sign-in/backup-code", &[("backup_code", code)])
        .await
}

#[tokio::test]
async fn a_backup_code_replaces_the_emailed_code_once_in_any_spelling() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    let saved = app
        .sign_in_saving_backup_code(&browser, "ann@example.com", false)
        .await;
    app.sign_out(&browser).await;

    let typed = saved.to_lowercase().replace('-', "");
    let before = app.mails_to("ann@example.com") + 1; // the code mail of this sign-in
    let page = use_backup_code(&app, &browser, &typed).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/save-backup-code"),
        "{}",
        page.body
    );
    // The next code is shown at once, and is a different one (S24).
    let next = browser
        .get("/sign-in/save-backup-code")
        .await
        .backup_code()
        .expect("new code");
    assert_ne!(next, saved);
    assert!(
        !app.is_signed_in(&browser).await,
        "not before the new code is confirmed"
    );
    browser.post("/sign-in/save-backup-code", &[]).await;
    assert!(app.is_signed_in(&browser).await);

    // The owner is told, and the notice carries no code (S24, S21).
    let notice = app.mail.wait_for_new("ann@example.com", before).await;
    assert!(
        notice.subject().contains("backup code was used"),
        "{}",
        notice.subject()
    );
    assert!(!notice.data.contains(&saved) && !notice.data.contains(&next));

    // The used code is dead.
    app.sign_out(&browser).await;
    let page = use_backup_code(&app, &browser, &saved).await;
    assert_eq!(page.status, 401);
    assert!(page.html().has_text("That backup code is incorrect"));
    assert!(!app.is_signed_in(&browser).await);
}

#[tokio::test]
async fn a_backup_code_never_replaces_the_password() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    let saved = app
        .sign_in_saving_backup_code(&browser, "ann@example.com", false)
        .await;
    app.sign_out(&browser).await;
    let fresh = app.browser();
    fresh
        .post("/sign-in", &[("email", "ann@example.com")])
        .await;
    // Without the password step the backup-code page sends the person back to it.
    let page = fresh
        .post("/sign-in/backup-code", &[("backup_code", &saved)])
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/password"));
    assert!(!app.is_signed_in(&fresh).await);
}

#[tokio::test]
async fn a_pending_backup_code_cannot_sign_in() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let first = app.browser();
    let code = app.sign_in_until_code(&first, "ann@example.com").await;
    first.post("/sign-in/code", &[("code", &code)]).await;
    let pending = first
        .get("/sign-in/save-backup-code")
        .await
        .backup_code()
        .expect("pending code");
    // The page is abandoned without "I have saved this code" (S22).
    let second = app.browser();
    let page = use_backup_code(&app, &second, &pending).await;
    assert_eq!(page.status, 401);
    assert!(!app.is_signed_in(&second).await);
}

#[tokio::test]
async fn ten_parallel_sign_ins_with_one_backup_code_give_exactly_one_success() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let owner = app.browser();
    let saved = app
        .sign_in_saving_backup_code(&owner, "ann@example.com", false)
        .await;

    // Ten browsers reach the second step, then all present the code at once (S23).
    let mut browsers = Vec::new();
    for _ in 0..10 {
        let browser = app.browser();
        let page = app
            .enter_email_and_password(&browser, "ann@example.com", PASSWORD)
            .await;
        assert_eq!(page.location.as_deref(), Some("/sign-in/code"));
        browsers.push(browser);
    }
    let attempts = browsers.iter().map(|browser| {
        let browser = browser.clone();
        let saved = saved.clone();
        tokio::spawn(async move {
            browser
                .post("/sign-in/backup-code", &[("backup_code", &saved)])
                .await
        })
    });
    let mut successes = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        let page = attempt.await.unwrap();
        if page.location.as_deref() == Some("/sign-in/save-backup-code") {
            successes += 1;
        } else {
            // Refused as a wrong code, or as one guess too many at the same moment.
            assert!(page.status == 401 || page.status == 429, "{}", page.body);
        }
    }
    assert_eq!(successes, 1);
}

#[tokio::test]
async fn the_download_is_a_text_file_with_the_code() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    let code = app.sign_in_until_code(&browser, "ann@example.com").await;
    browser.post("/sign-in/code", &[("code", &code)]).await;
    let shown = browser
        .get("/sign-in/save-backup-code")
        .await
        .backup_code()
        .unwrap();
    let file = browser.get("/sign-in/save-backup-code/download").await;
    assert_eq!(file.status, 200);
    assert!(file.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(file.headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    assert!(file.body.contains(&shown));
    // Once confirmed, the code can never be shown again (S21).
    browser.post("/sign-in/save-backup-code", &[]).await;
    let again = browser.get("/sign-in/save-backup-code/download").await;
    assert!(!again.body.contains(&shown));
}

#[tokio::test]
async fn a_code_replaced_in_another_window_is_never_taken_as_saved() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let first = app.browser();
    let code = app.sign_in_until_code(&first, "ann@example.com").await;
    first.post("/sign-in/code", &[("code", &code)]).await;
    let first_code = first
        .get("/sign-in/save-backup-code")
        .await
        .backup_code()
        .unwrap();
    let second = app.browser();
    let code = app.sign_in_until_code(&second, "ann@example.com").await;
    second.post("/sign-in/code", &[("code", &code)]).await;
    let second_code = second
        .get("/sign-in/save-backup-code")
        .await
        .backup_code()
        .unwrap();

    // The first window's code was replaced: confirming it must not pretend it was saved.
    let page = first.post("/sign-in/save-backup-code", &[]).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in?notice=backup-code-replaced")
    );
    assert!(!app.is_signed_in(&first).await);
    let page = second.post("/sign-in/save-backup-code", &[]).await;
    assert_eq!(page.location.as_deref(), Some("/account"));

    app.sign_out(&second).await;
    let page = use_backup_code(&app, &app.browser(), &first_code).await;
    assert_eq!(page.status, 401, "the replaced code never became active");
    let page = use_backup_code(&app, &app.browser(), &second_code).await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/save-backup-code"));
}

#[tokio::test]
async fn pressing_the_last_button_twice_lands_on_the_account_page() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    let code = app.sign_in_until_code(&browser, "ann@example.com").await;
    browser.post("/sign-in/code", &[("code", &code)]).await;
    let page = browser.post("/sign-in/save-backup-code", &[]).await;
    assert_eq!(page.location.as_deref(), Some("/account"));
    let again = browser.post("/sign-in/save-backup-code", &[]).await;
    assert_eq!(again.location.as_deref(), Some("/account"));
}
