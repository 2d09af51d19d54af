//! Authenticator apps (S14-S19), checked against an implementation we did not write:
//! `oathtool` from Debian computes every code these tests type.

use crate::helpers::{TestApp, PASSWORD};
use gatehouse_testkit::Browser;

/// The code `oathtool` shows for this secret, `offset` seconds from now.
fn oathtool(secret: &str, offset: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", secret, "-N", &format!("@{}", now + offset)])
        .output()
        .expect("oathtool is installed by scripts/test (Debian package oathtool)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Enrols an app for a signed-in browser and returns its secret as shown on the page.
async fn enrol(app: &TestApp, browser: &Browser) -> String {
    let page = browser.post("/account/authenticator/start", &[]).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/account/authenticator"),
        "{}",
        page.body
    );
    let page = browser.get("/account/authenticator").await;
    let html = page.html();
    assert!(html.has_element("svg"), "an inline QR code");
    let secret: String = html
        .code("totp-secret")
        .expect("the secret on the page")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    assert_eq!(secret.len(), 32, "160 bits in base32 (S15)");
    let before = app.mails_to("ann@example.com");
    let page = browser
        .post("/account/authenticator", &[("code", &oathtool(&secret, 0))])
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/account?notice=authenticator-added"),
        "{}",
        page.body
    );
    let notice = app.mail.wait_for_new("ann@example.com", before).await;
    assert!(
        notice.subject().contains("authenticator app was added"),
        "S18: {}",
        notice.subject()
    );
    secret
}

#[tokio::test]
async fn an_authenticator_app_replaces_the_emailed_code() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    let secret = enrol(&app, &browser).await;
    assert!(browser
        .get("/account")
        .await
        .html()
        .button("Remove authenticator app")
        .is_some());
    app.sign_out(&browser).await;

    let before = app.mails_to("ann@example.com");
    let page = app
        .enter_email_and_password(&browser, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/code"));
    let page = browser.get("/sign-in/code").await;
    let html = page.html();
    assert_eq!(
        html.heading().as_deref(),
        Some("Enter the code from your authenticator app")
    );
    assert_eq!(
        html.link("Try another way").as_deref(),
        Some("/sign-in/another-way")
    );
    assert_eq!(
        html.link("Use a backup code").as_deref(),
        Some("/sign-in/backup-code")
    );
    assert!(html.button("Resend code").is_none() && !html.mentions("Resend code"));
    // The enrolment used the current step; the app's next code is one step ahead (S16).
    let page = browser
        .post("/sign-in/code", &[("code", &oathtool(&secret, 30))])
        .await;
    assert_eq!(page.location.as_deref(), Some("/account"), "{}", page.body);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        app.mails_to("ann@example.com"),
        before,
        "no code was e-mailed"
    );
}

#[tokio::test]
async fn an_authenticator_code_works_once() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    let secret = enrol(&app, &browser).await;
    app.sign_out(&browser).await;
    let code = oathtool(&secret, 30);
    app.enter_email_and_password(&browser, "ann@example.com", PASSWORD)
        .await;
    let page = browser.post("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(page.location.as_deref(), Some("/account"));

    // Someone who watched the code being typed tries it at once in another browser (S17).
    let thief = app.browser();
    app.enter_email_and_password(&thief, "ann@example.com", PASSWORD)
        .await;
    let page = thief.post("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(page.status, 401);
    assert!(page.html().has_text("That code is incorrect"));
    // Codes two steps away are refused too.
    let page = thief
        .post("/sign-in/code", &[("code", &oathtool(&secret, 90))])
        .await;
    assert_eq!(page.status, 401);
}

#[tokio::test]
async fn a_backup_code_still_works_with_an_authenticator_app() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    let saved = app
        .sign_in_saving_backup_code(&browser, "ann@example.com", false)
        .await;
    enrol(&app, &browser).await;
    app.sign_out(&browser).await;
    app.enter_email_and_password(&browser, "ann@example.com", PASSWORD)
        .await;
    let page = browser.get("/sign-in/another-way").await;
    assert_eq!(
        page.html().link("Use a backup code").as_deref(),
        Some("/sign-in/backup-code")
    );
    let page = browser
        .post("/sign-in/backup-code", &[("backup_code", &saved)])
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/save-backup-code"));
}

#[tokio::test]
async fn enrolment_counts_only_after_a_correct_code() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    browser.post("/account/authenticator/start", &[]).await;
    let page = browser
        .post("/account/authenticator", &[("code", "000000")])
        .await;
    assert_eq!(page.status, 401);
    // Abandoned: the next sign-in still e-mails a code (S18).
    app.sign_out(&browser).await;
    let page = app
        .enter_email_and_password(&browser, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/code"));
    assert_eq!(
        app.code_page_heading(&browser).await.as_deref(),
        Some("Check your email")
    );
}

#[tokio::test]
async fn an_admin_can_reset_the_second_factor_of_someone_who_lost_everything() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    app.sign_in_saving_backup_code(&browser, "ann@example.com", true)
        .await;
    enrol(&app, &browser).await;
    let before = app.mails_to("ann@example.com");
    let out = app
        .server
        .cli(&["user", "reset-second-factor", "ann@example.com"], None)
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let notice = app.mail.wait_for_new("ann@example.com", before).await;
    assert!(notice.subject().contains("authenticator app was removed"));
    app.sign_out(&browser).await;
    let page = app
        .enter_email_and_password(&browser, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/code"),
        "trust was revoked too"
    );
    assert_eq!(
        app.code_page_heading(&browser).await.as_deref(),
        Some("Check your email")
    );
}

#[tokio::test]
async fn the_authenticator_secret_is_not_stored_in_clear() {
    let app = TestApp::spawn().await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    let secret = enrol(&app, &browser).await;
    let raw = base32_to_bytes(&secret);
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
    let contains = |needle: &[u8]| database.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(secret.as_bytes()), "S15: the key in base32");
    assert!(!contains(&raw), "S15: the key's bytes");
    assert!(
        !app.server.output().contains(&secret),
        "S15: the key in the logs"
    );
}

/// RFC 4648 base32, decoded here independently of the server's code.
fn base32_to_bytes(text: &str) -> Vec<u8> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.chars() {
        bits = (bits << 5) | ALPHABET.find(c).unwrap() as u64;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}
