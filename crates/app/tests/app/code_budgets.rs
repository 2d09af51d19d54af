//! Guess budgets that starting again does not refill (S10, S48): a new e-mail change or a
//! new sign-up makes a new code with five guesses of its own, so every guess also counts in
//! a lasting budget kept in the database. And texts are limited per client address, IPv6
//! per /64 (S9, S47).

use crate::harness::{client, session_of, Harness, EMAIL, PASSWORD, START};
use gatehouse_app::email_change::EmailChangeError;
use gatehouse_app::sign_in::BrowserCookies;
use gatehouse_app::sign_up::SignUpError;
use gatehouse_app::{ClientInfo, Settings};
use gatehouse_core::{FlowStep, LockoutPolicy};

const NEW: &str = "ann@new.example";
const NEW_PASSWORD: &str = "another long passphrase";

/// Sessions that stay live and fresh for days of the fixed clock, so an attacker holding
/// one can start again as often as the limits allow.
fn patient_settings() -> Settings {
    Settings {
        session_absolute_secs: 30 * 86_400,
        session_idle_secs: 30 * 86_400,
        fresh_sign_in_secs: 30 * 86_400,
        allow_sign_up: true,
        ..Settings::default()
    }
}

/// The lasting budget: the hard limit of the second step.
fn budget() -> u32 {
    LockoutPolicy::SECOND_STEP.hard_limit.unwrap()
}

async fn session(h: &mut Harness) -> String {
    let trust = h.sign_in_fully(true).await.unwrap();
    let (_, outcome) = h.password_step(PASSWORD, Some(&trust)).await;
    session_of(&outcome.unwrap())
}

/// The code of the next mail, which is sent in the background.
async fn mailed_code(h: &mut Harness) -> String {
    for _ in 0..200 {
        if let Some(mail) = h.new_mail().pop() {
            return mail
                .lines()
                .map(str::trim)
                .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
                .expect("a code in the mail")
                .to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no mail with a code");
}

fn wrong_for(code: &str) -> &'static str {
    if code == "000000" {
        "111111"
    } else {
        "000000"
    }
}

#[tokio::test]
async fn starting_an_email_change_again_and_again_evaluates_no_more_guesses_than_the_budget() {
    let mut h = Harness::with_settings(patient_settings()).await;
    let session = session(&mut h).await;
    let mut evaluated = 0;
    for _ in 0..110 {
        // Past the longest delay, and few enough starts an hour that each mails a code.
        h.clock.advance(16 * 60);
        h.app
            .start_email_change(&h.fresh(&session).await, NEW)
            .await
            .unwrap();
        let wrong = wrong_for(&mailed_code(&mut h).await);
        // Four guesses, so the change's own five never end it: only the lasting budget can.
        for _ in 0..4 {
            match h
                .app
                .confirm_email_change(&h.fresh(&session).await, wrong, &client())
                .await
            {
                Err(EmailChangeError::WrongCode) => evaluated += 1,
                Err(EmailChangeError::TooManyAttempts) => {}
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(evaluated, budget());
    // Spent: not even the right code of a new change is looked at.
    h.clock.advance(16 * 60);
    h.app
        .start_email_change(&h.fresh(&session).await, NEW)
        .await
        .unwrap();
    let right = mailed_code(&mut h).await;
    let result = h
        .app
        .confirm_email_change(&h.fresh(&session).await, &right, &client())
        .await;
    assert!(
        matches!(result, Err(EmailChangeError::TooManyAttempts)),
        "{result:?}"
    );
    assert!(
        h.app.show_account(EMAIL).await.is_ok(),
        "still ann@example.com"
    );
}

#[tokio::test]
async fn a_start_refused_by_the_hourly_limit_leaves_no_code_that_works() {
    let mut h = Harness::with_settings(patient_settings()).await;
    let session = session(&mut h).await;
    let mut last_code = None;
    // The sign-in took one unit of the account's hourly budget of codes; spend the rest.
    for _ in 1..Settings::default().codes_per_account_per_hour {
        h.app
            .start_email_change(&h.fresh(&session).await, NEW)
            .await
            .unwrap();
        last_code = Some(mailed_code(&mut h).await);
    }
    h.app
        .start_email_change(&h.fresh(&session).await, NEW)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(h.new_mail().is_empty(), "the refused start mails nothing");
    let account = h.app.show_account(EMAIL).await.unwrap();
    let pending = h
        .app
        .store()
        .find_email_change(&account.id, START)
        .await
        .unwrap()
        .unwrap();
    assert!(pending.taken, "marked as never completing");
    // The change it made can never complete, not even with the code mailed before it.
    let result = h
        .app
        .confirm_email_change(&h.fresh(&session).await, &last_code.unwrap(), &client())
        .await;
    assert!(
        matches!(result, Err(EmailChangeError::WrongCode)),
        "{result:?}"
    );
    assert!(h.app.show_account(NEW).await.is_err());
}

#[tokio::test]
async fn a_right_code_after_wrong_ones_changes_the_address_and_gives_the_budget_back() {
    let mut h = Harness::with_settings(patient_settings()).await;
    let session = session(&mut h).await;
    h.app
        .start_email_change(&h.fresh(&session).await, NEW)
        .await
        .unwrap();
    let right = mailed_code(&mut h).await;
    for _ in 0..3 {
        let result = h
            .app
            .confirm_email_change(&h.fresh(&session).await, wrong_for(&right), &client())
            .await;
        assert!(
            matches!(result, Err(EmailChangeError::WrongCode)),
            "{result:?}"
        );
    }
    h.app
        .confirm_email_change(&h.fresh(&session).await, &right, &client())
        .await
        .unwrap();
    assert!(h.app.show_account(NEW).await.is_ok());
    let account = h.app.show_account(NEW).await.unwrap();
    let record = h
        .app
        .store()
        .find_failure_record(&format!("second-step:{}", account.id))
        .await
        .unwrap();
    assert_eq!(record.failures, 0);
}

#[tokio::test]
async fn starting_a_sign_up_again_and_again_evaluates_no_more_guesses_than_the_budget() {
    let mut h = Harness::with_settings(patient_settings()).await;
    let mut evaluated = 0;
    for _ in 0..110 {
        // Past the longest delay, and at most three starts an hour, so each mails a code.
        h.clock.advance(21 * 60);
        let token = h
            .app
            .start_sign_up(NEW, NEW_PASSWORD, &client())
            .await
            .unwrap();
        let wrong = wrong_for(&mailed_code(&mut h).await);
        for _ in 0..4 {
            match h.app.verify_sign_up(token.as_str(), wrong, &client()).await {
                Err(SignUpError::WrongCode) => evaluated += 1,
                Err(SignUpError::TooManyAttempts) => {}
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(evaluated, budget());
    h.clock.advance(21 * 60);
    let token = h
        .app
        .start_sign_up(NEW, NEW_PASSWORD, &client())
        .await
        .unwrap();
    let right = mailed_code(&mut h).await;
    let result = h
        .app
        .verify_sign_up(token.as_str(), &right, &client())
        .await;
    assert!(
        matches!(result, Err(SignUpError::TooManyAttempts)),
        "{result:?}"
    );
    assert!(
        h.app.show_account(NEW).await.is_err(),
        "no account was made"
    );
    // The budget is the address's: another address signs up as usual.
    let token = h
        .app
        .start_sign_up("bob@example.com", NEW_PASSWORD, &client())
        .await
        .unwrap();
    let right = mailed_code(&mut h).await;
    h.app
        .verify_sign_up(token.as_str(), &right, &client())
        .await
        .unwrap();
    assert!(h.app.show_account("bob@example.com").await.is_ok());
}

#[tokio::test]
async fn a_sign_up_start_refused_by_the_hourly_limit_can_never_complete() {
    let mut h = Harness::with_settings(patient_settings()).await;
    for _ in 0..3 {
        h.app
            .start_sign_up(NEW, NEW_PASSWORD, &client())
            .await
            .unwrap();
        mailed_code(&mut h).await;
    }
    // The fourth in the hour: the same answer, no mail, and a registration with no way in.
    let token = h
        .app
        .start_sign_up(NEW, NEW_PASSWORD, &client())
        .await
        .unwrap();
    assert!(h.app.sign_up_target(token.as_str()).await.is_ok());
    let row = h
        .app
        .store()
        .find_registration(&token.hash().0, START)
        .await
        .unwrap()
        .unwrap();
    assert!(
        row.password_hash.is_none(),
        "it holds no password to make an account with"
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(h.new_mail().is_empty(), "nothing is sent");
    for _ in 0..4 {
        let result = h
            .app
            .verify_sign_up(token.as_str(), "123456", &client())
            .await;
        assert!(matches!(result, Err(SignUpError::WrongCode)), "{result:?}");
    }
    assert!(h.app.show_account(NEW).await.is_err());
}

#[tokio::test]
async fn texts_are_limited_per_ipv6_64_block_not_per_address() {
    let mut h = Harness::with_settings(Settings {
        sms_per_client_per_hour: 2,
        sms_per_number_per_hour: 100,
        ..patient_settings()
    })
    .await;
    let session = session(&mut h).await;
    h.app
        .start_phone(&h.fresh(&session).await, "+44 7700 900123", &client())
        .await
        .unwrap();
    let code = h.new_text_code();
    h.app
        .verify_phone(&h.fresh(&session).await, &code, &client())
        .await
        .unwrap();
    let texted_from = |address: &str| {
        let app = h.app.clone();
        let who = ClientInfo {
            address: Some(address.to_string()),
            user_agent: Some("test".into()),
            request_id: None,
        };
        async move {
            let flow = app.start_sign_in(EMAIL, None, &who).await.unwrap();
            let outcome = app
                .submit_password(flow.as_str(), PASSWORD, BrowserCookies::default(), &who)
                .await
                .unwrap();
            assert!(matches!(
                outcome.progress,
                gatehouse_app::sign_in::Progress::Next(FlowStep::SecondStep)
            ));
            outcome.code_sent
        }
    };
    assert!(texted_from("2001:db8:1:2::a").await);
    assert!(texted_from("2001:db8:1:2::b").await);
    assert!(
        !texted_from("2001:db8:1:2:ffff::c").await,
        "a third address in the same /64 shares its limit"
    );
    assert!(
        texted_from("2001:db8:1:3::a").await,
        "the next /64 is counted apart"
    );
}
