//! The account page: trusted devices (S29), sessions (S33), recent activity (S51).

use crate::helpers::{TestApp, PASSWORD};
use gatehouse_testkit::{Browser, Page};

const CHROME_ON_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const FIREFOX_ON_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0";

fn browser_as(app: &TestApp, user_agent: &str) -> Browser {
    Browser::with_user_agent(&app.server.base_url, user_agent)
}

/// The devices the account page lists, by the id its revoke forms send.
fn trusted_device_ids(page: &Page) -> Vec<String> {
    page.html()
        .forms()
        .iter()
        .filter(|form| form.action() == Some("/account/devices/revoke"))
        .filter_map(|form| form.hidden("device_id"))
        .collect()
}

#[tokio::test]
async fn people_see_their_trusted_devices_by_name_and_revoke_one() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let laptop = browser_as(&app, CHROME_ON_LINUX);
    app.sign_in_saving_backup_code(&laptop, "ann@example.com", true)
        .await;
    let page = laptop.get("/account").await;
    let html = page.html();
    assert!(html.headings().iter().any(|h| h == "Trusted devices"));
    assert!(html.has_text("Chrome on Linux"), "{}", html.text());
    let devices = trusted_device_ids(&page);
    let device_id = devices.first().expect("a revoke form");
    assert_eq!(device_id.len(), 36, "a UUID: {device_id}");

    let page = laptop
        .post("/account/devices/revoke", &[("device_id", device_id)])
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/account?notice=device-revoked")
    );
    let page = laptop.get("/account").await;
    assert!(
        page.html()
            .has_text("No device skips the verification code."),
        "the list is empty now"
    );
    app.sign_out(&laptop).await;
    let page = app
        .enter_email_and_password(&laptop, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/code"),
        "the revoked device is asked again"
    );
}

#[tokio::test]
async fn a_device_of_another_account_cannot_be_revoked() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    app.add_user("bob@example.com").await;
    let bobs = app.browser();
    app.sign_in_saving_backup_code(&bobs, "bob@example.com", true)
        .await;
    let page = bobs.get("/account").await;
    let bobs_device = trusted_device_ids(&page).remove(0);
    assert_eq!(bobs_device.len(), 36, "a UUID: {bobs_device}");
    let anns = app.signed_in_browser("ann@example.com").await;
    let page = anns
        .post("/account/devices/revoke", &[("device_id", &bobs_device)])
        .await;
    assert_eq!(page.status, 404);
    app.sign_out(&bobs).await;
    let page = app
        .enter_email_and_password(&bobs, "bob@example.com", PASSWORD)
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/account"),
        "Bob's device is still trusted"
    );
}

#[tokio::test]
async fn signing_out_all_other_sessions_keeps_this_one() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let here = browser_as(&app, CHROME_ON_LINUX);
    app.sign_in_saving_backup_code(&here, "ann@example.com", false)
        .await;
    let there = browser_as(&app, FIREFOX_ON_WINDOWS);
    let code = app.sign_in_until_code(&there, "ann@example.com").await;
    there.post("/sign-in/code", &[("code", &code)]).await;
    assert!(app.is_signed_in(&there).await);

    let page = here.get("/account").await;
    assert!(page.html().has_text("Firefox on Windows") && page.html().has_text("This session"));
    let page = here.post("/account/sessions/end-others", &[]).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/account?notice=sessions-ended")
    );
    assert!(app.is_signed_in(&here).await);
    assert!(!app.is_signed_in(&there).await);
}

#[tokio::test]
async fn recent_activity_shows_failed_attempts_and_sign_ins() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    app.enter_email_and_password(&app.browser(), "ann@example.com", "not the password")
        .await;
    let browser = browser_as(&app, CHROME_ON_LINUX);
    app.sign_in_saving_backup_code(&browser, "ann@example.com", false)
        .await;
    let page = browser.get("/account").await;
    let html = page.html();
    assert!(html
        .headings()
        .iter()
        .any(|h| h == "Recent security activity"));
    for line in [
        "Wrong password entered",
        "Password accepted",
        "Sign-in code sent by email",
        "Signed in",
    ] {
        assert!(html.has_text(line), "missing {line:?}");
    }
}

#[tokio::test]
async fn a_new_backup_code_from_the_account_page_replaces_the_old_one_once_saved() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    let old = app
        .sign_in_saving_backup_code(&browser, "ann@example.com", false)
        .await;
    assert!(browser
        .get("/account")
        .await
        .html()
        .has_text("You have a saved backup code."));

    let page = browser.post("/account/backup-code/new", &[]).await;
    assert_eq!(page.location.as_deref(), Some("/account/backup-code"));
    let page = browser.get("/account/backup-code").await;
    assert_eq!(
        page.html().heading().as_deref(),
        Some("Save your backup code")
    );
    let new = page.backup_code().expect("the new code");
    assert_ne!(new, old);
    let file = browser.get("/account/backup-code/download").await;
    assert!(file.body.contains(&new) && file.body.contains("ann@example.com"));

    let page = browser.post("/account/backup-code", &[]).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/account?notice=backup-code-saved")
    );
    // Shown once: the page is gone (S21).
    let again = browser.get("/account/backup-code").await;
    assert_eq!(again.location.as_deref(), Some("/account"));
    assert!(again.backup_code().is_none());

    app.sign_out(&browser).await;
    app.sign_in_until_code(&browser, "ann@example.com").await;
    let page = browser
        .post("/sign-in/backup-code", &[("backup_code", &old)])
        .await;
    assert_eq!(page.status, 401, "the old code stopped working");
    let page = browser
        .post("/sign-in/backup-code", &[("backup_code", &new)])
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/save-backup-code"));
}

#[tokio::test]
async fn the_email_address_changes_only_once_the_new_one_is_verified_and_the_old_one_is_told() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    let page = browser
        .post("/account/email/start", &[("new_email", "ann@new.example")])
        .await;
    assert_eq!(page.location.as_deref(), Some("/account/email"));
    let code = app.mail.wait_for_code("ann@new.example", 0).await;
    // Not yet: the old address still signs in.
    assert!(browser
        .get("/account")
        .await
        .html()
        .has_text("Signed in as ann@example.com."));
    let before = app.mails_to("ann@example.com");
    let page = browser.post("/account/email", &[("code", &code)]).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/account?notice=email-changed")
    );
    let notice = app.mail.wait_for_new("ann@example.com", before).await;
    assert!(
        notice
            .subject()
            .contains("email address of your account was changed"),
        "S52"
    );
    assert!(browser
        .get("/account")
        .await
        .html()
        .has_text("Signed in as ann@new.example."));

    app.sign_out(&browser).await;
    let page = app
        .enter_email_and_password(&browser, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(page.status, 401, "the old address no longer signs in");
    let page = app
        .enter_email_and_password(&browser, "ann@new.example", PASSWORD)
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/code"));
}

#[tokio::test]
async fn an_address_of_another_account_can_never_be_taken_over() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    app.add_user("bob@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    let page = browser
        .post("/account/email/start", &[("new_email", "bob@example.com")])
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/account/email"),
        "the same answer as for a free address"
    );
    for code in ["000000", "123456", "999999"] {
        let page = browser.post("/account/email", &[("code", code)]).await;
        assert_eq!(page.status, 401);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        app.mails_to("bob@example.com"),
        0,
        "Bob's address got no code"
    );
    assert!(browser
        .get("/account")
        .await
        .html()
        .has_text("Signed in as ann@example.com."));
}

#[tokio::test]
async fn a_sign_in_from_a_new_browser_is_reported_to_the_owner() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let laptop = browser_as(&app, CHROME_ON_LINUX);
    app.sign_in_saving_backup_code(&laptop, "ann@example.com", false)
        .await;
    let after_first = app.mails_to("ann@example.com");
    // The same browser again: nothing to report.
    app.sign_out(&laptop).await;
    let code = app.sign_in_until_code(&laptop, "ann@example.com").await;
    laptop.post("/sign-in/code", &[("code", &code)]).await;
    assert!(app.mail.to("ann@example.com")[after_first..]
        .iter()
        .all(|m| !m.subject().contains("New sign-in")));
    // Another browser and system: the owner hears of it (S52).
    let before = app.mails_to("ann@example.com");
    let other = browser_as(&app, FIREFOX_ON_WINDOWS);
    let code = app.sign_in_until_code(&other, "ann@example.com").await;
    other.post("/sign-in/code", &[("code", &code)]).await;
    let notice = app.mail.wait_for_new("ann@example.com", before + 1).await;
    assert!(
        notice.subject().contains("New sign-in"),
        "{}",
        notice.subject()
    );
    assert!(notice.text().contains("Firefox on Windows"));
}

#[tokio::test]
async fn the_account_page_has_a_plain_title() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    let page = browser.get("/account").await;
    let html = page.html();
    let activity = html
        .headings()
        .into_iter()
        .filter(|h| h == "Recent security activity")
        .count();
    assert_eq!(activity, 1);
    assert_eq!(
        html.title().as_deref(),
        Some("Your account · Gatehouse"),
        "{}",
        &page.body[..400]
    );
}

#[tokio::test]
async fn starting_the_email_change_again_brings_no_fresh_guesses() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    browser
        .post("/account/email/start", &[("new_email", "ann@new.example")])
        .await;
    let code = app.mail.wait_for_code("ann@new.example", 0).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let page = browser.post("/account/email", &[("code", wrong)]).await;
        assert_eq!(page.status, 401);
    }
    // A new start mails a new code, but the account's budget is already used: the guesses
    // wait behind growing delays (2 s, then 4 s) instead of getting five more (S10, S48).
    let page = browser
        .post("/account/email/start", &[("new_email", "ann@new.example")])
        .await;
    assert_eq!(page.location.as_deref(), Some("/account/email"));
    app.mail.wait_for_code("ann@new.example", 1).await;
    let mut evaluated = 0;
    for _ in 0..5 {
        let page = browser.post("/account/email", &[("code", wrong)]).await;
        match page.status {
            401 => evaluated += 1,
            410 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        evaluated <= 2,
        "{evaluated} guesses evaluated after a restart"
    );
}
