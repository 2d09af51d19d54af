//! Passkeys (S58): one credential id belongs to one account, its counter only moves
//! forward inside the sign-in's own commit, changes revoke trusted devices (S29), and a
//! ceremony's state is taken once, before it expires.

use crate::cases::{account, flow, id, NOW};
use gatehouse_core::AccountId;
use gatehouse_store::{FlowCommit, NewTrustedDevice, PasskeyRow, PasskeyUse, Store, StoreError};

fn passkey(passkey_id: &str, account_id: &AccountId, credential: u8) -> PasskeyRow {
    PasskeyRow {
        id: passkey_id.into(),
        account_id: account_id.clone(),
        credential_id: vec![credential; 16],
        passkey: format!("{{\"credential\":{credential}}}"),
        counter: 0,
        name: "Chrome on Linux".into(),
        created_at: NOW,
        last_used_at: None,
    }
}

fn used(passkey_id: &str, counter: i64, at: i64) -> PasskeyUse {
    PasskeyUse {
        id: passkey_id.into(),
        passkey: format!("{{\"counter\":{counter}}}"),
        counter,
        used_at: at,
    }
}

async fn trust_a_device(store: &Store, account_id: &AccountId, n: u8) {
    let flow_id = format!("trust{n}");
    store
        .insert_flow(&flow(&flow_id, Some(account_id)), &[n; 32], NOW)
        .await
        .unwrap();
    let commit = FlowCommit {
        now: NOW,
        expected_version: 0,
        trusted_device: Some(NewTrustedDevice {
            id: format!("d{n}"),
            token_hash: [n; 32],
            account_id: account_id.clone(),
            user_agent: None,
            created_at: NOW,
            expires_at: NOW + 30 * 86_400,
        }),
        next: None,
        ..Default::default()
    };
    store.commit_flow(&flow_id, commit).await.unwrap();
}

pub async fn a_passkey_belongs_to_one_account_and_only_its_owner_changes_it(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    account(store, &id(2), "bob@example.com").await;
    store
        .insert_passkey(&passkey("p1", &id(1), 7), NOW)
        .await
        .unwrap();
    // The same authenticator credential cannot be registered again, to anyone.
    assert!(matches!(
        store.insert_passkey(&passkey("p2", &id(2), 7), NOW).await,
        Err(StoreError::Conflict(_))
    ));
    let found = store
        .find_passkey_by_credential(&[7; 16])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.account_id, id(1));
    assert_eq!(
        store.find_passkey_by_credential(&[8; 16]).await.unwrap(),
        None
    );

    assert!(!store
        .rename_passkey(&id(2), "p1", "Mine now")
        .await
        .unwrap());
    assert!(store
        .rename_passkey(&id(1), "p1", "Work laptop")
        .await
        .unwrap());
    assert_eq!(store.delete_passkey(&id(2), "p1", NOW).await.unwrap(), None);
    let listed = store.list_passkeys(&id(1)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "Work laptop");
    assert_eq!(store.count_passkeys(&id(2)).await.unwrap(), 0);

    assert_eq!(
        store.delete_passkey(&id(1), "p1", NOW).await.unwrap(),
        Some("Work laptop".into())
    );
    assert_eq!(store.count_passkeys(&id(1)).await.unwrap(), 0);
}

pub async fn adding_or_removing_a_passkey_revokes_trusted_devices(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    trust_a_device(store, &id(1), 1).await;
    store
        .insert_passkey(&passkey("p1", &id(1), 7), NOW + 1)
        .await
        .unwrap();
    assert!(
        !store
            .use_trusted_device(&[1; 32], &id(1), NOW + 2)
            .await
            .unwrap(),
        "adding a passkey revokes the devices"
    );
    trust_a_device(store, &id(1), 2).await;
    store.delete_passkey(&id(1), "p1", NOW + 3).await.unwrap();
    assert!(
        !store
            .use_trusted_device(&[2; 32], &id(1), NOW + 4)
            .await
            .unwrap(),
        "removing a passkey revokes the devices"
    );
}

pub async fn a_passkey_counter_only_moves_forward_with_the_sign_in(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    store
        .insert_passkey(&passkey("p1", &id(1), 7), NOW)
        .await
        .unwrap();
    // (flow, counter, accepted): forward, the same again (a replay or a copy), backwards,
    // forward again.
    for (n, counter, accepted) in [(1u8, 5, true), (2, 5, false), (3, 4, false), (4, 9, true)] {
        let flow_id = format!("f{n}");
        store
            .insert_flow(&flow(&flow_id, Some(&id(1))), &[n; 32], NOW)
            .await
            .unwrap();
        let commit = FlowCommit {
            now: NOW + i64::from(n),
            expected_version: 0,
            next: None,
            use_passkey: Some(used("p1", counter, NOW + i64::from(n))),
            ..Default::default()
        };
        let result = store.commit_flow(&flow_id, commit).await;
        assert_eq!(result.is_ok(), accepted, "counter {counter}: {result:?}");
        if !accepted {
            assert!(matches!(result, Err(StoreError::Conflict(_))));
            // Nothing of the refused commit was written: the sign-in is still there.
            assert!(store.find_flow_by_token(&[n; 32]).await.unwrap().is_some());
        }
    }
    let stored = store
        .find_passkey_by_credential(&[7; 16])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.counter, 9);
    assert_eq!(stored.last_used_at, Some(NOW + 4));
    assert_eq!(stored.passkey, "{\"counter\":9}");
}

pub async fn a_passkey_without_a_counter_is_not_compared(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    store
        .insert_passkey(&passkey("p1", &id(1), 7), NOW)
        .await
        .unwrap();
    for n in 1..=2u8 {
        let flow_id = format!("f{n}");
        store
            .insert_flow(&flow(&flow_id, Some(&id(1))), &[n; 32], NOW)
            .await
            .unwrap();
        let commit = FlowCommit {
            now: NOW,
            expected_version: 0,
            next: None,
            use_passkey: Some(used("p1", 0, NOW + i64::from(n))),
            ..Default::default()
        };
        store.commit_flow(&flow_id, commit).await.unwrap();
    }
}

pub async fn a_ceremony_is_taken_once_and_only_before_it_expires(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    store
        .insert_passkey_ceremony(&[1; 32], "enrolment", Some(&id(1)), "{}", NOW, NOW + 300)
        .await
        .unwrap();
    assert_eq!(
        store
            .take_passkey_ceremony(&[1; 32], "sign_in", NOW)
            .await
            .unwrap(),
        None,
        "a ceremony of another kind"
    );
    let taken = store
        .take_passkey_ceremony(&[1; 32], "enrolment", NOW + 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.account_id, Some(id(1)));
    assert_eq!(taken.state, "{}");
    assert_eq!(
        store
            .take_passkey_ceremony(&[1; 32], "enrolment", NOW + 11)
            .await
            .unwrap(),
        None,
        "taken once"
    );

    store
        .insert_passkey_ceremony(&[2; 32], "sign_in", None, "{\"s\":2}", NOW, NOW + 300)
        .await
        .unwrap();
    assert_eq!(
        store
            .take_passkey_ceremony(&[2; 32], "sign_in", NOW + 300)
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        store
            .delete_expired_passkey_ceremonies(NOW + 300)
            .await
            .unwrap(),
        1
    );
}

pub async fn ten_parallel_takes_of_one_ceremony_give_one(store: &Store) {
    store
        .insert_passkey_ceremony(&[3; 32], "sign_in", None, "{}", NOW, NOW + 300)
        .await
        .unwrap();
    let takes: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .take_passkey_ceremony(&[3; 32], "sign_in", NOW + 1)
                    .await
            })
        })
        .collect();
    let mut got = 0;
    for take in takes {
        if let Some(_state) = take.await.unwrap().unwrap() {
            got += 1;
        }
    }
    assert_eq!(got, 1, "a ceremony's state is given out once");
}
