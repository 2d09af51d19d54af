//! Issue 12 in the store: "Stop this sign-in" links (S59) and e-mail changes that wait
//! after a backup-code sign-in.

use crate::cases::{account, flow, id, NOW};
use gatehouse_store::{FlowCommit, NewStopLink, StopLinkState, StopRefused, StoppedSignIn, Store};

fn link(token: u8) -> NewStopLink {
    NewStopLink {
        token_hash: [token; 32],
        account_id: id(1),
        client_address: Some("198.51.100.7".into()),
        created_at: NOW,
        expires_at: NOW + 600,
    }
}

/// A sign-in at its code step whose mail carried `link(token)`.
async fn sign_in_with_link(store: &Store, flow_id: &str, flow_token: u8, token: u8) {
    store
        .insert_flow(&flow(flow_id, Some(&id(1))), &[flow_token; 32], NOW)
        .await
        .unwrap();
    let commit = FlowCommit {
        now: NOW,
        expected_version: 0,
        next: Some(flow(flow_id, Some(&id(1)))),
        stop_link: Some(link(token)),
        ..Default::default()
    };
    store.commit_flow(flow_id, commit).await.unwrap();
}

pub async fn a_stop_link_ends_its_own_sign_in_once(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    sign_in_with_link(store, "f1", 1, 11).await;
    sign_in_with_link(store, "f2", 2, 22).await;
    assert_eq!(
        store
            .find_stop_link_state(&[11; 32], NOW + 1)
            .await
            .unwrap(),
        StopLinkState::Stoppable
    );
    // Looking changes nothing.
    assert!(store.find_flow_by_token(&[1; 32]).await.unwrap().is_some());

    let stopped = store.stop_sign_in(&[11; 32], NOW + 2).await.unwrap();
    assert_eq!(
        stopped,
        Ok(StoppedSignIn {
            account_id: id(1),
            email: "ann@example.com".into(),
            client_address: Some("198.51.100.7".into()),
        })
    );
    assert!(store.find_flow_by_token(&[1; 32]).await.unwrap().is_none());
    assert!(
        store.find_flow_by_token(&[2; 32]).await.unwrap().is_some(),
        "another sign-in's link stops only its own"
    );
    assert_eq!(
        store.stop_sign_in(&[11; 32], NOW + 3).await.unwrap(),
        Err(StopRefused::Used)
    );
    assert_eq!(
        store
            .find_stop_link_state(&[11; 32], NOW + 3)
            .await
            .unwrap(),
        StopLinkState::Used
    );
    assert_eq!(
        store
            .find_stop_link_state(&[22; 32], NOW + 3)
            .await
            .unwrap(),
        StopLinkState::Stoppable
    );
    assert_eq!(
        store.stop_sign_in(&[99; 32], NOW + 3).await.unwrap(),
        Err(StopRefused::Invalid)
    );
}

pub async fn every_link_of_a_sign_in_stops_it_until_its_code_would_expire(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    sign_in_with_link(store, "f1", 1, 11).await;
    // "Resend code": a second mail, a second link, the same sign-in.
    let mut resent = flow("f1", Some(&id(1)));
    resent.version = 1;
    let commit = FlowCommit {
        now: NOW + 60,
        expected_version: 1,
        next: Some(resent),
        stop_link: Some(NewStopLink {
            created_at: NOW + 60,
            expires_at: NOW + 660,
            ..link(12)
        }),
        ..Default::default()
    };
    store.commit_flow("f1", commit).await.unwrap();
    assert_eq!(
        store
            .find_stop_link_state(&[11; 32], NOW + 600)
            .await
            .unwrap(),
        StopLinkState::Invalid,
        "the first link lives as long as the first code"
    );
    assert_eq!(
        store.stop_sign_in(&[11; 32], NOW + 600).await.unwrap(),
        Err(StopRefused::Invalid)
    );
    assert!(store.find_flow_by_token(&[1; 32]).await.unwrap().is_some());
    assert!(store
        .stop_sign_in(&[12; 32], NOW + 500)
        .await
        .unwrap()
        .is_ok());
    assert_eq!(
        store
            .find_stop_link_state(&[12; 32], NOW + 501)
            .await
            .unwrap(),
        StopLinkState::Used
    );
    assert_eq!(store.delete_expired_stop_links(NOW + 661).await.unwrap(), 2);
}

pub async fn a_stop_link_of_a_finished_sign_in_changes_nothing(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    sign_in_with_link(store, "f1", 1, 11).await;
    // The sign-in finished: its row is gone.
    let done = FlowCommit {
        now: NOW + 5,
        expected_version: 1,
        next: None,
        ..Default::default()
    };
    store.commit_flow("f1", done).await.unwrap();
    assert_eq!(
        store
            .find_stop_link_state(&[11; 32], NOW + 6)
            .await
            .unwrap(),
        StopLinkState::SignInOver
    );
    assert_eq!(
        store.stop_sign_in(&[11; 32], NOW + 6).await.unwrap(),
        Err(StopRefused::SignInOver)
    );
    assert_eq!(
        store
            .find_stop_link_state(&[11; 32], NOW + 7)
            .await
            .unwrap(),
        StopLinkState::SignInOver,
        "the refused stop did not use the link"
    );

    // A sign-in that ended after five wrong codes is over too, and stays as it was.
    sign_in_with_link(store, "f2", 2, 22).await;
    let mut ended = flow("f2", Some(&id(1)));
    ended.step = "ended".into();
    let end = FlowCommit {
        now: NOW + 8,
        expected_version: 1,
        next: Some(ended),
        ..Default::default()
    };
    store.commit_flow("f2", end).await.unwrap();
    assert_eq!(
        store.stop_sign_in(&[22; 32], NOW + 9).await.unwrap(),
        Err(StopRefused::SignInOver)
    );
    let kept = store.find_flow_by_token(&[2; 32]).await.unwrap().unwrap();
    assert_eq!(kept.step, "ended");
}

pub async fn a_waiting_email_change_is_cancelled_once_or_applied_when_due(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    store
        .insert_delayed_email_change(&id(1), "new@example.com", &[5; 32], NOW, NOW + 86_400)
        .await
        .unwrap();
    let waiting = store
        .find_delayed_email_change(&id(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (waiting.old_email.as_str(), waiting.new_email.as_str()),
        ("ann@example.com", "new@example.com")
    );
    assert!(store
        .due_delayed_email_changes(NOW + 86_399)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .find_delayed_email_change_by_cancel_token(&[5; 32])
            .await
            .unwrap(),
        Some(waiting.clone())
    );
    assert!(store
        .cancel_delayed_email_change(&[5; 32])
        .await
        .unwrap()
        .is_some());
    assert!(
        store
            .cancel_delayed_email_change(&[5; 32])
            .await
            .unwrap()
            .is_none(),
        "a cancel link works once"
    );
    assert!(store
        .due_delayed_email_changes(NOW + 86_400)
        .await
        .unwrap()
        .is_empty());

    store
        .insert_delayed_email_change(&id(1), "new@example.com", &[6; 32], NOW, NOW + 86_400)
        .await
        .unwrap();
    let due = store.due_delayed_email_changes(NOW + 86_400).await.unwrap();
    assert_eq!(due.len(), 1);
    assert!(store
        .apply_delayed_email_change(&due[0], NOW + 86_400)
        .await
        .unwrap());
    let account = store.find_account(&id(1)).await.unwrap().unwrap();
    assert_eq!(account.email, "new@example.com");
    assert!(
        !store
            .apply_delayed_email_change(&due[0], NOW + 86_401)
            .await
            .unwrap(),
        "applied once"
    );
    assert!(store
        .cancel_delayed_email_change(&[6; 32])
        .await
        .unwrap()
        .is_none());
}
