//! Helpdesk recoveries and the lock-out risk facts (issue 12, parts 3 and 4), on both
//! backends.

use crate::cases::{account, flow, id, session, NOW};
use gatehouse_store::{
    CancelledBy, FlowCommit, MailOutcome, NewTrustedDevice, RemovedSecondFactors, Store, StoreError,
};

const WAIT: i64 = 72 * 3600;

/// A recovery as the use case leaves it once the owner's notice went out.
async fn notified_recovery(
    store: &Store,
    id: &str,
    account: u8,
    cancel: u8,
    started: i64,
    ready: i64,
) {
    store
        .insert_recovery(
            id,
            &crate::cases::id(account),
            &[cancel; 32],
            started,
            ready,
        )
        .await
        .unwrap();
    store.mark_recovery_notified(id, started).await.unwrap();
}

/// One account, one pending recovery: a second start is a `Conflict`, and a cancelled one
/// lets a new one start. The cancel link (S59) acts once, and only on its own recovery.
pub async fn a_recovery_is_pending_once_and_its_cancel_link_acts_once(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    account(store, &id(2), "bob@example.com").await;
    store
        .insert_recovery("r1", &id(1), &[1; 32], NOW, NOW + WAIT)
        .await
        .unwrap();
    assert!(matches!(
        store
            .insert_recovery("r2", &id(1), &[2; 32], NOW, NOW + WAIT)
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .insert_recovery("r3", &id(2), &[3; 32], NOW, NOW + WAIT)
        .await
        .unwrap();

    let pending = store.find_pending_recovery(&id(1)).await.unwrap().unwrap();
    assert_eq!(
        (pending.id.as_str(), pending.email.as_str()),
        ("r1", "ann@example.com")
    );
    assert_eq!(pending.ready_at, NOW + WAIT);
    assert_eq!(pending.link_expires_at, None);
    assert_eq!(
        store
            .find_recovery_by_cancel_token(&[1; 32])
            .await
            .unwrap()
            .map(|r| r.id),
        Some("r1".to_string())
    );

    // Ann's cancel link stops Ann's recovery, once; Bob's stays.
    let cancelled = store
        .cancel_recovery_by_token(&[1; 32], NOW + 10)
        .await
        .unwrap();
    assert_eq!(cancelled.map(|r| r.id), Some("r1".to_string()));
    assert!(store
        .cancel_recovery_by_token(&[1; 32], NOW + 11)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .find_recovery_by_cancel_token(&[1; 32])
        .await
        .unwrap()
        .is_none());
    assert!(store.find_pending_recovery(&id(1)).await.unwrap().is_none());
    assert!(store.find_pending_recovery(&id(2)).await.unwrap().is_some());
    assert!(store
        .cancel_recovery_by_token(&[9; 32], NOW + 12)
        .await
        .unwrap()
        .is_none());

    // A new recovery can start once the old one is over; the operator can cancel it.
    store
        .insert_recovery("r4", &id(1), &[4; 32], NOW + 20, NOW + 20 + WAIT)
        .await
        .unwrap();
    let by_operator = store
        .cancel_pending_recovery(&id(1), CancelledBy::Operator, NOW + 30)
        .await
        .unwrap();
    assert_eq!(by_operator.map(|r| r.id), Some("r4".to_string()));
    assert!(store
        .cancel_pending_recovery(&id(1), CancelledBy::Operator, NOW + 31)
        .await
        .unwrap()
        .is_none());
    assert!(
        store
            .cancel_recovery_by_token(&[4; 32], NOW + 32)
            .await
            .unwrap()
            .is_none(),
        "a recovery the operator cancelled cannot be cancelled again"
    );

    // A recovery whose notice never left can be forgotten; one the owner was told of cannot.
    store.delete_unannounced_recovery("r3").await.unwrap();
    assert!(store.find_pending_recovery(&id(2)).await.unwrap().is_none());
    notified_recovery(store, "r5", 2, 5, NOW + 40, NOW + 40 + WAIT).await;
    store.delete_unannounced_recovery("r5").await.unwrap();
    assert!(store.find_pending_recovery(&id(2)).await.unwrap().is_some());
}

/// The recovery link is issued only after the wait, works once, before it expires, and only
/// its newest version works. Using it removes the second factors and every backup code and
/// ends everything the account held, in one transaction.
pub async fn a_recovery_link_works_after_the_wait_once_and_resets_the_second_step(store: &Store) {
    // Started a wait ago, so the wait ends at NOW.
    account(store, &id(1), "ann@example.com").await;
    store
        .insert_recovery("r1", &id(1), &[1; 32], NOW - WAIT, NOW)
        .await
        .unwrap();
    assert!(
        !store
            .set_recovery_link("r1", &[5; 32], NOW + 86_400, NOW)
            .await
            .unwrap(),
        "not before the owner was told"
    );
    store
        .mark_recovery_notified("r1", NOW - WAIT)
        .await
        .unwrap();
    assert!(
        store
            .find_pending_recovery(&id(1))
            .await
            .unwrap()
            .unwrap()
            .notified
    );
    assert!(
        !store
            .set_recovery_link("r1", &[5; 32], NOW + 86_400, NOW - 1)
            .await
            .unwrap(),
        "not before the wait is over"
    );
    assert!(store
        .set_recovery_link("r1", &[5; 32], NOW + 86_400, NOW)
        .await
        .unwrap());
    assert!(store
        .set_recovery_link("r1", &[6; 32], NOW + 86_400, NOW + 1)
        .await
        .unwrap());
    assert!(
        store
            .find_recovery_by_link(&[5; 32], NOW + 2)
            .await
            .unwrap()
            .is_none(),
        "a replaced link is dead"
    );
    assert!(matches!(
        store.complete_recovery(&[5; 32], NOW + 2).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .find_recovery_by_link(&[6; 32], NOW + 86_400)
            .await
            .unwrap()
            .is_none(),
        "an expired link is dead"
    );
    assert_eq!(
        store
            .find_pending_recovery(&id(1))
            .await
            .unwrap()
            .and_then(|r| r.link_expires_at),
        Some(NOW + 86_400)
    );

    // What the account holds: an authenticator app, a session, a trusted device, a backup code.
    store
        .insert_pending_totp(&id(1), b"sealed", NOW)
        .await
        .unwrap();
    assert!(store
        .confirm_totp(&id(1), b"sealed", 100, NOW)
        .await
        .unwrap());
    store
        .insert_flow(&flow("f1", Some(&id(1))), &[1; 32], NOW)
        .await
        .unwrap();
    let signed_in = FlowCommit {
        now: NOW,
        expected_version: 0,
        session: Some(session("s1", &id(1), 7)),
        trusted_device: Some(NewTrustedDevice {
            id: "d1".into(),
            token_hash: [8; 32],
            account_id: id(1),
            user_agent: None,
            created_at: NOW,
            expires_at: NOW + 30 * 86_400,
        }),
        ..Default::default()
    };
    store.commit_flow("f1", signed_in).await.unwrap();
    crate::cases::active_codes(store, &id(1), "g1", &[40]).await;
    assert_eq!(store.count_active_backup_codes(&id(1)).await.unwrap(), 1);
    assert_eq!(
        store
            .count_live_sessions(&id(1), 3600, NOW + 2)
            .await
            .unwrap(),
        1
    );

    let (row, removed) = store.complete_recovery(&[6; 32], NOW + 3).await.unwrap();
    assert_eq!(row.id, "r1");
    assert_eq!(
        removed,
        RemovedSecondFactors {
            authenticator: true,
            phone: false,
        }
    );
    assert!(store.find_totp(&id(1)).await.unwrap().is_none());
    assert_eq!(store.count_active_backup_codes(&id(1)).await.unwrap(), 0);
    assert_eq!(
        store
            .count_live_sessions(&id(1), 3600, NOW + 4)
            .await
            .unwrap(),
        0
    );
    assert!(!store
        .use_trusted_device(&[8; 32], &id(1), NOW + 4)
        .await
        .unwrap());
    assert!(store.find_pending_recovery(&id(1)).await.unwrap().is_none());
    assert!(
        matches!(
            store.complete_recovery(&[6; 32], NOW + 5).await,
            Err(StoreError::Conflict(_))
        ),
        "single use"
    );
    assert!(
        store
            .cancel_recovery_by_token(&[1; 32], NOW + 6)
            .await
            .unwrap()
            .is_none(),
        "a completed recovery cannot be cancelled"
    );
}

/// A cancelled recovery's link is dead even within its lifetime, and a disabled account
/// cannot be recovered.
pub async fn a_cancelled_recovery_or_a_disabled_account_cannot_be_recovered(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    account(store, &id(2), "bob@example.com").await;
    for (n, recovery) in [(1u8, "r1"), (2, "r2")] {
        notified_recovery(store, recovery, n, n, NOW, NOW + WAIT).await;
        assert!(store
            .set_recovery_link(recovery, &[n + 10; 32], NOW + WAIT + 86_400, NOW + WAIT)
            .await
            .unwrap());
    }
    store
        .cancel_recovery_by_token(&[1; 32], NOW + WAIT + 1)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        store.complete_recovery(&[11; 32], NOW + WAIT + 2).await,
        Err(StoreError::Conflict(_))
    ));
    store.disable_account(&id(2), NOW + WAIT + 1).await.unwrap();
    assert!(matches!(
        store.complete_recovery(&[12; 32], NOW + WAIT + 2).await,
        Err(StoreError::Conflict(_))
    ));
}

/// The risk facts: confirmed backup codes, a second factor stronger than e-mail, the last
/// mail's outcome and stale trusted devices; disabled accounts are left out.
pub async fn risk_facts_see_backup_codes_strong_factors_mail_and_stale_devices(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    account(store, &id(2), "bob@example.com").await;
    account(store, &id(3), "cyd@example.com").await;
    store.disable_account(&id(3), NOW).await.unwrap();
    crate::cases::active_codes(store, &id(1), "g1", &[40]).await;
    store
        .insert_pending_totp(&id(1), b"sealed", NOW)
        .await
        .unwrap();
    assert!(store
        .confirm_totp(&id(1), b"sealed", 100, NOW)
        .await
        .unwrap());
    // Bob: a phone still waiting for its code is no second factor yet; a device trusted
    // long ago and never used since is stale.
    store
        .insert_pending_phone(&id(2), b"number", "11", &[1; 32], NOW + 600, NOW)
        .await
        .unwrap();
    store
        .insert_flow(&flow("f2", Some(&id(2))), &[2; 32], NOW)
        .await
        .unwrap();
    let trust = FlowCommit {
        now: NOW,
        expected_version: 0,
        trusted_device: Some(NewTrustedDevice {
            id: "d2".into(),
            token_hash: [9; 32],
            account_id: id(2),
            user_agent: None,
            created_at: NOW,
            expires_at: NOW + 30 * 86_400,
        }),
        ..Default::default()
    };
    store.commit_flow("f2", trust).await.unwrap();
    store
        .record_mail_outcome("bob@example.com", MailOutcome::Sent, NOW)
        .await
        .unwrap();
    store
        .record_mail_outcome("bob@example.com", MailOutcome::Bounced, NOW + 1)
        .await
        .unwrap();
    assert_eq!(
        store.find_mail_outcome("bob@example.com").await.unwrap(),
        Some(MailOutcome::Bounced),
        "the last outcome replaces the one before"
    );

    let later = NOW + 20 * 86_400;
    let facts = store
        .list_risk_facts(later, later - 14 * 86_400)
        .await
        .unwrap();
    let summary: Vec<_> = facts
        .iter()
        .map(|f| {
            (
                f.email.as_str(),
                f.active_backup_codes,
                f.has_strong_second_factor,
                f.last_mail,
                f.stale_trusted_devices,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("ann@example.com", 1, true, None, 0),
            ("bob@example.com", 0, false, Some(MailOutcome::Bounced), 1),
        ]
    );
    let ann = store
        .find_risk_facts(&id(1), later, later - 14 * 86_400)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ann, facts[0]);
    assert!(store
        .find_risk_facts(&id(3), later, later - 14 * 86_400)
        .await
        .unwrap()
        .is_none());

    // Used recently, the device is not stale; housekeeping forgets old mail outcomes.
    assert!(store
        .use_trusted_device(&[9; 32], &id(2), later - 86_400)
        .await
        .unwrap());
    let bob = store
        .find_risk_facts(&id(2), later, later - 14 * 86_400)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bob.stale_trusted_devices, 0);
    assert_eq!(store.delete_mail_outcomes_before(NOW + 2).await.unwrap(), 1);
    assert_eq!(
        store.find_mail_outcome("bob@example.com").await.unwrap(),
        None
    );
}
