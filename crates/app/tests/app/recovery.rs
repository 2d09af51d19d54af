//! Helpdesk recovery (issue 12, part 3) and the lock-out risk report (part 4), with a clock
//! that moves only when told to: the 72-hour wait, the link's day, what a recovery removes.

use crate::authenticator::enrolled;
use crate::harness::{assert_step, client, Harness, EMAIL, PASSWORD};
use gatehouse_app::recovery::{LinkDelivery, RecoveryError, RecoveryLinkError};
use gatehouse_app::risk::Risk;
use gatehouse_app::sign_in::Progress;
use gatehouse_core::FlowStep;

const WAIT: i64 = 72 * 3600;

/// The token of the `path?token=` link in `mail` (quoted-printable soft breaks undone).
fn token_in(mail: &str, path: &str) -> String {
    let text = mail.replace("=\r\n", "").replace("token=3D", "token=");
    let start = text
        .find(&format!("{path}?token="))
        .unwrap_or_else(|| panic!("no {path} link in {text}"))
        + path.len()
        + 7;
    text[start..start + 43].to_string()
}

fn token_of_link(link: &str) -> String {
    link.split_once("/recover?token=").unwrap().1.to_string()
}

fn subject_of(mail: &str) -> &str {
    mail.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_recovery_tells_the_owner_at_once_waits_72_hours_then_resets_the_second_step() {
    let mut h = Harness::new().await;
    let (_, trust, _) = enrolled(&mut h).await;
    h.new_mail();

    let pending = h.app.start_recovery(EMAIL).await.unwrap();
    assert_eq!(pending.ready_at - pending.started_at, WAIT);
    let mail = h.new_mail();
    assert_eq!(mail.len(), 1);
    assert_eq!(
        subject_of(&mail[0]),
        "Someone asked to recover your Gatehouse account"
    );
    let cancel = token_in(&mail[0], "/recovery/cancel");
    assert!(h.app.recovery_cancel_target(&cancel).await.is_ok());
    assert!(matches!(
        h.app.start_recovery(EMAIL).await,
        Err(RecoveryError::AlreadyPending { .. })
    ));

    // Not a second before the wait is over.
    h.clock.advance(WAIT - 1);
    assert!(matches!(
        h.app.issue_recovery_link(EMAIL, LinkDelivery::Print).await,
        Err(RecoveryError::NotReady { .. })
    ));
    h.clock.advance(1);
    let issued = h
        .app
        .issue_recovery_link(EMAIL, LinkDelivery::Print)
        .await
        .unwrap();
    let token = token_of_link(issued.link.as_deref().unwrap());
    let told: Vec<_> = h.new_mail();
    assert_eq!(
        told.iter().map(|m| subject_of(m)).collect::<Vec<_>>(),
        vec!["A recovery link for your Gatehouse account was issued"],
        "the owner hears of a printed link, which is not mailed"
    );
    assert!(!told[0].contains(&token));
    let shown = h.app.show_account(EMAIL).await.unwrap();
    assert_eq!(
        shown.pending_recovery.map(|p| p.link_expires_at),
        Some(Some(issued.expires_at))
    );

    // Opening the page changes nothing; the button recovers, once.
    assert_eq!(
        h.app.recovery_target(&token).await.unwrap().masked_email,
        "a•••@example.com"
    );
    assert_eq!(
        h.app.show_account(EMAIL).await.unwrap().active_backup_codes,
        1
    );
    h.app.complete_recovery(&token, &client()).await.unwrap();
    assert!(matches!(
        h.app.complete_recovery(&token, &client()).await,
        Err(RecoveryLinkError::InvalidLink)
    ));
    assert!(matches!(
        h.app.cancel_recovery(&cancel, &client()).await,
        Err(RecoveryLinkError::InvalidLink)
    ));
    let shown = h.app.show_account(EMAIL).await.unwrap();
    assert!(shown.pending_recovery.is_none());
    assert_eq!(shown.active_backup_codes, 0);
    assert_eq!(shown.live_sessions, 0);
    assert_eq!(
        h.new_mail()
            .iter()
            .map(|m| subject_of(m))
            .collect::<Vec<_>>(),
        vec!["Your Gatehouse account was recovered"]
    );

    // The old trusted device and the app are gone: the password, an e-mailed code, and a
    // new backup code to save.
    let (flow, outcome) = h.password_step(PASSWORD, Some(&trust)).await;
    assert_step(&outcome.unwrap(), FlowStep::SecondStep);
    let code = h.new_code();
    let outcome = h
        .app
        .submit_code(&flow, &code, false, &client())
        .await
        .unwrap();
    assert!(
        matches!(
            outcome.progress,
            Progress::Next(FlowStep::SaveBackupCode { .. })
        ),
        "{:?}",
        outcome.progress
    );
}

#[tokio::test]
async fn the_owners_link_cancels_once_and_the_operator_can_cancel_too() {
    let mut h = Harness::new().await;
    h.app.start_recovery(EMAIL).await.unwrap();
    let cancel = token_in(&h.new_mail()[0], "/recovery/cancel");
    h.app.cancel_recovery(&cancel, &client()).await.unwrap();
    assert!(matches!(
        h.app.cancel_recovery(&cancel, &client()).await,
        Err(RecoveryLinkError::InvalidLink)
    ));
    assert!(matches!(
        h.app.recovery_cancel_target(&cancel).await,
        Err(RecoveryLinkError::InvalidLink)
    ));
    assert_eq!(
        h.new_mail()
            .iter()
            .map(|m| subject_of(m))
            .collect::<Vec<_>>(),
        vec!["The recovery of your Gatehouse account was cancelled"]
    );
    h.clock.advance(WAIT);
    assert!(matches!(
        h.app.issue_recovery_link(EMAIL, LinkDelivery::Print).await,
        Err(RecoveryError::NonePending)
    ));

    // A new one may start; the operator stops it, once.
    h.app.start_recovery(EMAIL).await.unwrap();
    let second_cancel = token_in(&h.new_mail()[0], "/recovery/cancel");
    assert_ne!(second_cancel, cancel);
    h.app.cancel_recovery_as_operator(EMAIL).await.unwrap();
    assert!(matches!(
        h.app.cancel_recovery_as_operator(EMAIL).await,
        Err(RecoveryError::NonePending)
    ));
    assert!(matches!(
        h.app.cancel_recovery(&second_cancel, &client()).await,
        Err(RecoveryLinkError::InvalidLink)
    ));
    assert!(h
        .app
        .show_account(EMAIL)
        .await
        .unwrap()
        .pending_recovery
        .is_none());
}

#[tokio::test]
async fn a_recovery_link_lasts_a_day_and_a_newer_one_replaces_it() {
    let mut h = Harness::new().await;
    h.app.start_recovery(EMAIL).await.unwrap();
    h.clock.advance(WAIT);
    let first = h
        .app
        .issue_recovery_link(EMAIL, LinkDelivery::Print)
        .await
        .unwrap();
    let sent = h
        .app
        .issue_recovery_link(EMAIL, LinkDelivery::Mail)
        .await
        .unwrap();
    assert!(sent.link.is_none(), "a mailed link is not printed");
    let mailed = h.new_mail();
    let token = token_in(mailed.last().unwrap(), "/recover");
    assert!(matches!(
        h.app
            .recovery_target(&token_of_link(first.link.as_deref().unwrap()))
            .await,
        Err(RecoveryLinkError::InvalidLink)
    ));
    assert!(h.app.recovery_target(&token).await.is_ok());
    h.clock.advance(24 * 3600);
    assert!(matches!(
        h.app.complete_recovery(&token, &client()).await,
        Err(RecoveryLinkError::InvalidLink)
    ));
    assert!(matches!(
        h.app.start_recovery("nobody@example.com").await,
        Err(RecoveryError::NotFound)
    ));
}

#[tokio::test]
async fn the_risk_report_names_what_could_lock_each_account_out() {
    let mut h = Harness::new().await;
    h.app
        .add_account("bob@example.com", "another long passphrase")
        .await
        .unwrap();
    let report = h.app.risk_report().await.unwrap();
    assert_eq!(report.checked, 2);
    let lines: Vec<_> = report
        .accounts
        .iter()
        .map(|a| (a.email.as_str(), a.risks.clone()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (EMAIL, vec![Risk::NoBackupCode, Risk::EmailCodesOnly]),
            (
                "bob@example.com",
                vec![Risk::NoBackupCode, Risk::EmailCodesOnly]
            ),
        ]
    );

    // Ann signs in (a backup code now, and a trusted device); the device goes stale after
    // two weeks unused, and is fresh again once used.
    let trust = h.sign_in_fully(true).await.unwrap();
    let ann = h.app.show_account(EMAIL).await.unwrap().id;
    let risks_of_ann = |report: &gatehouse_app::risk::RiskReport| {
        report
            .accounts
            .iter()
            .find(|a| a.email == EMAIL)
            .map(|a| a.risks.clone())
            .unwrap_or_default()
    };
    let report = h.app.risk_report().await.unwrap();
    assert_eq!(risks_of_ann(&report), vec![Risk::EmailCodesOnly]);
    assert_eq!(
        h.app.account_risks(&ann).await.unwrap(),
        vec![Risk::EmailCodesOnly]
    );
    h.clock.advance(15 * 86_400);
    let report = h.app.risk_report().await.unwrap();
    assert_eq!(
        risks_of_ann(&report),
        vec![Risk::EmailCodesOnly, Risk::TrustedDevicesStale]
    );
    assert_eq!(report.count(Risk::EmailCodesOnly), 2);
    assert_eq!(report.count(Risk::TrustedDevicesStale), 1);
    let (_, outcome) = h.password_step(PASSWORD, Some(&trust)).await;
    assert!(crate::harness::is_signed_in(&outcome.unwrap()));
    let report = h.app.risk_report().await.unwrap();
    assert_eq!(risks_of_ann(&report), vec![Risk::EmailCodesOnly]);

    h.app.disable_account("bob@example.com").await.unwrap();
    let report = h.app.risk_report().await.unwrap();
    assert_eq!(report.checked, 1, "a disabled account is not reported");
    let emails: Vec<_> = report.accounts.iter().map(|a| a.email.as_str()).collect();
    assert_eq!(emails, vec![EMAIL]);
}
