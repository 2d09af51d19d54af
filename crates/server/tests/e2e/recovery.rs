//! Helpdesk recovery (issue 12, part 3) over the CLI, SMTP and HTTP: the owner's notice and
//! its "Cancel this recovery" button (S59: opening the link changes nothing, the button
//! acts once), the wait, the printed recovery link and what it resets; and `gatehouse report
//! risk` with the account page's nudge (part 4).

use crate::helpers::TestApp;
use gatehouse_testkit::CliOutput;

const ANN: &str = "ann@example.com";

/// The path of the first link to `path` in `text` (the CLI builds links on its configured
/// public URL; the test server listens elsewhere).
fn link_path(text: &str, path: &str) -> String {
    let start = text
        .find(&format!("{path}?token="))
        .unwrap_or_else(|| panic!("no {path} link in {text}"));
    text[start..]
        .split(|c: char| c.is_whitespace() || c == '"')
        .next()
        .unwrap()
        .to_string()
}

fn token_of(path: &str) -> String {
    path.split_once("?token=").unwrap().1.to_string()
}

async fn cli(app: &TestApp, args: &[&str]) -> CliOutput {
    app.server.cli(args, None).await
}

async fn shown(app: &TestApp, email: &str) -> serde_json::Value {
    let out = cli(app, &["user", "show", email]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

/// The outcomes of the recovery events recorded (S51), sorted: events of the same second
/// have no order of their own.
async fn recovery_events(app: &TestApp) -> Vec<String> {
    let pool = app.server.sqlite().await;
    let mut results: Vec<String> =
        sqlx::query_scalar("SELECT result FROM security_events WHERE event = 'account_recovery'")
            .fetch_all(&pool)
            .await
            .unwrap();
    results.sort();
    results
}

/// Stands in for the waiting period passing: the only thing a test cannot wait for.
async fn end_the_wait(app: &TestApp) {
    let pool = app.server.sqlite().await;
    sqlx::query("UPDATE account_recoveries SET ready_at = ready_at - 72 * 3600")
        .execute(&pool)
        .await
        .unwrap();
}

fn stderr_lines(out: &CliOutput) -> Vec<&str> {
    out.stderr
        .lines()
        .filter(|l| !l.contains(" INFO "))
        .collect()
}

#[tokio::test]
async fn the_owner_is_told_at_once_and_only_the_button_cancels_the_recovery() {
    let app = TestApp::spawn().await;
    app.add_user(ANN).await;
    let before = app.mails_to(ANN);
    let out = cli(&app, &["user", "recover", ANN]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let started: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let pending = &started["pending_recovery"];
    assert_eq!(
        pending["ready_at"].as_i64().unwrap() - pending["started_at"].as_i64().unwrap(),
        72 * 3600
    );
    assert!(out.stderr.contains("user recover --link"), "{}", out.stderr);
    assert!(!shown(&app, ANN).await["pending_recovery"].is_null());

    let notice = app.mail.wait_for_new(ANN, before).await;
    assert_eq!(
        notice.subject(),
        "Someone asked to recover your Gatehouse account"
    );
    let link = link_path(&notice.text(), "/recovery/cancel");
    let token = token_of(&link);
    assert!(token.len() >= 43, "at least 128 random bits (S59)");

    // A mail scanner opens the link: nothing changes.
    let browser = app.browser();
    for _ in 0..2 {
        let page = browser.get(&link).await;
        assert_eq!(page.status, 200);
        let html = page.html();
        assert_eq!(
            html.heading().as_deref(),
            Some("Someone asked to recover your account")
        );
        assert!(html.button("Cancel this recovery").is_some());
        assert!(html.mentions("a•••@example.com"), "{}", html.text());
    }
    assert!(!shown(&app, ANN).await["pending_recovery"].is_null());

    // Without the CSRF token the button does nothing (S35).
    let page = browser
        .post_raw("/recovery/cancel", &[("token", &token)], &[])
        .await;
    assert_eq!(page.status, 403);
    assert!(!shown(&app, ANN).await["pending_recovery"].is_null());

    let before = app.mails_to(ANN);
    let page = browser.post("/recovery/cancel", &[("token", &token)]).await;
    assert_eq!(page.location.as_deref(), Some("/recovery/cancelled"));
    let page = browser.get("/recovery/cancelled").await;
    assert_eq!(page.html().heading().as_deref(), Some("Recovery cancelled"));
    assert!(shown(&app, ANN).await["pending_recovery"].is_null());
    let told = app.mail.wait_for_new(ANN, before).await;
    assert_eq!(
        told.subject(),
        "The recovery of your Gatehouse account was cancelled"
    );

    // Single use: the link and the button are dead now, and no recovery link can follow.
    let page = browser.post("/recovery/cancel", &[("token", &token)]).await;
    assert_eq!(page.status, 410);
    assert_eq!(browser.get(&link).await.status, 410);
    end_the_wait(&app).await;
    let out = cli(&app, &["user", "recover", "--link", ANN]).await;
    assert_ne!(out.code, 0);
    assert_eq!(stderr_lines(&out).len(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("no recovery"), "{}", out.stderr);
    assert_eq!(recovery_events(&app).await, vec!["cancelled", "started"]);
}

#[tokio::test]
async fn after_the_wait_the_printed_link_resets_the_second_step_once() {
    let app = TestApp::spawn().await;
    app.add_user(ANN).await;
    let laptop = app.browser();
    app.sign_in_saving_backup_code(&laptop, ANN, true).await;

    assert_eq!(cli(&app, &["user", "recover", ANN]).await.code, 0);
    let out = cli(&app, &["user", "recover", ANN]).await;
    assert_ne!(out.code, 0, "one pending recovery per account");
    assert!(out.stderr.contains("already pending"), "{}", out.stderr);
    let out = cli(&app, &["user", "recover", "--link", ANN]).await;
    assert_ne!(out.code, 0);
    assert_eq!(stderr_lines(&out).len(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("waiting period"), "{}", out.stderr);

    end_the_wait(&app).await;
    let before = app.mails_to(ANN);
    let out = cli(&app, &["user", "recover", "--link", ANN]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let issued: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let link = link_path(issued["recovery_link"].as_str().unwrap(), "/recover");
    let token = token_of(&link);
    let told = app.mail.wait_for_new(ANN, before).await;
    assert_eq!(
        told.subject(),
        "A recovery link for your Gatehouse account was issued"
    );
    assert!(
        !told.text().contains(&token),
        "a printed link is not mailed"
    );
    assert!(!shown(&app, ANN).await["pending_recovery"]["link_expires_at"].is_null());

    // Opening the link changes nothing; the button resets, once.
    let helpdesk = app.browser();
    let page = helpdesk.get(&link).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.html().heading().as_deref(),
        Some("Recover your account")
    );
    assert!(app.is_signed_in(&laptop).await);
    let page = helpdesk.post("/recover", &[("token", &token)]).await;
    assert_eq!(page.location.as_deref(), Some("/sign-in?notice=recovered"));
    let page = helpdesk.post("/recover", &[("token", &token)]).await;
    assert_eq!(page.status, 410, "single use");
    assert!(!app.is_signed_in(&laptop).await, "every session ended");
    let summary = shown(&app, ANN).await;
    assert!(summary["pending_recovery"].is_null());
    assert_eq!(summary["active_backup_codes"], 0);

    // The next sign-in, even on the once trusted laptop: password, e-mailed code, and a
    // new backup code to save.
    app.sign_in_saving_backup_code(&laptop, ANN, false).await;
    assert_eq!(
        recovery_events(&app).await,
        vec!["link_issued", "started", "success"]
    );
    let recovered = app.mail.to(ANN);
    assert!(recovered
        .iter()
        .any(|m| m.subject() == "Your Gatehouse account was recovered"));
}

#[tokio::test]
async fn the_operator_cancels_or_mails_the_link_and_mistakes_change_nothing() {
    let app = TestApp::spawn().await;
    app.add_user(ANN).await;
    let out = cli(&app, &["user", "recover", "nobody@example.com"]).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("no account"), "{}", out.stderr);
    let out = cli(&app, &["user", "recover", "--send", ANN]).await;
    assert_eq!(out.code, 2, "--send needs --link: {}", out.stderr);
    assert!(shown(&app, ANN).await["pending_recovery"].is_null());
    let out = cli(&app, &["user", "recover", "--cancel", ANN]).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("no recovery"), "{}", out.stderr);

    assert_eq!(cli(&app, &["user", "recover", ANN]).await.code, 0);
    let out = cli(&app, &["user", "recover", "--cancel", ANN]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(shown(&app, ANN).await["pending_recovery"].is_null());

    assert_eq!(cli(&app, &["user", "recover", ANN]).await.code, 0);
    end_the_wait(&app).await;
    let before = app.mails_to(ANN);
    let out = cli(&app, &["user", "recover", "--link", "--send", ANN]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stdout.contains("token="),
        "a mailed link is not printed"
    );
    let mail = app.mail.wait_for_new(ANN, before).await;
    assert_eq!(mail.subject(), "Recover your Gatehouse account");
    let link = link_path(&mail.text(), "/recover");
    let page = app.browser().get(&link).await;
    assert_eq!(
        page.html().heading().as_deref(),
        Some("Recover your account")
    );
    assert_eq!(
        recovery_events(&app).await,
        vec!["cancelled_by_operator", "link_issued", "started", "started"]
    );
}

#[tokio::test]
async fn reset_second_factor_says_it_is_the_emergency_path() {
    let app = TestApp::spawn().await;
    app.add_user(ANN).await;
    let out = cli(&app, &["user", "reset-second-factor", ANN]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("emergency path"), "{}", out.stderr);
    let help = cli(&app, &["user", "--help"]).await;
    assert!(help.stdout.contains("Emergency path"), "{}", help.stdout);
    assert!(help.stdout.contains("recover"), "{}", help.stdout);
}

#[tokio::test]
async fn report_risk_prints_each_account_at_risk_and_a_summary() {
    let app = TestApp::spawn().await;
    for email in [ANN, "bob@example.com", "bounce@example.com"] {
        app.add_user(email).await;
    }
    app.signed_in_browser(ANN).await;
    // Mail to this address is refused for good (SMTP 550): a sign-in's code bounces.
    app.mail.refuse("bounce@example.com");
    app.enter_email_and_password(
        &app.browser(),
        "bounce@example.com",
        crate::helpers::PASSWORD,
    )
    .await;

    let out = cli(&app, &["report", "risk"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![
            serde_json::json!({"email": ANN, "risks": ["email_codes_only"]}),
            serde_json::json!({"email": "bob@example.com", "risks": ["no_backup_code", "email_codes_only"]}),
            serde_json::json!({"email": "bounce@example.com", "risks": ["no_backup_code", "email_codes_only", "mail_bouncing"]}),
        ]
    );
    assert!(
        out.stderr.contains(
            "risk report: 3 of 3 accounts at risk (no_backup_code 2, email_codes_only 3, mail_bouncing 1, locked 0, trusted_devices_stale 0)"
        ),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn the_account_page_nudges_an_account_with_only_emailed_codes() {
    let app = TestApp::spawn().await;
    app.add_user(ANN).await;
    let browser = app.signed_in_browser(ANN).await;
    let html = browser.get("/account").await.html();
    assert!(
        html.headings()
            .contains(&"Keep your account safe".to_string()),
        "{:?}",
        html.headings()
    );
    let (form, _) = html
        .form_of_button("Add an authenticator app or a passkey")
        .expect("the nudge's button");
    assert_eq!(form.action(), Some("/account/authenticator/start"));
    assert!(
        !html.mentions("no saved backup code"),
        "a backup code was just saved"
    );
}
