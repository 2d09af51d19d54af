//! Codes, sign-ins, trust and sessions end when SECURITY.md says (S7, S9, S26, S31, S32).

use crate::harness::{assert_step, client, is_signed_in, session_of, Harness, PASSWORD};
use gatehouse_app::sign_in::SignInError;
use gatehouse_app::Settings;
use gatehouse_core::FlowStep;

#[tokio::test]
async fn an_expired_code_is_refused() {
    let mut h = Harness::new().await;
    let (flow, _) = h.password_step(PASSWORD, None).await;
    let code = h.new_code();
    h.clock.advance(10 * 60);
    let result = h.app.submit_code(&flow, &code, false, &client()).await;
    assert!(matches!(result, Err(SignInError::NoSignIn)), "{result:?}");
}

#[tokio::test]
async fn a_code_works_until_just_before_ten_minutes() {
    let mut h = Harness::new().await;
    let (flow, _) = h.password_step(PASSWORD, None).await;
    let code = h.new_code();
    h.clock.advance(10 * 60 - 1);
    let outcome = h
        .app
        .submit_code(&flow, &code, false, &client())
        .await
        .unwrap();
    assert_step(
        &outcome,
        FlowStep::SaveBackupCode {
            proof: gatehouse_core::Proof::EmailCode,
        },
    );
}

#[tokio::test]
async fn resend_waits_for_the_cooldown_and_kills_the_old_code() {
    let mut h = Harness::new().await;
    let (flow, _) = h.password_step(PASSWORD, None).await;
    let old = h.new_code();
    let early = h.app.resend_code(&flow, &client()).await;
    assert!(
        matches!(early, Err(SignInError::ResendTooSoon(30))),
        "{early:?}"
    );
    assert!(h.new_mail().is_empty(), "nothing sent during the cooldown");
    h.clock.advance(30);
    h.app.resend_code(&flow, &client()).await.unwrap();
    let new = h.new_code();
    if old != new {
        let result = h.app.submit_code(&flow, &old, false, &client()).await;
        assert!(
            matches!(result, Err(SignInError::WrongCode)),
            "the old code is dead: {result:?}"
        );
    }
    assert!(h
        .app
        .submit_code(&flow, &new, false, &client())
        .await
        .is_ok());
}

#[tokio::test]
async fn the_fifth_resend_in_a_sign_in_is_refused_and_nothing_is_sent() {
    let mut h = Harness::new().await;
    let (flow, _) = h.password_step(PASSWORD, None).await;
    h.new_mail();
    for _ in 0..4 {
        h.clock.advance(30);
        h.app.resend_code(&flow, &client()).await.unwrap();
    }
    assert_eq!(h.new_mail().len(), 4);
    h.clock.advance(30);
    let refused = h.app.resend_code(&flow, &client()).await;
    assert!(
        matches!(refused, Err(SignInError::ResendLimit)),
        "{refused:?}"
    );
    assert!(h.new_mail().is_empty());
}

#[tokio::test]
async fn codes_per_account_are_limited_across_sign_ins() {
    let mut h = Harness::with_settings(Settings {
        codes_per_account_per_hour: 3,
        ..Settings::default()
    })
    .await;
    for _ in 0..3 {
        let (_, outcome) = h.password_step(PASSWORD, None).await;
        assert!(outcome.unwrap().code_sent);
    }
    assert_eq!(h.new_mail().len(), 3);
    // The fourth sign-in within the hour gets to the code page, but no mail goes out (S9).
    let (_, outcome) = h.password_step(PASSWORD, None).await;
    let outcome = outcome.unwrap();
    assert!(!outcome.code_sent);
    assert!(h.new_mail().is_empty());
}

#[tokio::test]
async fn trust_lasts_thirty_days_and_never_slides() {
    let mut h = Harness::new().await;
    let trust = h.sign_in_fully(true).await.expect("a trust token");
    h.clock.advance(29 * 86_400);
    let (_, outcome) = h.password_step(PASSWORD, Some(&trust)).await;
    assert!(is_signed_in(&outcome.unwrap()), "trusted on day 29");
    // Having been used on day 29 does not extend it (S26).
    h.clock.advance(86_400);
    let (_, outcome) = h.password_step(PASSWORD, Some(&trust)).await;
    assert_step(&outcome.unwrap(), FlowStep::SecondStep);
}

#[tokio::test]
async fn sessions_end_after_an_idle_hour_and_after_twelve_hours_in_any_case() {
    let mut h = Harness::new().await;
    let trust = h.sign_in_fully(true).await.unwrap();
    let (_, outcome) = h.password_step(PASSWORD, Some(&trust)).await;
    let session = session_of(&outcome.unwrap());
    assert!(h.app.find_session(&session).await.unwrap().is_some());
    h.clock.advance(60 * 60 + 1);
    assert!(
        h.app.find_session(&session).await.unwrap().is_none(),
        "idle for over an hour"
    );

    let (_, outcome) = h.password_step(PASSWORD, Some(&trust)).await;
    let session = session_of(&outcome.unwrap());
    for _ in 0..14 {
        h.clock.advance(50 * 60);
        assert!(
            h.app.find_session(&session).await.unwrap().is_some(),
            "active within 12 hours"
        );
    }
    h.clock.advance(50 * 60);
    assert!(
        h.app.find_session(&session).await.unwrap().is_none(),
        "past the absolute limit"
    );
}

#[tokio::test]
async fn several_backup_codes_can_be_issued_when_configured() {
    let mut h = Harness::with_settings(Settings {
        backup_codes_per_account: 3,
        ..Settings::default()
    })
    .await;
    let (flow, _) = h.password_step(PASSWORD, None).await;
    let code = h.new_code();
    h.app
        .submit_code(&flow, &code, false, &client())
        .await
        .unwrap();
    let view = h.app.view_sign_in(&flow).await.unwrap();
    assert_eq!(view.backup_codes.len(), 3);
    let distinct: std::collections::HashSet<_> = view.backup_codes.iter().collect();
    assert_eq!(distinct.len(), 3);
}

#[tokio::test]
async fn a_reset_link_works_for_sixty_minutes_only() {
    let mut h = Harness::new().await;
    h.app
        .request_password_reset(crate::harness::EMAIL, &client())
        .await
        .unwrap();
    let token = h.reset_token().await;
    h.clock.advance(60 * 60 - 1);
    assert!(
        h.app.password_reset_target(&token).await.is_ok(),
        "valid until the hour is up"
    );
    h.clock.advance(1);
    let result = h
        .app
        .reset_password(&token, "a new long passphrase", &client())
        .await;
    assert!(
        matches!(
            result,
            Err(gatehouse_app::password_reset::ResetError::InvalidLink)
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn reset_requests_are_limited_per_address() {
    let mut h = Harness::new().await;
    for _ in 0..5 {
        h.app
            .request_password_reset(crate::harness::EMAIL, &client())
            .await
            .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(h.new_mail().len(), 3, "three links an hour, then silence");
}

/// S57: the housekeeping task keeps security events for the configured time and no longer,
/// forgets failure counters a month after their last failure, but never a lock.
#[tokio::test]
async fn housekeeping_keeps_events_for_their_retention_and_prunes_stale_budgets() {
    let mut h = Harness::with_settings(Settings {
        event_retention_days: 30,
        ..Settings::default()
    })
    .await;
    let store = h.app.store().clone();
    let account = store
        .find_account_by_email(crate::harness::EMAIL)
        .await
        .unwrap()
        .unwrap();
    // A wrong password: one security event, a failure on the account and on the address.
    let (_, outcome) = h.password_step("wrong password", None).await;
    assert!(matches!(outcome, Err(SignInError::InvalidCredentials)));
    let locked_key = "account:locked@example.com";
    for _ in 0..100 {
        let seen = store.find_failure_record(locked_key).await.unwrap();
        assert!(store
            .claim_attempt(locked_key, seen, false, crate::harness::START)
            .await
            .unwrap());
    }
    let events = |h: &Harness| {
        let (store, id) = (h.app.store().clone(), account.id.clone());
        async move { store.list_events(&id, 100).await.unwrap().len() }
    };

    let recorded = events(&h).await;
    assert!(recorded >= 1, "the wrong password is a security event");

    h.clock.advance(29 * 24 * 3600);
    h.app.housekeeping().await.unwrap();
    assert_eq!(events(&h).await, recorded, "kept within the retention time");
    assert_eq!(
        store
            .find_failure_record(&format!("account:{}", crate::harness::EMAIL))
            .await
            .unwrap()
            .failures,
        1,
        "a failure counter stays for a month"
    );

    h.clock.advance(2 * 24 * 3600);
    h.app.housekeeping().await.unwrap();
    assert_eq!(events(&h).await, 0, "gone after the retention time");
    let account_key = format!("account:{}", crate::harness::EMAIL);
    assert_eq!(
        store
            .find_failure_record(&account_key)
            .await
            .unwrap()
            .failures,
        0
    );
    assert_eq!(
        store
            .find_failure_record("client:192.0.2.10")
            .await
            .unwrap()
            .failures,
        0
    );
    assert_eq!(
        store
            .find_failure_record(locked_key)
            .await
            .unwrap()
            .failures,
        100,
        "a lock waits for an admin"
    );
}
