//! Issue 12, part 1 (S59): "Wasn't you? Stop this sign-in." in every mail with a sign-in
//! code. Opening the link changes nothing; its button ends that sign-in (the code stops
//! working, the browser that started it starts over), once; a link ends only its own.

use crate::helpers::TestApp;
use gatehouse_testkit::Browser;

const ANN: &str = "ann@example.com";

/// The stop link of the newest mail to `email`, as a path, and its token.
fn stop_link(app: &TestApp, email: &str) -> (String, String) {
    let mail = app.mail.to(email).pop().expect("a mail");
    let text = mail.text();
    let line = text
        .lines()
        .find(|l| l.starts_with("Wasn't you? Stop this sign-in: "))
        .unwrap_or_else(|| panic!("no stop line in {text}"));
    let url = line
        .trim_start_matches("Wasn't you? Stop this sign-in: ")
        .trim();
    let path = url
        .strip_prefix(&app.server.base_url)
        .unwrap_or_else(|| panic!("a link to this server: {url}"))
        .to_string();
    let token = path
        .strip_prefix("/sign-in/stop?token=")
        .unwrap_or_else(|| panic!("{path}"))
        .to_string();
    (path, token)
}

/// Presses "Stop this sign-in" on the link's page, with the form's own fields.
async fn press_stop(owner: &Browser, path: &str) -> gatehouse_testkit::Page {
    let page = owner.get(path).await;
    let html = page.html();
    let (form, button) = html
        .form_of_button("Stop this sign-in")
        .unwrap_or_else(|| panic!("no button on {}", html.text()));
    assert_eq!(form.action(), Some("/sign-in/stop"));
    let fields = form.submission(&button);
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(name, _)| name != "csrf")
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    owner.post("/sign-in/stop", &fields).await
}

#[tokio::test]
async fn the_stop_button_ends_the_sign_in_its_code_is_refused_and_a_second_press_is_refused() {
    let app = TestApp::spawn().await;
    app.add_user(ANN).await;
    let intruder = app.browser();
    let code = app.sign_in_until_code(&intruder, ANN).await;
    let (path, token) = stop_link(&app, ANN);

    // Opening the link (twice, as a mail scanner and then the owner) changes nothing.
    let owner = app.browser();
    for _ in 0..2 {
        let page = owner.get(&path).await;
        assert_eq!(page.status, 200);
        let html = page.html();
        assert_eq!(html.heading().as_deref(), Some("Stop this sign-in"));
        assert!(html.button("Stop this sign-in").is_some());
        assert!(!html.mentions(ANN) && !html.mentions("a•••@example.com"));
    }
    assert_eq!(intruder.get("/sign-in/code").await.status, 200);

    let page = press_stop(&owner, &path).await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/stopped"));
    let html = owner.get("/sign-in/stopped").await.html();
    assert_eq!(html.heading().as_deref(), Some("Sign-in stopped"));
    assert!(
        html.has_text("Whoever started it knows your password."),
        "{}",
        html.text()
    );
    assert!(html.link("Change your password").is_some());
    assert!(html.link("See your recent activity").is_some());

    // The code stops working and the intruder's browser must start over.
    let page = intruder.post("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(page.location.as_deref(), Some("/sign-in?notice=expired"));
    assert!(!app.is_signed_in(&intruder).await);
    assert_eq!(
        intruder.get("/sign-in/code").await.location.as_deref(),
        Some("/sign-in?notice=expired")
    );

    let again = owner.post("/sign-in/stop", &[("token", &token)]).await;
    assert_eq!(again.status, 409);
    assert!(again.html().has_text("That sign-in was already stopped."));
    assert!(again.html().button("Stop this sign-in").is_none());

    // The owner's own sign-in shows the stop in the activity list.
    let browser = app.browser();
    let code = app.sign_in_until_code(&browser, ANN).await;
    browser.post("/sign-in/code", &[("code", &code)]).await;
    browser.post("/sign-in/save-backup-code", &[]).await;
    let account = browser.get("/account").await.html();
    assert!(account.has_text("A sign-in was stopped from the link in its email"));
}

#[tokio::test]
async fn a_link_of_another_sign_in_does_nothing_to_this_one() {
    let app = TestApp::spawn().await;
    app.add_user(ANN).await;
    let first = app.browser();
    app.sign_in_until_code(&first, ANN).await;
    let (first_link, _) = stop_link(&app, ANN);
    let second = app.browser();
    let code = app.sign_in_until_code(&second, ANN).await;

    let page = press_stop(&app.browser(), &first_link).await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/stopped"));
    let page = second.post("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/save-backup-code"));
}

#[tokio::test]
async fn a_link_of_a_finished_sign_in_or_a_made_up_one_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.add_user(ANN).await;
    let browser = app.browser();
    app.sign_in_saving_backup_code(&browser, ANN, false).await;
    let (path, token) = stop_link(&app, ANN);

    let page = browser.get(&path).await;
    assert_eq!(page.status, 409);
    assert!(page
        .html()
        .has_text("That sign-in is no longer in progress"));
    assert!(page.html().button("Stop this sign-in").is_none());
    let page = browser.post("/sign-in/stop", &[("token", &token)]).await;
    assert_eq!(page.status, 409);
    assert!(
        app.is_signed_in(&browser).await,
        "the finished sign-in's session lives on"
    );

    let made_up = "A".repeat(43);
    let page = app
        .browser()
        .get(&format!("/sign-in/stop?token={made_up}"))
        .await;
    assert_eq!(page.status, 410);
    assert!(page.html().has_text("This link does not work any more"));
    let page = app
        .browser()
        .post("/sign-in/stop", &[("token", &made_up)])
        .await;
    assert_eq!(page.status, 410);
}
