//! The cases, backend-agnostic: each takes a migrated, empty store. Those of changes to an
//! account that must hold together are in `account_changes`, listed here too.

pub use crate::account_changes::{
    a_reset_and_a_password_change_in_parallel_never_deadlock,
    an_email_change_revokes_trusted_devices_and_reset_links,
    signing_out_of_a_product_withdraws_its_consent,
};
pub use crate::passkeys::{
    a_ceremony_is_taken_once_and_only_before_it_expires,
    a_passkey_belongs_to_one_account_and_only_its_owner_changes_it,
    a_passkey_counter_only_moves_forward_with_the_sign_in,
    a_passkey_without_a_counter_is_not_compared,
    adding_or_removing_a_passkey_revokes_trusted_devices,
    ten_parallel_takes_of_one_ceremony_give_one,
};
pub use crate::recovery::{
    a_cancelled_recovery_or_a_disabled_account_cannot_be_recovered,
    a_recovery_is_pending_once_and_its_cancel_link_acts_once,
    a_recovery_link_works_after_the_wait_once_and_resets_the_second_step,
    risk_facts_see_backup_codes_strong_factors_mail_and_stale_devices,
};
pub use crate::step_commits::{
    a_sign_in_starts_only_while_its_window_has_room,
    a_step_stores_its_events_counters_and_device_use_or_none_of_them,
};
pub use crate::stop_links::{
    a_stop_link_ends_its_own_sign_in_once, a_stop_link_of_a_finished_sign_in_changes_nothing,
    a_waiting_email_change_is_cancelled_once_or_applied_when_due,
    every_link_of_a_sign_in_stops_it_until_its_code_would_expire,
};

use gatehouse_core::password::PasswordHashString;
use gatehouse_core::{AccountId, BackupCodeStatus, FailureRecord, Proof};
use gatehouse_store::{
    AccountGuard, AuthorizationRequestRow, ClientRow, FlowCommit, FlowRow, KnownBrowser,
    NewBackupCode, NewCode, NewGrant, NewSession, NewToken, NewTrustedDevice, Readiness,
    RemovedSecondFactors, SecurityEvent, SigningKeyRow, Store, StoreError, TokenKind,
    KNOWN_BROWSERS_PER_ACCOUNT,
};

pub(crate) const NOW: i64 = 1_800_000_000;

/// A fixed, valid account id: `id(1)` is `00000000-0000-7000-8000-000000000001`.
pub(crate) fn id(n: u8) -> AccountId {
    AccountId::parse(&format!("00000000-0000-7000-8000-{n:012}")).unwrap()
}

pub(crate) async fn account(store: &Store, id: &AccountId, email: &str) {
    store
        .insert_account(
            id,
            email,
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            NOW,
        )
        .await
        .unwrap();
}

pub(crate) fn flow(id: &str, account_id: Option<&AccountId>) -> FlowRow {
    FlowRow {
        id: id.into(),
        email: "ann@example.com".into(),
        account_id: account_id.cloned(),
        step: "second_step".into(),
        proof: None,
        attempts: 0,
        second_step_method: Some("email_code".into()),
        expires_at: NOW + 600,
        version: 0,
        code_hash: Some(vec![1; 32]),
        code_expires_at: Some(NOW + 600),
        codes_sent: 1,
        last_code_sent_at: Some(NOW),
        sealed_backup_codes: None,
        return_to: None,
        browser_hash: None,
    }
}

pub(crate) fn session(id: &str, account_id: &AccountId, token: u8) -> NewSession {
    NewSession {
        id: id.into(),
        token_hash: [token; 32],
        account_id: account_id.clone(),
        proof: Proof::EmailCode,
        created_at: NOW,
        expires_at: NOW + 3600,
        user_agent: Some("test".into()),
        client_address: Some("127.0.0.1".into()),
    }
}

fn code(id: &str, byte: u8) -> NewBackupCode {
    NewBackupCode {
        id: id.into(),
        code_hash: [byte; 32],
        created_at: NOW,
    }
}

/// A flow with pending codes `hashes`, confirmed, so they are active.
pub(crate) async fn active_codes(
    store: &Store,
    account_id: &AccountId,
    flow_id: &str,
    hashes: &[u8],
) {
    let token = [flow_id.as_bytes()[0]; 32];
    store
        .insert_flow(&flow(flow_id, Some(account_id)), &token, NOW)
        .await
        .unwrap();
    let codes = hashes
        .iter()
        .enumerate()
        .map(|(n, b)| code(&format!("{flow_id}-c{n}"), *b))
        .collect();
    let commit = FlowCommit {
        now: NOW,
        expected_version: 0,
        next: Some(flow(flow_id, Some(account_id))),
        new_pending_backup_codes: Some((account_id.clone(), codes)),
        ..Default::default()
    };
    store.commit_flow(flow_id, commit).await.unwrap();
    let confirm = FlowCommit {
        now: NOW,
        expected_version: 1,
        confirm_backup_codes_of_flow: Some(account_id.clone()),
        ..Default::default()
    };
    store.commit_flow(flow_id, confirm).await.unwrap();
}

pub async fn an_email_belongs_to_one_account(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    let again = store
        .insert_account(&id(2), "ann@example.com", "x", NOW)
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let found = store
        .find_account_by_email("ann@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, id(1));
    assert_eq!(store.list_accounts().await.unwrap().len(), 1);
}

pub async fn disabling_an_account_ends_its_sessions_devices_and_flows(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    store
        .insert_flow(&flow("f1", Some(&id(1))), &[9; 32], NOW)
        .await
        .unwrap();
    let commit = FlowCommit {
        now: NOW,
        expected_version: 0,
        session: Some(session("s1", &id(1), 7)),
        trusted_device: Some(NewTrustedDevice {
            id: "d1".into(),
            token_hash: [8; 32],
            account_id: id(1),
            user_agent: None,
            created_at: NOW,
            expires_at: NOW + 86_400,
        }),
        next: None,
        ..Default::default()
    };
    store.commit_flow("f1", commit).await.unwrap();
    store
        .insert_flow(&flow("f2", Some(&id(1))), &[10; 32], NOW)
        .await
        .unwrap();
    assert!(store
        .find_live_session(&[7; 32], 3600, NOW)
        .await
        .unwrap()
        .is_some());

    assert!(store.disable_account(&id(1), NOW + 1).await.unwrap());
    assert!(store
        .find_live_session(&[7; 32], 3600, NOW + 2)
        .await
        .unwrap()
        .is_none());
    assert!(!store
        .use_trusted_device(&[8; 32], &id(1), NOW + 2)
        .await
        .unwrap());
    assert!(store.find_flow_by_token(&[10; 32]).await.unwrap().is_none());
}

pub async fn a_flow_moves_only_from_the_version_it_was_read_at(store: &Store) {
    store
        .insert_flow(&flow("f1", None), &[1; 32], NOW)
        .await
        .unwrap();
    let read = store.find_flow_by_token(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(read, flow("f1", None));
    let mut next = read.clone();
    next.attempts = 1;
    let first = FlowCommit {
        now: NOW,
        expected_version: 0,
        next: Some(next.clone()),
        ..Default::default()
    };
    store.commit_flow("f1", first).await.unwrap();
    // A second writer that read version 0 loses.
    let stale = FlowCommit {
        now: NOW,
        expected_version: 0,
        next: Some(next),
        ..Default::default()
    };
    assert!(matches!(
        store.commit_flow("f1", stale).await,
        Err(StoreError::Conflict(_))
    ));
    let now = store.find_flow_by_token(&[1; 32]).await.unwrap().unwrap();
    assert_eq!((now.version, now.attempts), (1, 1));
}

pub async fn a_failed_commit_writes_nothing(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    store
        .insert_flow(&flow("f1", Some(&id(1))), &[1; 32], NOW)
        .await
        .unwrap();
    // Redeeming a code that does not exist must roll back the session created alongside.
    let commit = FlowCommit {
        now: NOW,
        expected_version: 0,
        next: None,
        redeem_backup_code: Some((id(1), [42; 32])),
        session: Some(session("s1", &id(1), 7)),
        ..Default::default()
    };
    assert!(matches!(
        store.commit_flow("f1", commit).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store.find_flow_by_token(&[1; 32]).await.unwrap().is_some(),
        "the flow is still there"
    );
    assert!(
        store
            .find_live_session(&[7; 32], 3600, NOW)
            .await
            .unwrap()
            .is_none(),
        "no session"
    );
}

pub async fn a_pending_backup_code_cannot_be_redeemed(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    store
        .insert_flow(&flow("f1", Some(&id(1))), &[1; 32], NOW)
        .await
        .unwrap();
    let show = FlowCommit {
        now: NOW,
        expected_version: 0,
        next: Some(flow("f1", Some(&id(1)))),
        new_pending_backup_codes: Some((id(1), vec![code("c1", 5)])),
        ..Default::default()
    };
    store.commit_flow("f1", show).await.unwrap();
    assert_eq!(store.count_active_backup_codes(&id(1)).await.unwrap(), 0);
    store
        .insert_flow(&flow("f2", Some(&id(1))), &[2; 32], NOW)
        .await
        .unwrap();
    let redeem = FlowCommit {
        now: NOW,
        expected_version: 0,
        next: None,
        redeem_backup_code: Some((id(1), [5; 32])),
        ..Default::default()
    };
    assert!(matches!(
        store.commit_flow("f2", redeem).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .find_backup_code_status(&id(1), &[5; 32])
            .await
            .unwrap(),
        Some(BackupCodeStatus::Pending)
    );
}

pub async fn ten_parallel_redemptions_of_one_code_give_one_success(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    active_codes(store, &id(1), "f0", &[5]).await;
    for n in 0..10u8 {
        store
            .insert_flow(&flow(&format!("g{n}"), Some(&id(1))), &[100 + n; 32], NOW)
            .await
            .unwrap();
    }
    let attempts: Vec<_> = (0..10u8)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let commit = FlowCommit {
                    now: NOW,
                    expected_version: 0,
                    next: None,
                    redeem_backup_code: Some((id(1), [5; 32])),
                    session: Some(session(&format!("s{n}"), &id(1), 50 + n)),
                    ..Default::default()
                };
                store.commit_flow(&format!("g{n}"), commit).await
            })
        })
        .collect();
    let mut successes = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => successes += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(successes, 1);
    assert_eq!(
        store
            .find_backup_code_status(&id(1), &[5; 32])
            .await
            .unwrap(),
        Some(BackupCodeStatus::Used)
    );
    assert_eq!(
        store.count_live_sessions(&id(1), 3600, NOW).await.unwrap(),
        1
    );
}

pub async fn showing_new_codes_drops_the_abandoned_pending_ones(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    for (flow_id, byte) in [("f1", 5u8), ("f2", 6u8)] {
        store
            .insert_flow(&flow(flow_id, Some(&id(1))), &[byte; 32], NOW)
            .await
            .unwrap();
        let show = FlowCommit {
            now: NOW,
            expected_version: 0,
            next: Some(flow(flow_id, Some(&id(1)))),
            new_pending_backup_codes: Some((id(1), vec![code(&format!("c{byte}"), byte)])),
            ..Default::default()
        };
        store.commit_flow(flow_id, show).await.unwrap();
    }
    assert_eq!(
        store
            .find_backup_code_status(&id(1), &[5; 32])
            .await
            .unwrap(),
        None
    );
    // The abandoned page's flow can no longer confirm anything.
    let confirm = FlowCommit {
        now: NOW,
        expected_version: 1,
        confirm_backup_codes_of_flow: Some(id(1)),
        ..Default::default()
    };
    assert!(matches!(
        store.commit_flow("f1", confirm).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.count_active_backup_codes(&id(1)).await.unwrap(), 0);
}

pub async fn only_one_of_two_parallel_claims_on_a_count_wins(store: &Store) {
    let seen = store
        .find_failure_record("account:ann@example.com")
        .await
        .unwrap();
    assert_eq!(seen, FailureRecord::default());
    assert!(store
        .claim_attempt("account:ann@example.com", seen, false, NOW)
        .await
        .unwrap());
    assert!(!store
        .claim_attempt("account:ann@example.com", seen, false, NOW)
        .await
        .unwrap());
    let after = store
        .find_failure_record("account:ann@example.com")
        .await
        .unwrap();
    assert_eq!(
        after,
        FailureRecord {
            failures: 1,
            last_failure_at: NOW
        }
    );
    store
        .refund_attempt("account:ann@example.com")
        .await
        .unwrap();
    assert_eq!(
        store
            .find_failure_record("account:ann@example.com")
            .await
            .unwrap()
            .failures,
        0
    );
    store
        .reset_failures("account:ann@example.com")
        .await
        .unwrap();
    assert_eq!(
        store
            .find_failure_record("account:ann@example.com")
            .await
            .unwrap(),
        FailureRecord::default()
    );
}

pub async fn a_rate_window_gives_out_no_more_than_its_limit(store: &Store) {
    for _ in 0..3 {
        assert!(store
            .take_from_window("codes:a1", 3600, 3, NOW)
            .await
            .unwrap());
    }
    assert!(!store
        .take_from_window("codes:a1", 3600, 3, NOW + 10)
        .await
        .unwrap());
    assert!(
        store
            .take_from_window("codes:a1", 3600, 3, NOW + 3600)
            .await
            .unwrap(),
        "a new window"
    );
}

pub async fn sessions_end_when_ended_idle_or_expired(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    for (n, token) in [(1u8, 11u8), (2, 12)] {
        store
            .insert_flow(&flow(&format!("f{n}"), Some(&id(1))), &[n; 32], NOW)
            .await
            .unwrap();
        let commit = FlowCommit {
            now: NOW,
            expected_version: 0,
            session: Some(session(&format!("s{n}"), &id(1), token)),
            ..Default::default()
        };
        store.commit_flow(&format!("f{n}"), commit).await.unwrap();
    }
    // Counted as they are listed: an idle session is over (S32).
    assert_eq!(
        store
            .count_live_sessions(&id(1), 600, NOW + 599)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .count_live_sessions(&id(1), 600, NOW + 600)
            .await
            .unwrap(),
        0,
        "idle sessions are not counted"
    );
    assert_eq!(
        store
            .count_live_sessions(&id(1), 100_000, NOW + 600)
            .await
            .unwrap(),
        2
    );
    assert!(store
        .find_live_session(&[11; 32], 600, NOW + 599)
        .await
        .unwrap()
        .is_some());
    assert!(
        store
            .find_live_session(&[11; 32], 600, NOW + 599 + 601)
            .await
            .unwrap()
            .is_none(),
        "idle"
    );
    assert!(
        store
            .find_live_session(&[12; 32], 100_000, NOW + 3600)
            .await
            .unwrap()
            .is_none(),
        "absolute"
    );
    assert_eq!(
        store.end_session(&[12; 32], NOW).await.unwrap(),
        Some(id(1))
    );
    assert!(
        store
            .find_live_session(&[12; 32], 600, NOW)
            .await
            .unwrap()
            .is_none(),
        "ended"
    );
}

pub async fn trust_is_bound_to_one_account_and_expires(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    account(store, &id(2), "bob@example.com").await;
    store
        .insert_flow(&flow("f1", Some(&id(1))), &[1; 32], NOW)
        .await
        .unwrap();
    let device = NewTrustedDevice {
        id: "d1".into(),
        token_hash: [8; 32],
        account_id: id(1),
        user_agent: None,
        created_at: NOW,
        expires_at: NOW + 30 * 86_400,
    };
    let commit = FlowCommit {
        now: NOW,
        expected_version: 0,
        trusted_device: Some(device),
        next: Some(flow("f1", Some(&id(1)))),
        ..Default::default()
    };
    store.commit_flow("f1", commit).await.unwrap();
    assert!(store
        .use_trusted_device(&[8; 32], &id(1), NOW + 10)
        .await
        .unwrap());
    assert!(
        !store
            .use_trusted_device(&[8; 32], &id(2), NOW + 10)
            .await
            .unwrap(),
        "another account"
    );
    // Using it does not extend it (S26).
    assert!(
        !store
            .use_trusted_device(&[8; 32], &id(1), NOW + 30 * 86_400)
            .await
            .unwrap(),
        "expired"
    );
    assert_eq!(store.revoke_trusted_devices(&id(1), NOW).await.unwrap(), 1);
}

pub async fn security_events_are_listed_newest_first(store: &Store) {
    for (n, at) in [(1, NOW), (2, NOW + 5), (3, NOW + 2)] {
        let event = SecurityEvent {
            id: format!("e{n}"),
            occurred_at: at,
            account_id: Some(id(1)),
            email: Some("ann@example.com".into()),
            event: "password".into(),
            result: "failure".into(),
            method: None,
            client_address: Some("127.0.0.1".into()),
            user_agent: None,
            node: "n1".into(),
            request_id: None,
        };
        store.insert_event(&event).await.unwrap();
    }
    let events = store.list_events(&id(1), 2).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["e2", "e3"]
    );
}

/// The request id joins an event to its request's log line; events outside a request
/// (the CLI) have none.
pub async fn a_security_event_keeps_the_id_of_its_request(store: &Store) {
    for (n, request_id) in [(1, Some("req-1.a:b_c")), (2, None)] {
        let event = SecurityEvent {
            id: format!("e{n}"),
            occurred_at: NOW + n,
            account_id: Some(id(1)),
            email: None,
            event: "password".into(),
            result: "success".into(),
            method: None,
            client_address: None,
            user_agent: None,
            node: "n1".into(),
            request_id: request_id.map(str::to_string),
        };
        store.insert_event(&event).await.unwrap();
    }
    let events = store.list_events(&id(1), 10).await.unwrap();
    let ids: Vec<_> = events.iter().map(|e| e.request_id.as_deref()).collect();
    assert_eq!(ids, [None, Some("req-1.a:b_c")]);
}

/// `/readyz`: ready once migrated, and no longer when a migration this binary carries is
/// missing or marked failed, as after a restore of an older database.
pub async fn readiness_sees_a_missing_or_failed_migration<Fut>(
    store: &Store,
    behind_the_stores_back: impl Fn(&'static str) -> Fut,
) where
    Fut: std::future::Future<Output = ()>,
{
    assert_eq!(store.readiness().await.unwrap(), Readiness::Ready);
    behind_the_stores_back("UPDATE _sqlx_migrations SET success = FALSE WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)").await;
    assert_eq!(
        store.readiness().await.unwrap(),
        Readiness::SchemaNotCurrent
    );
    behind_the_stores_back("UPDATE _sqlx_migrations SET success = TRUE WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)").await;
    assert_eq!(store.readiness().await.unwrap(), Readiness::Ready);
    behind_the_stores_back(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .await;
    assert_eq!(
        store.readiness().await.unwrap(),
        Readiness::SchemaNotCurrent
    );
}

pub async fn migrations_can_run_twice(store: &Store) {
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
}

pub async fn a_step_that_checked_an_old_password_cannot_commit(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    store
        .insert_flow(&flow("f1", None), &[1; 32], NOW)
        .await
        .unwrap();
    let old_hash = store
        .find_account(&id(1))
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    // The owner changes the password while a sign-in with the old one is being checked.
    store
        .insert_flow(&flow("f0", Some(&id(1))), &[2; 32], NOW)
        .await
        .unwrap();
    let owner = FlowCommit {
        now: NOW,
        expected_version: 0,
        next: None,
        session: Some(session("s0", &id(1), 20)),
        ..Default::default()
    };
    store.commit_flow("f0", owner).await.unwrap();
    store
        .change_password(&id(1), &old_hash, "$argon2id$new", "s0", NOW + 1)
        .await
        .unwrap();
    let late = FlowCommit {
        now: NOW + 2,
        expected_version: 0,
        next: None,
        account_guard: Some(AccountGuard {
            account_id: id(1),
            password_hash: Some(PasswordHashString(old_hash)),
        }),
        session: Some(session("s1", &id(1), 21)),
        ..Default::default()
    };
    assert!(matches!(
        store.commit_flow("f1", late).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store
        .find_live_session(&[21; 32], 3600, NOW + 2)
        .await
        .unwrap()
        .is_none());
    assert!(
        store
            .find_live_session(&[20; 32], 3600, NOW + 2)
            .await
            .unwrap()
            .is_some(),
        "the changer's session stays"
    );
    // A disabled account cannot finish a step either.
    store.disable_account(&id(1), NOW + 3).await.unwrap();
    store
        .insert_flow(&flow("f2", Some(&id(1))), &[3; 32], NOW)
        .await
        .unwrap();
    let after_disable = FlowCommit {
        now: NOW + 4,
        expected_version: 0,
        next: None,
        account_guard: Some(AccountGuard {
            account_id: id(1),
            password_hash: None,
        }),
        session: Some(session("s2", &id(1), 22)),
        ..Default::default()
    };
    assert!(matches!(
        store.commit_flow("f2", after_disable).await,
        Err(StoreError::Conflict(_))
    ));
}

pub async fn an_authenticator_step_is_used_once_and_only_forward(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    store
        .insert_pending_totp(&id(1), b"sealed", NOW)
        .await
        .unwrap();
    // An enrolment in progress signs nothing in.
    store
        .insert_flow(&flow("f1", Some(&id(1))), &[1; 32], NOW)
        .await
        .unwrap();
    let early = FlowCommit {
        now: NOW,
        expected_version: 0,
        next: None,
        use_totp_step: Some((id(1), 100)),
        ..Default::default()
    };
    assert!(matches!(
        store.commit_flow("f1", early).await,
        Err(StoreError::Conflict(_))
    ));

    assert!(store
        .confirm_totp(&id(1), b"sealed", 100, NOW)
        .await
        .unwrap());
    assert!(
        !store
            .confirm_totp(&id(1), b"sealed", 101, NOW)
            .await
            .unwrap(),
        "confirmed once"
    );
    for (n, step, ok) in [
        (2u8, 100, false),
        (3, 99, false),
        (4, 101, true),
        (5, 101, false),
    ] {
        let flow_id = format!("f{n}");
        store
            .insert_flow(&flow(&flow_id, Some(&id(1))), &[n; 32], NOW)
            .await
            .unwrap();
        let commit = FlowCommit {
            now: NOW,
            expected_version: 0,
            next: None,
            use_totp_step: Some((id(1), step)),
            ..Default::default()
        };
        assert_eq!(
            store.commit_flow(&flow_id, commit).await.is_ok(),
            ok,
            "step {step}"
        );
    }
    assert_eq!(
        store
            .find_totp(&id(1))
            .await
            .unwrap()
            .unwrap()
            .last_used_step,
        Some(101)
    );
    assert!(store.delete_totp(&id(1), NOW).await.unwrap());
    assert!(store.find_totp(&id(1)).await.unwrap().is_none());
}

// ----- the OpenID Connect provider -----

fn client(id: &str) -> ClientRow {
    ClientRow {
        id: id.into(),
        name: "Notes".into(),
        secret_hash: Some(vec![7; 32]),
        third_party: false,
        signing_alg: "RS256".into(),
        redirect_uris: vec!["https://notes.example/cb".into()],
        post_logout_redirect_uris: vec![],
        created_at: NOW,
    }
}

/// A client, an account, and a grant with one unused code `[1; 32]`.
pub(crate) async fn granted(store: &Store) -> String {
    account(store, &id(1), "ann@example.com").await;
    store.insert_client(&client("c1")).await.unwrap();
    let grant = NewGrant {
        id: "g1".into(),
        client_id: "c1".into(),
        account_id: id(1),
        scope: "openid offline_access".into(),
        nonce: Some("n".into()),
        auth_time: NOW,
        proof: "email_code".into(),
        created_at: NOW,
        expires_at: NOW + 3600,
    };
    let code = NewCode {
        code_hash: [1; 32],
        redirect_uri: "https://notes.example/cb".into(),
        code_challenge: None,
        expires_at: NOW + 60,
    };
    store
        .issue_authorization_code(None, &grant, &code)
        .await
        .unwrap();
    grant.id
}

pub(crate) fn token(byte: u8, kind: TokenKind) -> NewToken {
    NewToken {
        token_hash: [byte; 32],
        kind,
        scope: "openid offline_access".into(),
        created_at: NOW,
        expires_at: NOW + 900,
    }
}

/// S39: a code buys tokens once, however many exchanges race for it.
pub async fn ten_parallel_exchanges_of_one_code_give_one_success(store: &Store) {
    let grant = granted(store).await;
    let attempts: Vec<_> = (0..10u8)
        .map(|n| {
            let (store, grant) = (store.clone(), grant.clone());
            tokio::spawn(async move {
                let tokens = [token(20 + n, TokenKind::Access)];
                store
                    .redeem_authorization_code(&[1; 32], &grant, NOW + 1, &tokens)
                    .await
            })
        })
        .collect();
    let mut successes = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => successes += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(successes, 1);
    let code = store
        .find_authorization_code(&[1; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code.used_at, Some(NOW + 1));
    let mut live = 0;
    for n in 0..10u8 {
        if let Some(t) = store.find_token(&[20 + n; 32]).await.unwrap() {
            assert!(t.is_live(NOW + 1));
            live += 1;
        }
    }
    assert_eq!(live, 1, "only the winner's token was stored");
}

/// S39: an expired code buys nothing.
pub async fn an_expired_code_cannot_be_exchanged(store: &Store) {
    let grant = granted(store).await;
    let tokens = [token(30, TokenKind::Access)];
    let late = store
        .redeem_authorization_code(&[1; 32], &grant, NOW + 60, &tokens)
        .await;
    assert!(matches!(late, Err(StoreError::Conflict(_))));
    assert_eq!(store.find_token(&[30; 32]).await.unwrap(), None);
}

/// S44: a refresh token rotates once; revoking the grant ends every token it issued.
pub async fn a_refresh_token_rotates_once_and_revocation_ends_the_family(store: &Store) {
    let grant = granted(store).await;
    let first = [token(40, TokenKind::Access), token(41, TokenKind::Refresh)];
    store
        .redeem_authorization_code(&[1; 32], &grant, NOW, &first)
        .await
        .unwrap();
    let attempts: Vec<_> = (0..5u8)
        .map(|n| {
            let (store, grant) = (store.clone(), grant.clone());
            tokio::spawn(async move {
                let next = [token(50 + n, TokenKind::Refresh)];
                store
                    .rotate_refresh_token(&[41; 32], &grant, NOW + 10, &next)
                    .await
            })
        })
        .collect();
    let mut successes = 0;
    for attempt in attempts {
        if attempt.await.unwrap().is_ok() {
            successes += 1;
        }
    }
    assert_eq!(successes, 1);
    let old = store.find_token(&[41; 32]).await.unwrap().unwrap();
    assert!(!old.is_live(NOW + 10), "a rotated token is used up");
    assert!(store.revoke_grant(&grant, NOW + 20).await.unwrap());
    let access = store.find_token(&[40; 32]).await.unwrap().unwrap();
    assert!(
        !access.is_live(NOW + 21),
        "revoking the grant ends its access tokens"
    );
}

/// S33: disabling an account ends its products' tokens in the same transaction.
pub async fn disabling_an_account_revokes_its_product_grants(store: &Store) {
    let grant = granted(store).await;
    let tokens = [token(60, TokenKind::Access)];
    store
        .redeem_authorization_code(&[1; 32], &grant, NOW, &tokens)
        .await
        .unwrap();
    assert!(store.disable_account(&id(1), NOW + 5).await.unwrap());
    store.enable_account(&id(1), &[], NOW + 6).await.unwrap();
    let access = store.find_token(&[60; 32]).await.unwrap().unwrap();
    assert_eq!(access.grant.revoked_at, Some(NOW + 5));
    assert!(
        !access.is_live(NOW + 7),
        "enabling the account again does not revive its old tokens"
    );
}

/// An authorization request is answered once, even from two tabs.
pub async fn an_authorization_request_yields_one_code(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    store.insert_client(&client("c1")).await.unwrap();
    let request = AuthorizationRequestRow {
        id_hash: [9; 32],
        client_id: "c1".into(),
        redirect_uri: "https://notes.example/cb".into(),
        scope: "openid".into(),
        state: None,
        nonce: None,
        code_challenge: None,
        prompt_login: false,
        max_age: None,
        created_at: NOW,
        expires_at: NOW + 600,
    };
    store.insert_authorization_request(&request).await.unwrap();
    let mut outcomes = Vec::new();
    for n in 0..2u8 {
        let grant = NewGrant {
            id: format!("g{n}"),
            client_id: "c1".into(),
            account_id: id(1),
            scope: "openid".into(),
            nonce: None,
            auth_time: NOW,
            proof: "totp".into(),
            created_at: NOW,
            expires_at: NOW + 3600,
        };
        let code = NewCode {
            code_hash: [70 + n; 32],
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: None,
            expires_at: NOW + 60,
        };
        outcomes.push(
            store
                .issue_authorization_code(Some(&[9; 32]), &grant, &code)
                .await,
        );
    }
    assert!(outcomes[0].is_ok());
    assert!(matches!(outcomes[1], Err(StoreError::Conflict(_))));
    assert_eq!(
        store.find_authorization_code(&[71; 32]).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .find_authorization_request(&[9; 32], NOW)
            .await
            .unwrap(),
        None
    );
}

/// S42: a retired key stays in the JWKS for its grace period, then leaves; removing a
/// client removes what it held.
pub async fn retired_keys_leave_the_jwks_after_their_grace_period(store: &Store) {
    let key = |kid: &str, created_at| SigningKeyRow {
        kid: kid.into(),
        alg: "ES256".into(),
        sealed_key: vec![1, 2, 3],
        public_jwk: "{}".into(),
        created_at,
        retired_at: None,
    };
    store
        .insert_signing_keys(&[key("old", NOW)], None)
        .await
        .unwrap();
    store
        .insert_signing_keys(&[key("new", NOW + 100)], Some(NOW + 100))
        .await
        .unwrap();
    let active = store
        .find_active_signing_key("ES256")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(active.kid, "new");
    let published = |at| async move {
        let keys = store.list_published_signing_keys(at, 900).await.unwrap();
        keys.into_iter().map(|k| k.kid).collect::<Vec<_>>()
    };
    assert_eq!(published(NOW + 999).await, ["new", "old"]);
    assert_eq!(published(NOW + 1000).await, ["new"]);
    let grant = granted(store).await;
    assert!(store.delete_client("c1").await.unwrap());
    assert_eq!(store.find_authorization_code(&[1; 32]).await.unwrap(), None);
    assert!(!store.revoke_grant(&grant, NOW).await.unwrap());
}

/// The account page's products: one line per product with a live token; signing out of one
/// ends all its grants and leaves the others.
pub async fn connected_products_are_listed_once_and_signed_out_together(store: &Store) {
    let grant = granted(store).await;
    assert!(store
        .list_connected_products(&id(1), NOW)
        .await
        .unwrap()
        .is_empty());
    let tokens = [token(80, TokenKind::Access), token(81, TokenKind::Refresh)];
    store
        .redeem_authorization_code(&[1; 32], &grant, NOW, &tokens)
        .await
        .unwrap();
    let listed = store
        .list_connected_products(&id(1), NOW + 1)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].offline),
        ("Notes", true)
    );
    assert_eq!(
        store
            .revoke_product_grants(&id(1), "c1", NOW + 2)
            .await
            .unwrap(),
        1
    );
    assert!(store
        .list_connected_products(&id(1), NOW + 3)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .revoke_product_grants(&id(1), "c1", NOW + 4)
            .await
            .unwrap(),
        0
    );
}

// ----- review: guards that pin what was checked -----

/// Pending codes from the account page under `flow_key`, with dummy sealed displays.
async fn pending_from_account_page(store: &Store, flow_key: &str, bytes: &[u8]) {
    let codes: Vec<_> = bytes
        .iter()
        .map(|b| (code(&format!("{flow_key}-{b}"), *b), vec![*b; 8]))
        .collect();
    store
        .issue_pending_backup_codes(&id(1), flow_key, &codes)
        .await
        .unwrap();
}

/// A double-submitted "I have saved this code" (two requests racing) activates the code
/// once; the second must not retire what the first just made active (S22).
pub async fn two_parallel_confirmations_leave_exactly_one_active_code(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    active_codes(store, &id(1), "f0", &[5]).await;
    // The race is a matter of timing: enough rounds that a missing lock shows.
    for round in 0..40u8 {
        let flow_key = format!("page-{round}");
        let byte = 100 + round;
        pending_from_account_page(store, &flow_key, &[byte]).await;
        let confirmations: Vec<_> = (0..2)
            .map(|_| {
                let (store, flow_key) = (store.clone(), flow_key.clone());
                tokio::spawn(async move {
                    store
                        .activate_pending_backup_codes(&id(1), &flow_key, NOW + 1)
                        .await
                })
            })
            .collect();
        let mut activated = 0;
        for confirmation in confirmations {
            activated += confirmation.await.unwrap().unwrap();
        }
        assert_eq!(activated, 1, "round {round}");
        assert_eq!(
            store.count_active_backup_codes(&id(1)).await.unwrap(),
            1,
            "round {round}"
        );
        assert_eq!(
            store
                .find_backup_code_status(&id(1), &[byte; 32])
                .await
                .unwrap(),
            Some(BackupCodeStatus::Active),
            "round {round}: the new code is the active one"
        );
    }
    assert_eq!(
        store
            .find_backup_code_status(&id(1), &[5; 32])
            .await
            .unwrap(),
        Some(BackupCodeStatus::Used),
        "the code it replaced no longer works"
    );
    assert_eq!(
        store
            .activate_pending_backup_codes(&id(1), "page-39", NOW + 2)
            .await
            .unwrap(),
        0,
        "nothing is pending any more"
    );
    assert_eq!(store.count_active_backup_codes(&id(1)).await.unwrap(), 1);
}

/// The flow's pending codes are found by account and flow: another account's confirmation
/// of the same flow id confirms nothing, and the count is per account.
pub async fn a_flow_confirms_only_its_own_accounts_pending_codes(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    account(store, &id(2), "bob@example.com").await;
    store
        .insert_flow(&flow("f1", Some(&id(1))), &[1; 32], NOW)
        .await
        .unwrap();
    let show = FlowCommit {
        now: NOW,
        expected_version: 0,
        next: Some(flow("f1", Some(&id(1)))),
        new_pending_backup_codes: Some((id(1), vec![code("c1", 5)])),
        ..Default::default()
    };
    store.commit_flow("f1", show).await.unwrap();
    assert_eq!(
        store
            .count_pending_backup_codes_of_flow(&id(1), "f1")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_pending_backup_codes_of_flow(&id(2), "f1")
            .await
            .unwrap(),
        0
    );
    let wrong_account = FlowCommit {
        now: NOW,
        expected_version: 1,
        confirm_backup_codes_of_flow: Some(id(2)),
        ..Default::default()
    };
    assert!(matches!(
        store.commit_flow("f1", wrong_account).await,
        Err(StoreError::Conflict(_))
    ));
    let right = FlowCommit {
        now: NOW,
        expected_version: 1,
        confirm_backup_codes_of_flow: Some(id(1)),
        ..Default::default()
    };
    store.commit_flow("f1", right).await.unwrap();
    assert_eq!(store.count_active_backup_codes(&id(1)).await.unwrap(), 1);
    assert_eq!(
        store
            .count_pending_backup_codes_of_flow(&id(1), "f1")
            .await
            .unwrap(),
        0
    );
}

/// S13: a code checked against one pending number does not verify the number that replaced
/// it in another window meanwhile.
pub async fn a_phone_is_verified_only_with_the_code_that_was_checked(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    store
        .insert_pending_phone(&id(1), b"first", "11", &[1; 32], NOW + 600, NOW)
        .await
        .unwrap();
    let checked = store
        .find_phone(&id(1))
        .await
        .unwrap()
        .unwrap()
        .code_hash
        .unwrap();
    // Another tab enters a second number before the first code's check commits.
    store
        .insert_pending_phone(&id(1), b"second", "22", &[2; 32], NOW + 600, NOW + 1)
        .await
        .unwrap();
    assert!(!store.verify_phone(&id(1), &checked, NOW + 2).await.unwrap());
    let phone = store.find_phone(&id(1)).await.unwrap().unwrap();
    assert_eq!(
        (phone.last_digits.as_str(), phone.verified_at),
        ("22", None),
        "the second number is still unverified"
    );
    assert!(store.verify_phone(&id(1), &[2; 32], NOW + 3).await.unwrap());
    assert_eq!(
        store.find_phone(&id(1)).await.unwrap().unwrap().verified_at,
        Some(NOW + 3)
    );
    assert!(
        !store.verify_phone(&id(1), &[2; 32], NOW + 4).await.unwrap(),
        "verified once"
    );
}

/// S18: a code checked against one pending secret does not confirm the secret of an
/// enrolment restarted in another window meanwhile.
pub async fn an_authenticator_is_confirmed_only_with_the_secret_that_was_checked(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    store
        .insert_pending_totp(&id(1), b"first secret", NOW)
        .await
        .unwrap();
    store
        .insert_pending_totp(&id(1), b"second secret", NOW + 1)
        .await
        .unwrap();
    assert!(!store
        .confirm_totp(&id(1), b"first secret", 100, NOW + 2)
        .await
        .unwrap());
    assert_eq!(
        store.find_totp(&id(1)).await.unwrap().unwrap().confirmed_at,
        None
    );
    assert!(store
        .confirm_totp(&id(1), b"second secret", 100, NOW + 3)
        .await
        .unwrap());
    let row = store.find_totp(&id(1)).await.unwrap().unwrap();
    assert_eq!(
        (row.secret_sealed.as_slice(), row.confirmed_at),
        (&b"second secret"[..], Some(NOW + 3))
    );
}

/// S6: a password change ends everything, the reset links mailed before it included: an
/// old link must not undo the change.
pub async fn a_reset_link_stops_working_after_a_password_change(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    store
        .insert_password_reset("r1", &[3; 32], &id(1), NOW, NOW + 3600)
        .await
        .unwrap();
    assert!(store
        .find_live_password_reset(&[3; 32], NOW + 1)
        .await
        .unwrap()
        .is_some());
    let old_hash = store
        .find_account(&id(1))
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    store
        .change_password(&id(1), &old_hash, "$argon2id$new", "s0", NOW + 2)
        .await
        .unwrap();
    assert!(store
        .find_live_password_reset(&[3; 32], NOW + 3)
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        store
            .reset_password(&[3; 32], "$argon2id$attacker", NOW + 3)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .find_account(&id(1))
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "$argon2id$new"
    );
}

/// A change ends everything the account holds but the changer's session; a disable ends
/// that one too. One list for both (S6, S29, S33).
pub async fn a_password_change_and_a_disable_end_the_same_things(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    for (n, token) in [(1u8, 11u8), (2, 12)] {
        store
            .insert_flow(&flow(&format!("f{n}"), Some(&id(1))), &[n; 32], NOW)
            .await
            .unwrap();
        let commit = FlowCommit {
            now: NOW,
            expected_version: 0,
            session: Some(session(&format!("s{n}"), &id(1), token)),
            trusted_device: Some(NewTrustedDevice {
                id: format!("d{n}"),
                token_hash: [20 + n; 32],
                account_id: id(1),
                user_agent: None,
                created_at: NOW,
                expires_at: NOW + 86_400,
            }),
            ..Default::default()
        };
        store.commit_flow(&format!("f{n}"), commit).await.unwrap();
    }
    store
        .insert_flow(&flow("f9", Some(&id(1))), &[9; 32], NOW)
        .await
        .unwrap();
    let old_hash = store
        .find_account(&id(1))
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    store
        .change_password(&id(1), &old_hash, "$argon2id$new", "s1", NOW + 1)
        .await
        .unwrap();
    assert!(store
        .find_live_session(&[11; 32], 3600, NOW + 2)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .find_live_session(&[12; 32], 3600, NOW + 2)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .list_trusted_devices(&id(1), NOW + 2)
        .await
        .unwrap()
        .is_empty());
    assert!(store.find_flow_by_token(&[9; 32]).await.unwrap().is_none());
    assert!(store.disable_account(&id(1), NOW + 3).await.unwrap());
    assert_eq!(
        store
            .count_live_sessions(&id(1), 3600, NOW + 4)
            .await
            .unwrap(),
        0
    );
}

/// An administrator's reset removes the app and the phone in one go, says which of them
/// were in use, and revokes the trusted devices.
pub async fn removing_the_second_factors_reports_what_was_in_use(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    store
        .insert_flow(&flow("f1", Some(&id(1))), &[1; 32], NOW)
        .await
        .unwrap();
    let trust = FlowCommit {
        now: NOW,
        expected_version: 0,
        trusted_device: Some(NewTrustedDevice {
            id: "d1".into(),
            token_hash: [8; 32],
            account_id: id(1),
            user_agent: None,
            created_at: NOW,
            expires_at: NOW + 86_400,
        }),
        ..Default::default()
    };
    store.commit_flow("f1", trust).await.unwrap();
    store
        .insert_pending_totp(&id(1), b"sealed", NOW)
        .await
        .unwrap();
    assert!(store
        .confirm_totp(&id(1), b"sealed", 100, NOW)
        .await
        .unwrap());
    store
        .insert_pending_phone(&id(1), b"number", "11", &[1; 32], NOW + 600, NOW)
        .await
        .unwrap();
    assert_eq!(
        store.remove_second_factors(&id(1), NOW + 1).await.unwrap(),
        RemovedSecondFactors {
            authenticator: true,
            phone: false,
        },
        "the phone was never verified"
    );
    assert!(store.find_totp(&id(1)).await.unwrap().is_none());
    assert!(store.find_phone(&id(1)).await.unwrap().is_none());
    assert!(!store
        .use_trusted_device(&[8; 32], &id(1), NOW + 2)
        .await
        .unwrap());

    store
        .insert_pending_phone(&id(1), b"number", "11", &[2; 32], NOW + 600, NOW + 3)
        .await
        .unwrap();
    assert!(store.verify_phone(&id(1), &[2; 32], NOW + 4).await.unwrap());
    assert_eq!(
        store.remove_second_factors(&id(1), NOW + 5).await.unwrap(),
        RemovedSecondFactors {
            authenticator: false,
            phone: true,
        }
    );
    assert_eq!(
        store.remove_second_factors(&id(1), NOW + 6).await.unwrap(),
        RemovedSecondFactors::default()
    );
}

/// Being public is having no secret: nothing stored can say otherwise.
pub async fn a_client_without_a_secret_is_public(store: &Store) {
    let mut public = client("p1");
    public.secret_hash = None;
    store.insert_client(&public).await.unwrap();
    store.insert_client(&client("c1")).await.unwrap();
    assert!(store.find_client("p1").await.unwrap().unwrap().is_public());
    assert!(!store.find_client("c1").await.unwrap().unwrap().is_public());
}

/// A token row whose kind this version does not know is an error, never an access token:
/// reading it as one would make a damaged row a bearer credential. `damage` changes the
/// stored kind behind the store's back.
pub async fn an_unknown_token_kind_is_refused_not_read_as_access<F, Fut>(store: &Store, damage: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let grant = granted(store).await;
    store
        .redeem_authorization_code(&[1; 32], &grant, NOW, &[token(70, TokenKind::Access)])
        .await
        .unwrap();
    assert_eq!(
        store.find_token(&[70; 32]).await.unwrap().unwrap().kind,
        TokenKind::Access
    );
    damage().await;
    assert!(store.find_token(&[70; 32]).await.is_err());
}

/// An account id that is not an id, or a sign-in proof this version does not know, can only
/// come from a damaged row: reading it fails, never panics and never guesses (a session
/// must not claim a sign-in it cannot name). `damage` changes the rows behind the store's
/// back.
pub async fn a_damaged_account_id_or_proof_is_a_read_error<F, Fut>(store: &Store, damage: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    account(store, &id(1), "ann@example.com").await;
    account(store, &id(2), "bob@example.com").await;
    store
        .insert_flow(&flow("f1", Some(&id(2))), &[1; 32], NOW)
        .await
        .unwrap();
    let commit = FlowCommit {
        now: NOW,
        expected_version: 0,
        session: Some(session("s1", &id(2), 7)),
        next: None,
        ..Default::default()
    };
    store.commit_flow("f1", commit).await.unwrap();
    let live = store.find_live_session(&[7; 32], 3600, NOW).await.unwrap();
    assert_eq!(live.map(|s| s.proof), Some(Proof::EmailCode));
    damage().await;
    let ann = store.find_account_by_email("ann@example.com").await;
    assert!(
        matches!(ann, Err(StoreError::Unexpected(sqlx::Error::Decode(_)))),
        "{ann:?}"
    );
    let session = store.find_live_session(&[7; 32], 3600, NOW).await;
    assert!(
        matches!(session, Err(StoreError::Unexpected(sqlx::Error::Decode(_)))),
        "{session:?}"
    );
}

/// S56, S57: a finished sign-in makes its browser known to that account only, and an
/// account keeps at most `KNOWN_BROWSERS_PER_ACCOUNT` browsers, the most recently seen.
pub async fn known_browsers_belong_to_one_account_and_are_bounded(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    account(store, &id(2), "bob@example.com").await;
    let count = KNOWN_BROWSERS_PER_ACCOUNT as u8;
    for n in 0..count + 5 {
        let flow_id = format!("f{n}");
        store
            .insert_flow(&flow(&flow_id, Some(&id(1))), &[n; 32], NOW)
            .await
            .unwrap();
        let commit = FlowCommit {
            now: NOW + i64::from(n),
            expected_version: 0,
            session: Some(session(&format!("s{n}"), &id(1), n)),
            known_browser: Some(KnownBrowser {
                id: format!("b{n}"),
                browser_hash: [n; 32],
                account_id: id(1),
                seen_at: NOW + i64::from(n),
            }),
            ..Default::default()
        };
        store.commit_flow(&flow_id, commit).await.unwrap();
    }
    let newest = [count + 4; 32];
    assert!(store
        .find_known_browser(&newest, &id(1))
        .await
        .unwrap()
        .is_some());
    assert!(
        store
            .find_known_browser(&newest, &id(2))
            .await
            .unwrap()
            .is_none(),
        "known to the account it signed in to only"
    );
    assert!(
        store
            .find_known_browser(&[0; 32], &id(1))
            .await
            .unwrap()
            .is_none(),
        "the least recently seen went beyond the bound"
    );
    let mut found = 0;
    for n in 0..count + 5 {
        if store
            .find_known_browser(&[n; 32], &id(1))
            .await
            .unwrap()
            .is_some()
        {
            found += 1;
        }
    }
    assert_eq!(found, usize::from(count));
    // Housekeeping forgets browsers not seen for long.
    store
        .delete_known_browsers_unseen_since(NOW + i64::from(count) + 10)
        .await
        .unwrap();
    assert!(store
        .find_known_browser(&newest, &id(1))
        .await
        .unwrap()
        .is_none());
}

/// S57: pruning forgets failure counters untouched since the cut-off, keeps locks, and
/// drops rate windows that started before theirs.
pub async fn pruning_forgets_stale_counters_but_keeps_locks(store: &Store) {
    for (key, failures) in [("client:192.0.2.1", 3), ("account:locked@example.com", 100)] {
        for _ in 0..failures {
            let seen = store.find_failure_record(key).await.unwrap();
            assert!(store.claim_attempt(key, seen, false, NOW).await.unwrap());
        }
    }
    assert!(store
        .take_from_window("codes:a1", 3600, 1, NOW)
        .await
        .unwrap());
    assert!(!store
        .take_from_window("codes:a1", 3600, 1, NOW)
        .await
        .unwrap());
    assert_eq!(store.prune_failure_counters(NOW, 100).await.unwrap(), 0);
    assert_eq!(store.prune_failure_counters(NOW + 1, 100).await.unwrap(), 1);
    assert_eq!(
        store.find_failure_record("client:192.0.2.1").await.unwrap(),
        FailureRecord::default()
    );
    assert_eq!(
        store
            .find_failure_record("account:locked@example.com")
            .await
            .unwrap()
            .failures,
        100
    );
    assert_eq!(store.prune_rate_windows(NOW).await.unwrap(), 0);
    assert_eq!(store.prune_rate_windows(NOW + 1).await.unwrap(), 1);
}
