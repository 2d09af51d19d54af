//! Failure budgets across sign-ins (S10, S19, S25, S47, S52).

use crate::harness::{assert_step, client, Harness, EMAIL, PASSWORD};
use gatehouse_app::sign_in::{BrowserCookies, SignInError};
use gatehouse_core::{FlowStep, Proof};

#[tokio::test]
async fn an_account_locks_after_one_hundred_wrong_passwords_until_an_admin_enables_it() {
    let mut h = Harness::new().await;
    for n in 0..100 {
        // Wait out each growing delay, so every attempt is really evaluated.
        h.clock.advance(16 * 60);
        let (_, outcome) = h.password_step("wrong password", None).await;
        assert!(
            matches!(outcome, Err(SignInError::InvalidCredentials)),
            "attempt {n}: {outcome:?}"
        );
    }
    let summary = h.app.show_account(EMAIL).await.unwrap();
    assert_eq!(summary.failed_password_attempts, 100);
    // The lock-out risk report names it (issue 12, part 4).
    let report = h.app.risk_report().await.unwrap();
    assert!(report.accounts[0]
        .risks
        .contains(&gatehouse_app::risk::Risk::Locked));
    // Locked: the right password gets the same generic answer, even a day later.
    h.clock.advance(86_400);
    let (_, outcome) = h.password_step(PASSWORD, None).await;
    assert!(matches!(outcome, Err(SignInError::InvalidCredentials)));
    // The owner was told (S52).
    assert!(h
        .new_mail()
        .iter()
        .any(|m| m.contains("locked after too many failed sign-ins")));
    h.app.enable_account(EMAIL).await.unwrap();
    let report = h.app.risk_report().await.unwrap();
    assert!(!report.accounts[0]
        .risks
        .contains(&gatehouse_app::risk::Risk::Locked));
    let (_, outcome) = h.password_step(PASSWORD, None).await;
    assert!(outcome.is_ok(), "{outcome:?}");
}

#[tokio::test]
async fn wrong_codes_count_for_the_account_across_sign_ins() {
    let mut h = Harness::new().await;
    let (first, _) = h.password_step(PASSWORD, None).await;
    let code = h.new_code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        let result = h.app.submit_code(&first, wrong, false, &client()).await;
        assert!(matches!(result, Err(SignInError::WrongCode)), "{result:?}");
    }
    let result = h.app.submit_code(&first, wrong, false, &client()).await;
    assert!(
        matches!(result, Err(SignInError::TooManyAttempts)),
        "{result:?}"
    );

    // A new sign-in does not get a fresh budget: the account's second step must wait.
    let (second, _) = h.password_step(PASSWORD, None).await;
    let code = h.new_code();
    let result = h.app.submit_code(&second, &code, false, &client()).await;
    assert!(
        matches!(result, Err(SignInError::SecondStepLocked)),
        "{result:?}"
    );
    // Backup codes share that budget (S25).
    let result = h
        .app
        .submit_backup_code(&second, "0000-0000-0000-0000-0000-0000", &client())
        .await;
    assert!(
        matches!(result, Err(SignInError::SecondStepLocked)),
        "{result:?}"
    );
    h.clock.advance(2);
    let outcome = h
        .app
        .submit_code(&second, &code, false, &client())
        .await
        .unwrap();
    // Accepted after the delay: on to saving the first backup code.
    assert_step(
        &outcome,
        FlowStep::SaveBackupCode {
            proof: Proof::EmailCode,
        },
    );
}

#[tokio::test]
async fn a_right_password_resets_the_run_of_failures() {
    let mut h = Harness::new().await;
    for _ in 0..4 {
        let _ = h.password_step("wrong password", None).await;
    }
    let (_, outcome) = h.password_step(PASSWORD, None).await;
    assert!(outcome.is_ok());
    assert_eq!(
        h.app
            .show_account(EMAIL)
            .await
            .unwrap()
            .failed_password_attempts,
        0
    );
}

#[tokio::test]
async fn a_disabled_account_gets_the_generic_answer() {
    let mut h = Harness::new().await;
    h.app.disable_account(EMAIL).await.unwrap();
    let (_, outcome) = h.password_step(PASSWORD, None).await;
    assert!(matches!(outcome, Err(SignInError::InvalidCredentials)));
}

#[tokio::test]
async fn a_busy_shared_address_slows_people_down_without_counting_against_their_account() {
    let mut h = Harness::new().await;
    // Someone behind the same address sprays wrong passwords at unknown addresses.
    for n in 0..25 {
        let flow = h
            .app
            .start_sign_in(&format!("nobody{n}@example.com"), None, &client())
            .await
            .unwrap();
        let _ = h
            .app
            .submit_password(
                flow.as_str(),
                "wrong password",
                BrowserCookies::default(),
                &client(),
            )
            .await;
    }
    // The address is in its delay: Ann, behind it too, is asked to try again...
    let (_, outcome) = h.password_step(PASSWORD, None).await;
    assert!(matches!(outcome, Err(SignInError::InvalidCredentials)));
    // ...but her own account has not been charged for it (S47).
    assert_eq!(
        h.app
            .show_account(EMAIL)
            .await
            .unwrap()
            .failed_password_attempts,
        0
    );
    h.clock.advance(5 * 60);
    let (_, outcome) = h.password_step(PASSWORD, None).await;
    assert!(outcome.is_ok(), "{outcome:?}");
}
