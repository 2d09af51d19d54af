//! A sign-in step's commit carries the step's security events, what its success does to
//! the budgets and the use of the trusted device it relied on (issue 10: one commit, one
//! fsync, instead of one for each). All of it holds together: when the commit fails,
//! none of it was written (S51, S53).

use crate::cases::{account, flow, id, NOW};
use gatehouse_core::FailureRecord;
use gatehouse_store::{
    CounterChanges, FlowCommit, NewTrustedDevice, SecurityEvent, Store, StoreError, WindowTake,
};

fn event(n: u8) -> SecurityEvent {
    SecurityEvent {
        id: format!("e{n}"),
        occurred_at: NOW + i64::from(n),
        account_id: Some(id(1)),
        email: Some("ann@example.com".into()),
        event: "password".into(),
        result: "success".into(),
        method: Some("trusted_device".into()),
        client_address: Some("127.0.0.1".into()),
        user_agent: None,
        node: "n1".into(),
        request_id: None,
    }
}

async fn failures(store: &Store, key: &str) -> u32 {
    store.find_failure_record(key).await.unwrap().failures
}

/// Counts `n` failures under `key`, as wrong guesses would.
async fn fail(store: &Store, key: &str, n: u32) {
    for _ in 0..n {
        let seen = store.find_failure_record(key).await.unwrap();
        assert!(store.claim_attempt(key, seen, false, NOW).await.unwrap());
    }
}

async fn event_ids(store: &Store) -> Vec<String> {
    let mut ids: Vec<String> = (store.list_events(&id(1), 10).await.unwrap())
        .into_iter()
        .map(|e| e.id)
        .collect();
    ids.sort();
    ids
}

pub async fn a_step_stores_its_events_counters_and_device_use_or_none_of_them(store: &Store) {
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
        next: Some(flow("f1", Some(&id(1)))),
        ..Default::default()
    };
    store.commit_flow("f1", trust).await.unwrap();
    fail(store, "account:ann", 2).await;
    fail(store, "client:1", 2).await;
    assert!(store
        .is_trusted_device(&[8; 32], &id(1), NOW + 1)
        .await
        .unwrap());
    assert!(
        !store
            .is_trusted_device(&[8; 32], &id(2), NOW + 1)
            .await
            .unwrap(),
        "another account's"
    );

    let step = |version, events| FlowCommit {
        now: NOW + 1,
        expected_version: version,
        next: Some(flow("f1", Some(&id(1)))),
        trusted_device_used: Some(([8; 32], id(1))),
        counters: CounterChanges {
            reset: vec!["account:ann".into()],
            refund: vec!["client:1".into()],
        },
        events,
        ..Default::default()
    };
    store
        .commit_flow("f1", step(1, vec![event(1), event(2)]))
        .await
        .unwrap();
    assert_eq!(event_ids(store).await, ["e1", "e2"]);
    assert_eq!(
        store.find_failure_record("account:ann").await.unwrap(),
        FailureRecord::default(),
        "the run of failures ended"
    );
    assert_eq!(failures(store, "client:1").await, 1, "one unit given back");
    let devices = store.list_trusted_devices(&id(1), NOW + 1).await.unwrap();
    assert_eq!(devices[0].last_used_at, Some(NOW + 1), "its use is stamped");

    // Revoked between the step's look and its commit: the step fails and leaves nothing.
    fail(store, "account:ann", 1).await;
    assert_eq!(
        store.revoke_trusted_devices(&id(1), NOW + 1).await.unwrap(),
        1
    );
    assert!(!store
        .is_trusted_device(&[8; 32], &id(1), NOW + 1)
        .await
        .unwrap());
    assert!(matches!(
        store.commit_flow("f1", step(2, vec![event(3)])).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        event_ids(store).await,
        ["e1", "e2"],
        "no event of a failed step"
    );
    assert_eq!(failures(store, "account:ann").await, 1, "no reset");
    assert_eq!(failures(store, "client:1").await, 1, "no refund");
    let flow_now = store.find_flow_by_token(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(flow_now.version, 2, "the flow did not move");
}

pub async fn a_sign_in_starts_only_while_its_window_has_room(store: &Store) {
    let window = WindowTake {
        key: "sign-ins-127.0.0.1",
        window_secs: 3600,
        limit: 2,
    };
    for (n, token) in [(1u8, [1u8; 32]), (2, [2; 32])] {
        let row = flow(&format!("f{n}"), None);
        assert!(store
            .insert_flow_within(&window, &row, &token, NOW)
            .await
            .unwrap());
        assert!(store.find_flow_by_token(&token).await.unwrap().is_some());
    }
    let refused = flow("f3", None);
    assert!(!store
        .insert_flow_within(&window, &refused, &[3; 32], NOW + 10)
        .await
        .unwrap());
    assert!(
        store.find_flow_by_token(&[3; 32]).await.unwrap().is_none(),
        "a refused sign-in leaves no row (S57)"
    );
    assert!(
        store
            .insert_flow_within(&window, &refused, &[3; 32], NOW + 3600)
            .await
            .unwrap(),
        "a new window"
    );
}
