//! Texted codes (S13, SMS pumping limits), with a real HTTP server on loopback playing the
//! provider: Twilio's Messages API, or a JSON webhook.

use crate::helpers::{TestApp, PASSWORD};
use gatehouse_testkit::{Browser, ServerOptions, SmsProviderSink};

const NUMBER: &str = "+447700900123";

fn twilio(sink: &SmsProviderSink, extra: &[(&str, &str)]) -> ServerOptions {
    let mut env: Vec<(String, String)> = [
        ("GATEHOUSE_SMS_PROVIDER", "twilio"),
        ("GATEHOUSE_SMS_TWILIO_BASE_URL", sink.base_url.as_str()),
        ("GATEHOUSE_SMS_TWILIO_ACCOUNT_SID", "AC0123456789"),
        ("GATEHOUSE_SMS_TWILIO_AUTH_TOKEN", "twilio-secret"),
        ("GATEHOUSE_SMS_FROM", "+15550001111"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ServerOptions {
        env,
        ..Default::default()
    }
}

/// Adds the phone from the account page and returns the verification code texted to it.
async fn add_phone(sink: &SmsProviderSink, browser: &Browser, typed: &str) -> String {
    let before = sink.to(NUMBER).len();
    let page = browser
        .post("/account/phone/start", &[("phone", typed)])
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/account/phone"),
        "{}",
        page.body
    );
    sink.wait_for_code(NUMBER, before).await
}

#[tokio::test]
async fn a_verified_phone_receives_the_sign_in_code_by_text() {
    let sink = SmsProviderSink::start().await;
    let app = TestApp::spawn_with(twilio(&sink, &[])).await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;

    let code = add_phone(&sink, &browser, "+44 7700 900123").await;
    let text = sink.to(NUMBER).pop().unwrap();
    assert_eq!(text.from.as_deref(), Some("+15550001111"));
    assert_eq!(
        text.credentials.as_deref(),
        Some("AC0123456789:twilio-secret")
    );
    let page = browser.get("/account/phone").await;
    let html = page.html();
    assert_eq!(html.heading().as_deref(), Some("Verify your phone"));
    assert!(html.has_text("•••• 0123"), "{}", html.text());
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(
        browser
            .post("/account/phone", &[("code", wrong)])
            .await
            .status,
        401
    );
    let before = app.mails_to("ann@example.com");
    let page = browser.post("/account/phone", &[("code", &code)]).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/account?notice=phone-added")
    );
    let notice = app.mail.wait_for_new("ann@example.com", before).await;
    assert!(
        notice.subject().contains("phone was added"),
        "S13: {}",
        notice.subject()
    );

    app.sign_out(&browser).await;
    let mails = app.mails_to("ann@example.com");
    let texts = sink.to(NUMBER).len();
    let page = app
        .enter_email_and_password(&browser, "ann@example.com", PASSWORD)
        .await;
    assert_eq!(page.location.as_deref(), Some("/sign-in/code"));
    let page = browser.get("/sign-in/code").await;
    let html = page.html();
    assert_eq!(html.heading().as_deref(), Some("Check your phone"));
    assert!(
        html.has_text("We texted a code to •••• 0123."),
        "{}",
        html.text()
    );
    let code = sink.wait_for_code(NUMBER, texts).await;
    let page = browser.post("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(page.location.as_deref(), Some("/account"));
    assert_eq!(
        app.mails_to("ann@example.com"),
        mails,
        "no code was e-mailed"
    );
}

#[tokio::test]
async fn an_unverified_phone_never_receives_sign_in_codes() {
    let sink = SmsProviderSink::start().await;
    let app = TestApp::spawn_with(twilio(&sink, &[])).await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    add_phone(&sink, &browser, NUMBER).await;
    app.sign_out(&browser).await;
    let texts = sink.to(NUMBER).len();
    app.sign_in_until_code(&browser, "ann@example.com").await;
    assert_eq!(
        app.code_page_heading(&browser).await.as_deref(),
        Some("Check your email")
    );
    assert_eq!(
        sink.to(NUMBER).len(),
        texts,
        "S13: nothing texted to an unverified number"
    );
}

#[tokio::test]
async fn the_webhook_provider_gets_json_with_its_token() {
    let sink = SmsProviderSink::start().await;
    let url = format!("{}/webhook", sink.base_url);
    let options = ServerOptions {
        env: vec![
            ("GATEHOUSE_SMS_PROVIDER".into(), "webhook".into()),
            ("GATEHOUSE_SMS_WEBHOOK_URL".into(), url),
            ("GATEHOUSE_SMS_WEBHOOK_TOKEN".into(), "hook-secret".into()),
        ],
        ..Default::default()
    };
    let app = TestApp::spawn_with(options).await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    add_phone(&sink, &browser, NUMBER).await;
    let text = sink.to(NUMBER).pop().unwrap();
    assert_eq!(text.credentials.as_deref(), Some("hook-secret"));
}

#[tokio::test]
async fn texts_past_the_limit_are_refused_and_never_reach_the_provider() {
    let sink = SmsProviderSink::start().await;
    let app =
        TestApp::spawn_with(twilio(&sink, &[("GATEHOUSE_SMS_PER_NUMBER_PER_HOUR", "2")])).await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    add_phone(&sink, &browser, NUMBER).await;
    add_phone(&sink, &browser, NUMBER).await;
    let page = browser
        .post("/account/phone/start", &[("phone", NUMBER)])
        .await;
    assert_eq!(page.status, 429);
    assert!(page.html().has_text("could not send a text"));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(sink.to(NUMBER).len(), 2);
    let page = browser.get("/account").await;
    assert!(
        page.html().has_text("Text refused (limit reached)"),
        "S51: refusals are counted"
    );
}

#[tokio::test]
async fn a_malformed_number_is_refused_with_a_clear_message() {
    let sink = SmsProviderSink::start().await;
    let app = TestApp::spawn_with(twilio(&sink, &[])).await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    let page = browser
        .post("/account/phone/start", &[("phone", "07700 900123")])
        .await;
    assert_eq!(page.status, 422);
    assert!(page.html().has_text("international format"));
    assert!(sink.all().is_empty());
}

#[tokio::test]
async fn verification_texts_count_against_the_account_budget_too() {
    let sink = SmsProviderSink::start().await;
    let app = TestApp::spawn_with(twilio(
        &sink,
        &[("GATEHOUSE_CODES_PER_ACCOUNT_PER_HOUR", "2")],
    ))
    .await;
    app.add_user("ann@example.com").await;
    let browser = app.browser();
    // The first sign-in's e-mailed code takes one unit of the two.
    app.sign_in_saving_backup_code(&browser, "ann@example.com", false)
        .await;
    add_phone(&sink, &browser, NUMBER).await;
    let page = browser
        .post("/account/phone/start", &[("phone", NUMBER)])
        .await;
    assert_eq!(page.status, 429);
    assert_eq!(
        sink.to(NUMBER).len(),
        1,
        "the refused text never reached the provider"
    );
}

#[tokio::test]
async fn a_verified_phone_is_never_replaced_by_one_that_has_not_been_verified() {
    let sink = SmsProviderSink::start().await;
    let app = TestApp::spawn_with(twilio(&sink, &[])).await;
    app.add_user("ann@example.com").await;
    let browser = app.signed_in_browser("ann@example.com").await;
    let code = add_phone(&sink, &browser, NUMBER).await;
    browser.post("/account/phone", &[("code", &code)]).await;
    let page = browser
        .post("/account/phone/start", &[("phone", "+15550009999")])
        .await;
    assert_eq!(page.status, 409);
    assert!(page.html().has_text("Remove it first"));
    assert!(sink.to("+15550009999").is_empty());
    assert!(browser
        .get("/account")
        .await
        .html()
        .has_text("Sign-in codes can be texted to"));
}
