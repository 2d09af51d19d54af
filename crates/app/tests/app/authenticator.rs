//! Authenticator apps with a controlled clock: fresh sign-in for changes (S18, S34), drift
//! (S16), replay (S17), shared failure budget (S19), trusted devices revoked (S29).

use crate::harness::{assert_step, client, session_of, Harness, EMAIL, PASSWORD};
use gatehouse_app::sessions::SessionRefusal;
use gatehouse_app::sign_in::SignInError;
use gatehouse_core::totp::{base32_decode, code_at, TotpSecret};
use gatehouse_core::FlowStep;

/// Signs in (trusting the device), enrols an app, and returns (session, trust, secret).
pub(crate) async fn enrolled(h: &mut Harness) -> (String, String, TotpSecret) {
    let trust = h.sign_in_fully(true).await.unwrap();
    let (_, outcome) = h.password_step(PASSWORD, Some(&trust)).await;
    let session = session_of(&outcome.unwrap());
    h.app
        .start_authenticator(&h.fresh(&session).await)
        .await
        .unwrap();
    let pending = h
        .app
        .pending_authenticator(&h.fresh(&session).await)
        .await
        .unwrap();
    assert!(pending
        .uri
        .starts_with("otpauth://totp/Gatehouse:ann@example.com?secret="));
    let secret = TotpSecret::from_bytes(base32_decode(&pending.secret).unwrap());
    let now = h.clock_now();
    h.app
        .confirm_authenticator(&h.fresh(&session).await, &code_at(&secret, now), &client())
        .await
        .unwrap();
    (session, trust, secret)
}

impl Harness {
    fn clock_now(&self) -> i64 {
        use gatehouse_app::Clock;
        self.clock.now()
    }
}

#[tokio::test]
async fn changing_the_authenticator_needs_a_recent_sign_in() {
    let mut h = Harness::new().await;
    let trust = h.sign_in_fully(true).await.unwrap();
    let (_, outcome) = h.password_step(PASSWORD, Some(&trust)).await;
    let session = session_of(&outcome.unwrap());
    h.clock.advance(11 * 60);
    // Only a recent sign-in gives the session that starting an enrolment takes (S34).
    let result = h.app.fresh_session(&session).await;
    assert!(matches!(result, Err(SessionRefusal::TooOld)), "{result:?}");
}

#[tokio::test]
async fn adding_an_app_revokes_trusted_devices_and_the_app_is_asked_next() {
    let mut h = Harness::new().await;
    let (_, trust, secret) = enrolled(&mut h).await;
    assert!(h
        .new_mail()
        .iter()
        .any(|m| m.contains("authenticator app was added")));
    // The device trusted before the change is asked again (S29), for the app's code.
    let (flow, outcome) = h.password_step(PASSWORD, Some(&trust)).await;
    assert_step(&outcome.unwrap(), FlowStep::SecondStep);
    assert!(h.new_mail().is_empty(), "no e-mailed code");
    h.clock.advance(30);
    let code = code_at(&secret, h.clock_now());
    let outcome = h
        .app
        .submit_code(&flow, &code, false, &client())
        .await
        .unwrap();
    assert!(matches!(
        outcome.progress,
        gatehouse_app::sign_in::Progress::SignedIn { .. }
    ));
}

#[tokio::test]
async fn one_step_of_drift_is_accepted_and_a_step_is_never_reused() {
    let mut h = Harness::new().await;
    let (_, _, secret) = enrolled(&mut h).await;
    h.clock.advance(60);
    let now = h.clock_now();
    let (flow, _) = h.password_step(PASSWORD, None).await;
    let too_old = code_at(&secret, now - 60);
    let result = h.app.submit_code(&flow, &too_old, false, &client()).await;
    assert!(
        matches!(result, Err(SignInError::WrongCode)),
        "two steps back: {result:?}"
    );
    let behind = code_at(&secret, now - 30);
    assert!(h
        .app
        .submit_code(&flow, &behind, false, &client())
        .await
        .is_ok());
    // The same step in another sign-in is a replay (S17).
    let (flow, _) = h.password_step(PASSWORD, None).await;
    let result = h.app.submit_code(&flow, &behind, false, &client()).await;
    assert!(
        matches!(result, Err(SignInError::WrongCode)),
        "replay: {result:?}"
    );
}

#[tokio::test]
async fn wrong_app_codes_share_the_second_step_budget() {
    let mut h = Harness::new().await;
    enrolled(&mut h).await;
    let (flow, _) = h.password_step(PASSWORD, None).await;
    for _ in 0..4 {
        let result = h.app.submit_code(&flow, "000000", false, &client()).await;
        assert!(matches!(result, Err(SignInError::WrongCode)));
    }
    let result = h.app.submit_code(&flow, "000000", false, &client()).await;
    assert!(
        matches!(result, Err(SignInError::TooManyAttempts)),
        "{result:?}"
    );
    let (flow, _) = h.password_step(PASSWORD, None).await;
    let result = h.app.submit_code(&flow, "000000", false, &client()).await;
    assert!(
        matches!(result, Err(SignInError::SecondStepLocked)),
        "S19: {result:?}"
    );
}

#[tokio::test]
async fn removing_the_app_goes_back_to_emailed_codes() {
    let mut h = Harness::new().await;
    let (session, _, _) = enrolled(&mut h).await;
    h.app
        .remove_authenticator(&h.fresh(&session).await, &client())
        .await
        .unwrap();
    assert!(h
        .new_mail()
        .iter()
        .any(|m| m.contains("authenticator app was removed")));
    assert!(!h
        .app
        .has_authenticator(&h.app.show_account(EMAIL).await.unwrap().id)
        .await
        .unwrap());
    let (_, outcome) = h.password_step(PASSWORD, None).await;
    assert!(outcome.unwrap().code_sent);
    assert!(!h.new_mail().is_empty(), "a code is e-mailed again");
}

#[tokio::test]
async fn with_an_app_and_a_phone_another_way_texts_a_code() {
    let mut h = Harness::new().await;
    let (session, _, _) = enrolled(&mut h).await;
    h.app
        .start_phone(&h.fresh(&session).await, "+44 7700 900123", &client())
        .await
        .unwrap();
    let code = h.new_text_code();
    h.app
        .verify_phone(&h.fresh(&session).await, &code, &client())
        .await
        .unwrap();

    let (flow, _) = h.password_step(PASSWORD, None).await;
    let view = h.app.view_sign_in(&flow).await.unwrap();
    assert_eq!(
        view.method,
        Some(gatehouse_core::SecondStepMethod::Totp),
        "the app is the strongest"
    );
    assert_eq!(
        view.phone.as_deref(),
        Some("\u{2022}\u{2022}\u{2022}\u{2022} 0123")
    );
    h.app
        .switch_to_text_message(&flow, &client())
        .await
        .unwrap();
    let texted = h.new_text_code();
    let outcome = h
        .app
        .submit_code(&flow, &texted, false, &client())
        .await
        .unwrap();
    assert!(matches!(
        outcome.progress,
        gatehouse_app::sign_in::Progress::SignedIn { .. }
    ));
}

#[tokio::test]
async fn resend_on_an_app_sign_in_is_refused_and_mails_nothing() {
    let mut h = Harness::new().await;
    let (_, _, secret) = enrolled(&mut h).await;
    h.new_mail();
    let (flow, _) = h.password_step(PASSWORD, None).await;
    // A forged "Resend code" (the page offers none): no code that could never be accepted
    // is mailed, and the hourly budget of codes is not spent on it (S9).
    let result = h.app.resend_code(&flow, &client()).await;
    assert!(
        matches!(result, Err(SignInError::ResendLimit)),
        "{result:?}"
    );
    assert!(h.new_mail().is_empty(), "no e-mailed code");
    let account = h.app.show_account(EMAIL).await.unwrap();
    let events = h.app.store().list_events(&account.id, 50).await.unwrap();
    assert!(
        events.iter().any(|e| e.event == "code_sent"
            && e.result == "refused"
            && e.method.as_deref() == Some("totp")),
        "S51: the refusal names the real method"
    );
    // The app's code still finishes the sign-in.
    h.clock.advance(30);
    let code = code_at(&secret, h.clock_now());
    assert!(h
        .app
        .submit_code(&flow, &code, false, &client())
        .await
        .is_ok());
}
