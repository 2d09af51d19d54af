//! Issue 12, part 2: a sign-in with the backup code is reviewed ("You signed in with your
//! backup code": devices, sessions, the last events, each device and session with a
//! revoke button, "Everything looks right" to go on), and for 7 days after it a new e-mail
//! address waits 24 hours while the old address can cancel it with one click (S59).

use crate::helpers::{TestApp, PASSWORD};
use gatehouse_testkit::{Browser, Page};

const ANN: &str = "ann@example.com";
const NEW: &str = "ann@new.example";

/// Password, then the backup code, then "I have saved this code for future use": where
/// the last step leads.
async fn sign_in_with_backup_code(app: &TestApp, browser: &Browser, backup: &str) -> Page {
    let page = app.enter_email_and_password(browser, ANN, PASSWORD).await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/code"));
    let page = browser
        .post("/sign-in/backup-code", &[("backup_code", backup)])
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/save-backup-code"),
        "{}",
        page.body
    );
    browser.post("/sign-in/save-backup-code", &[]).await
}

/// Presses the button called `label` on `page` (a form of `browser`'s current page).
async fn press(browser: &Browser, page: &Page, label: &str) -> Page {
    let html = page.html();
    let (form, button) = html
        .form_of_button(label)
        .unwrap_or_else(|| panic!("no {label:?} on {}", html.text()));
    let fields = form.submission(&button);
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(name, _)| name != "csrf")
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    browser.post(form.action().unwrap(), &fields).await
}

#[tokio::test]
async fn a_backup_code_sign_in_lists_devices_and_sessions_to_revoke_then_goes_on() {
    let app = TestApp::spawn().await;
    app.add_user(ANN).await;
    let laptop = app.browser();
    let backup = app.sign_in_saving_backup_code(&laptop, ANN, true).await;

    let phone = app.browser();
    let page = sign_in_with_backup_code(&app, &phone, &backup).await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/review"));
    let page = phone.get("/sign-in/review").await;
    let html = page.html();
    assert_eq!(
        html.heading().as_deref(),
        Some("You signed in with your backup code")
    );
    assert!(
        html.has_text("Signed in with a backup code"),
        "{}",
        html.text()
    );
    let revokes: Vec<_> = html
        .forms()
        .into_iter()
        .filter_map(|f| f.action().map(str::to_string))
        .collect();
    assert!(revokes.contains(&"/sign-in/review/devices/revoke".to_string()));
    assert!(revokes.contains(&"/sign-in/review/sessions/revoke".to_string()));
    assert_eq!(
        html.link("Everything looks right").as_deref(),
        Some("/account")
    );

    // The laptop's session is not this one: revoking it signs the laptop out.
    let session_button = html
        .forms()
        .into_iter()
        .find(|f| f.action() == Some("/sign-in/review/sessions/revoke"))
        .unwrap()
        .buttons()[0]
        .accessible_name()
        .to_string();
    let page = press(&phone, &page, &session_button).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/review?notice=session-revoked")
    );
    assert!(!app.is_signed_in(&laptop).await);
    let page = phone.get("/sign-in/review?notice=session-revoked").await;
    assert!(page.html().has_text("That session was signed out."));

    let device_button = page
        .html()
        .forms()
        .into_iter()
        .find(|f| f.action() == Some("/sign-in/review/devices/revoke"))
        .unwrap()
        .buttons()[0]
        .accessible_name()
        .to_string();
    let page = press(&phone, &page, &device_button).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/review?notice=device-revoked")
    );
    let html = phone.get("/sign-in/review").await.html();
    assert!(html.has_text("No device skips the verification code."));

    // A sign-in with a code is not reviewed: the page sends it on.
    let page = laptop.get("/sign-in/review").await;
    assert_eq!(page.status, 303);
    let code = app.sign_in_until_code(&laptop, ANN).await;
    let page = laptop.post("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(page.location.as_deref(), Some("/account"));
    let page = laptop.get("/sign-in/review").await;
    assert_eq!(page.location.as_deref(), Some("/account"));
}

#[tokio::test]
async fn after_a_backup_code_sign_in_a_new_address_waits_and_the_old_one_cancels_with_one_click() {
    let app = TestApp::spawn().await;
    app.add_user(ANN).await;
    let backup = app
        .sign_in_saving_backup_code(&app.browser(), ANN, false)
        .await;
    let browser = app.browser();
    sign_in_with_backup_code(&app, &browser, &backup).await;

    let page = browser
        .post("/account/email/start", &[("new_email", NEW)])
        .await;
    assert_eq!(page.location.as_deref(), Some("/account/email"));
    let code = app.mail.wait_for_code(NEW, 0).await;
    let before = app.mails_to(ANN);
    let page = browser.post("/account/email", &[("code", &code)]).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/account?notice=email-change-waiting")
    );
    let account = browser
        .get("/account?notice=email-change-waiting")
        .await
        .html();
    assert!(
        account.has_text(&format!("Signed in as {ANN}.")),
        "still the old address"
    );
    assert!(
        account.has_text("the new address takes effect in 24 hours"),
        "{}",
        account.text()
    );

    let notice = app.mail.wait_for_new(ANN, before).await;
    let text = notice.text();
    let line = text
        .lines()
        .find(|l| l.starts_with("Wasn't you? Cancel this change: "))
        .unwrap_or_else(|| panic!("{text}"));
    let url = line
        .trim_start_matches("Wasn't you? Cancel this change: ")
        .trim();
    let path = url.strip_prefix(&app.server.base_url).unwrap().to_string();

    let owner = app.browser();
    for _ in 0..2 {
        let page = owner.get(&path).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.html().heading().as_deref(), Some("Cancel this change"));
        assert!(page.html().button("Cancel this change").is_some());
    }
    let page = owner.get(&path).await;
    let page = press(&owner, &page, "Cancel this change").await;
    assert_eq!(
        page.location.as_deref(),
        Some("/email-change/cancel?notice=cancelled")
    );
    let done = owner
        .get("/email-change/cancel?notice=cancelled")
        .await
        .html();
    assert!(done.has_text("The change was cancelled."));

    let token = path.trim_start_matches("/email-change/cancel?token=");
    let again = owner
        .post("/email-change/cancel", &[("token", token)])
        .await;
    assert_eq!(again.status, 410);
    assert!(again
        .html()
        .has_text("There is no change of address to cancel"));
    let account = browser.get("/account").await.html();
    assert!(
        !account.has_text("Your address changes to"),
        "{}",
        account.text()
    );
}
