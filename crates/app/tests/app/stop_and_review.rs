//! Issue 12, parts 1 and 2: "Wasn't you? Stop this sign-in." (S59) and the review after a
//! backup-code sign-in, with e-mail changes that wait 24 hours for 7 days after one.

use crate::harness::{assert_step, client, session_of, Harness, EMAIL, PASSWORD};
use gatehouse_app::audit::{Attempt, Event};
use gatehouse_app::email_change::{
    CancelEmailChangeError, EmailChangeOutcome, BACKUP_CODE_REVIEW_SECS, EMAIL_CHANGE_DELAY_SECS,
};
use gatehouse_app::self_service::{Activity, SelfServiceError};
use gatehouse_app::sign_in::{Progress, SignInError};
use gatehouse_app::stop_sign_in::StopError;
use gatehouse_app::Clock;
use gatehouse_core::{FlowStep, Proof};

const NEW: &str = "ann@new.example";

/// The token of the link to `path` in a mail (the outbox keeps it quoted-printable).
fn link_token(mail: &str, path: &str) -> String {
    let text = mail
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let marker = format!("{path}?token=");
    let start = text
        .find(&marker)
        .unwrap_or_else(|| panic!("no {path} link in {text}"))
        + marker.len();
    text[start..start + 43].to_string()
}

fn code_in(mail: &str) -> String {
    mail.lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .expect("a code in the mail")
        .to_string()
}

/// The next mail, which may be sent in the background.
async fn next_mail(h: &mut Harness) -> String {
    for _ in 0..200 {
        if let Some(mail) = h.new_mail().pop() {
            return mail;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no mail");
}

async fn events(h: &Harness) -> Vec<(String, String)> {
    let account = h
        .app
        .store()
        .find_account_by_email(EMAIL)
        .await
        .unwrap()
        .unwrap();
    h.app
        .store()
        .list_events(&account.id, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event, e.result))
        .collect()
}

/// The failures counted against the client address of `client()` (the row `budget.rs`
/// keeps for it).
async fn address_failures(h: &Harness) -> u32 {
    let address = client().address.unwrap();
    h.app
        .store()
        .find_failure_record(&format!("client:{address}"))
        .await
        .unwrap()
        .failures
}

#[tokio::test]
async fn a_stopped_sign_in_refuses_its_code_and_counts_against_the_address_it_came_from() {
    let mut h = Harness::new().await;
    let (flow, outcome) = h.password_step(PASSWORD, None).await;
    assert_step(&outcome.unwrap(), FlowStep::SecondStep);
    let mail = h.new_mail().pop().unwrap();
    assert!(mail.contains("Wasn't you? Stop this sign-in:"), "{mail}");
    let (code, stop) = (code_in(&mail), link_token(&mail, "/sign-in/stop"));
    assert_eq!(address_failures(&h).await, 0);

    // Opening the link changes nothing.
    h.app.stop_link_state(&stop).await.unwrap();
    h.app.stop_link_state(&stop).await.unwrap();
    assert!(h.app.view_sign_in(&flow).await.is_ok());

    h.app.stop_sign_in(&stop, &client()).await.unwrap();
    let refused = h.app.submit_code(&flow, &code, false, &client()).await;
    assert!(matches!(refused, Err(SignInError::NoSignIn)), "{refused:?}");
    assert!(matches!(
        h.app.view_sign_in(&flow).await,
        Err(SignInError::NoSignIn)
    ));
    assert_eq!(address_failures(&h).await, 1);
    assert!(events(&h)
        .await
        .contains(&("sign_in_stopped".into(), "success".into())));

    let again = h.app.stop_sign_in(&stop, &client()).await;
    assert!(matches!(again, Err(StopError::AlreadyStopped)), "{again:?}");
    assert_eq!(
        address_failures(&h).await,
        1,
        "a refused stop counts nothing"
    );
    assert!(matches!(
        h.app.stop_sign_in("not-a-token", &client()).await,
        Err(StopError::InvalidLink)
    ));
}

#[tokio::test]
async fn the_first_mails_link_still_stops_the_sign_in_after_a_resend() {
    let mut h = Harness::new().await;
    let (flow, outcome) = h.password_step(PASSWORD, None).await;
    assert_step(&outcome.unwrap(), FlowStep::SecondStep);
    let first = h.new_mail().pop().unwrap();
    h.clock.advance(31);
    h.app.resend_code(&flow, &client()).await.unwrap();
    let second = h.new_mail().pop().unwrap();
    let (first_link, second_link) = (
        link_token(&first, "/sign-in/stop"),
        link_token(&second, "/sign-in/stop"),
    );
    assert_ne!(first_link, second_link);

    h.app.stop_sign_in(&first_link, &client()).await.unwrap();
    let refused = h
        .app
        .submit_code(&flow, &code_in(&second), false, &client())
        .await;
    assert!(matches!(refused, Err(SignInError::NoSignIn)), "{refused:?}");
    assert!(matches!(
        h.app.stop_link_state(&second_link).await,
        Err(StopError::AlreadyStopped)
    ));
}

#[tokio::test]
async fn a_link_of_a_finished_or_expired_sign_in_changes_nothing() {
    let mut h = Harness::new().await;
    let (flow, outcome) = h.password_step(PASSWORD, None).await;
    assert_step(&outcome.unwrap(), FlowStep::SecondStep);
    let mail = h.new_mail().pop().unwrap();
    let stop = link_token(&mail, "/sign-in/stop");
    let done = h
        .app
        .submit_code(&flow, &code_in(&mail), false, &client())
        .await
        .unwrap();
    if let Progress::Next(FlowStep::SaveBackupCode { .. }) = done.progress {
        let saved = h.app.confirm_backup_code_saved(&flow, &client()).await;
        let session = session_of(&saved.unwrap());
        for _ in 0..2 {
            let refused = h.app.stop_sign_in(&stop, &client()).await;
            assert!(matches!(refused, Err(StopError::SignInOver)), "{refused:?}");
        }
        assert!(h.app.find_session(&session).await.unwrap().is_some());
    } else {
        panic!("a first sign-in shows a backup code");
    }

    // A link lives as long as its code.
    let (_, outcome) = h.password_step(PASSWORD, None).await;
    assert_step(&outcome.unwrap(), FlowStep::SecondStep);
    let stop = link_token(&h.new_mail().pop().unwrap(), "/sign-in/stop");
    h.clock.advance(10 * 60);
    assert!(matches!(
        h.app.stop_sign_in(&stop, &client()).await,
        Err(StopError::InvalidLink)
    ));
    assert_eq!(address_failures(&h).await, 0);
}

/// A full first sign-in; returns the backup code it showed.
async fn first_sign_in(h: &mut Harness) -> String {
    let (flow, outcome) = h.password_step(PASSWORD, None).await;
    assert_step(&outcome.unwrap(), FlowStep::SecondStep);
    let code = h.new_code();
    let shown = h.app.submit_code(&flow, &code, false, &client()).await;
    assert_step(
        &shown.unwrap(),
        FlowStep::SaveBackupCode {
            proof: Proof::EmailCode,
        },
    );
    let backup = h.app.view_sign_in(&flow).await.unwrap().backup_codes[0].clone();
    h.app
        .confirm_backup_code_saved(&flow, &client())
        .await
        .unwrap();
    backup
}

/// A sign-in with the backup code, saving the next one; returns the session cookie.
async fn backup_code_sign_in(h: &mut Harness, backup: &str) -> String {
    // Its events are the newest (the activity list is newest first; the clock is fixed).
    h.clock.advance(1);
    let (flow, outcome) = h.password_step(PASSWORD, None).await;
    assert_step(&outcome.unwrap(), FlowStep::SecondStep);
    h.new_mail();
    let used = h.app.submit_backup_code(&flow, backup, &client()).await;
    assert_step(
        &used.unwrap(),
        FlowStep::SaveBackupCode {
            proof: Proof::BackupCode,
        },
    );
    let saved = h
        .app
        .confirm_backup_code_saved(&flow, &client())
        .await
        .unwrap();
    match &saved.progress {
        Progress::SignedIn { proof, .. } => assert_eq!(*proof, Proof::BackupCode),
        Progress::Next(step) => panic!("not signed in: {step:?}"),
    }
    let notice = h.new_mail().pop().unwrap();
    assert!(notice.contains("backup code was used"), "{notice}");
    session_of(&saved)
}

/// A sign-in with an e-mailed code (the account has a backup code): its session cookie.
async fn code_sign_in(h: &mut Harness) -> String {
    let (flow, outcome) = h.password_step(PASSWORD, None).await;
    assert_step(&outcome.unwrap(), FlowStep::SecondStep);
    let code = h.new_code();
    session_of(
        &h.app
            .submit_code(&flow, &code, false, &client())
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn a_backup_code_sign_in_is_reviewed_and_others_are_not() {
    let mut h = Harness::new().await;
    let backup = first_sign_in(&mut h).await;
    let other = code_sign_in(&mut h).await;
    let cookie = backup_code_sign_in(&mut h, &backup).await;
    let session = h.app.find_session(&cookie).await.unwrap().unwrap();
    let review = h.app.backup_code_review(&session).await.unwrap().unwrap();
    assert_eq!(review.sessions.len(), 3, "{:?}", review.sessions);
    assert_eq!(review.sessions.iter().filter(|s| s.current).count(), 1);
    let backup_used = Activity::Known(Event::BackupCode(Attempt::Accepted));
    assert!(review.activity.iter().any(|a| a.what == backup_used));

    // Revoking another session from the review ends it; the one in use is not one of them.
    let other_session = h.app.find_session(&other).await.unwrap().unwrap();
    h.app
        .end_one_session(&session, &other_session.session_id, &client())
        .await
        .unwrap();
    assert!(h.app.find_session(&other).await.unwrap().is_none());
    assert!(matches!(
        h.app
            .end_one_session(&session, &other_session.session_id, &client())
            .await,
        Err(SelfServiceError::UnknownSession)
    ));
    assert!(matches!(
        h.app
            .end_one_session(&session, &session.session_id, &client())
            .await,
        Err(SelfServiceError::UnknownSession)
    ));
    assert!(h.app.find_session(&cookie).await.unwrap().is_some());

    let by_code = code_sign_in(&mut h).await;
    let by_code = h.app.find_session(&by_code).await.unwrap().unwrap();
    assert!(h.app.backup_code_review(&by_code).await.unwrap().is_none());
}

async fn confirm_new_address(h: &mut Harness, cookie: &str) -> EmailChangeOutcome {
    let fresh = h.fresh(cookie).await;
    h.app.start_email_change(&fresh, NEW).await.unwrap();
    let code = code_in(&next_mail(h).await);
    h.app
        .confirm_email_change(&fresh, &code, &client())
        .await
        .unwrap()
}

#[tokio::test]
async fn within_a_week_of_a_backup_code_sign_in_a_new_address_waits_a_day_and_the_old_one_can_cancel(
) {
    let mut h = Harness::new().await;
    let backup = first_sign_in(&mut h).await;
    let cookie = backup_code_sign_in(&mut h, &backup).await;
    let now = h.clock.now();
    let outcome = confirm_new_address(&mut h, &cookie).await;
    assert_eq!(
        outcome,
        EmailChangeOutcome::Waiting {
            effective_at: now + EMAIL_CHANGE_DELAY_SECS
        }
    );
    let notice = next_mail(&mut h).await;
    assert!(notice.contains(EMAIL), "the old address is told: {notice}");
    let cancel = link_token(&notice, "/email-change/cancel");
    assert!(
        h.app.show_account(EMAIL).await.is_ok(),
        "nothing changed yet"
    );
    assert!(events(&h)
        .await
        .contains(&("email_changed".into(), "waiting".into())));

    // Opening the link changes nothing; the button cancels, once.
    h.app.email_change_to_cancel(&cancel).await.unwrap();
    h.app.cancel_email_change(&cancel, &client()).await.unwrap();
    assert!(matches!(
        h.app.cancel_email_change(&cancel, &client()).await,
        Err(CancelEmailChangeError::NothingToCancel)
    ));
    h.clock.advance(EMAIL_CHANGE_DELAY_SECS + 1);
    h.app.housekeeping().await.unwrap();
    assert!(
        h.app.show_account(EMAIL).await.is_ok(),
        "cancelled: still the old address"
    );
    assert!(h.app.show_account(NEW).await.is_err());
}

#[tokio::test]
async fn a_waiting_address_takes_effect_after_a_day_and_after_a_week_at_once() {
    let settings = gatehouse_app::Settings {
        session_absolute_secs: 30 * 86_400,
        session_idle_secs: 30 * 86_400,
        fresh_sign_in_secs: 30 * 86_400,
        ..gatehouse_app::Settings::default()
    };
    let mut h = Harness::with_settings(settings).await;
    let backup = first_sign_in(&mut h).await;
    let cookie = backup_code_sign_in(&mut h, &backup).await;
    assert!(matches!(
        confirm_new_address(&mut h, &cookie).await,
        EmailChangeOutcome::Waiting { .. }
    ));
    h.new_mail();
    h.clock.advance(EMAIL_CHANGE_DELAY_SECS - 1);
    h.app.housekeeping().await.unwrap();
    assert!(h.app.show_account(EMAIL).await.is_ok(), "a second early");
    h.clock.advance(1);
    h.app.housekeeping().await.unwrap();
    assert!(h.app.show_account(NEW).await.is_ok());
    assert!(h.app.show_account(EMAIL).await.is_err());
    let told = next_mail(&mut h).await;
    assert!(told.contains(EMAIL) && told.contains(NEW), "{told}");

    // A week after the backup code, a change takes effect at once again.
    h.clock.advance(BACKUP_CODE_REVIEW_SECS);
    let fresh = h.fresh(&cookie).await;
    h.app.start_email_change(&fresh, EMAIL).await.unwrap();
    let code = code_in(&next_mail(&mut h).await);
    assert_eq!(
        h.app
            .confirm_email_change(&fresh, &code, &client())
            .await
            .unwrap(),
        EmailChangeOutcome::Changed
    );
    assert!(h.app.show_account(EMAIL).await.is_ok());
}
