//! Changes to an account that must end other things in the same transaction, and the lock
//! order that keeps them from deadlocking each other on PostgreSQL.

use crate::cases::{account, flow, granted, id, token, NOW};
use gatehouse_store::{FlowCommit, NewTrustedDevice, Store, StoreError, TokenKind};

/// A trusted device `d{n}` for account 1, with token `[n; 32]`.
async fn trusted_device(store: &Store, n: u8) {
    let flow_id = format!("device-flow-{n}");
    store
        .insert_flow(&flow(&flow_id, Some(&id(1))), &[100 + n; 32], NOW)
        .await
        .unwrap();
    let commit = FlowCommit {
        now: NOW,
        expected_version: 0,
        trusted_device: Some(NewTrustedDevice {
            id: format!("d{n}"),
            token_hash: [n; 32],
            account_id: id(1),
            user_agent: None,
            created_at: NOW,
            expires_at: NOW + 86_400,
        }),
        ..Default::default()
    };
    store.commit_flow(&flow_id, commit).await.unwrap();
}

/// S29: trust and reset links were given to whoever held the old address; once the address
/// changes, neither works.
pub async fn an_email_change_revokes_trusted_devices_and_reset_links(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    trusted_device(store, 1).await;
    store
        .insert_password_reset("r1", &[3; 32], &id(1), NOW, NOW + 3600)
        .await
        .unwrap();
    store
        .insert_email_change(&id(1), "ann@new.example", &[5; 32], false, NOW + 600)
        .await
        .unwrap();
    store
        .complete_email_change(&id(1), "ann@new.example", NOW + 1)
        .await
        .unwrap();
    assert!(store
        .list_trusted_devices(&id(1), NOW + 2)
        .await
        .unwrap()
        .is_empty());
    assert!(!store
        .use_trusted_device(&[1; 32], &id(1), NOW + 2)
        .await
        .unwrap());
    assert!(store
        .find_live_password_reset(&[3; 32], NOW + 2)
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        store
            .reset_password(&[3; 32], "$argon2id$attacker", NOW + 2)
            .await,
        Err(StoreError::Conflict(_))
    ));
    let row = store.find_account(&id(1)).await.unwrap().unwrap();
    assert_eq!(row.email, "ann@new.example");
    assert_ne!(row.password_hash, "$argon2id$attacker");
}

/// Signing out of a product on the account page also withdraws the consent given to it, so
/// a third-party product must ask again; a product with nothing live changes nothing.
pub async fn signing_out_of_a_product_withdraws_its_consent(store: &Store) {
    let grant = granted(store).await;
    store
        .redeem_authorization_code(&[1; 32], &grant, NOW, &[token(80, TokenKind::Access)])
        .await
        .unwrap();
    store
        .upsert_consent(&id(1), "c1", "openid email", NOW)
        .await
        .unwrap();
    assert_eq!(
        store
            .revoke_product_grants(&id(1), "c1", NOW + 1)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.find_consent(&id(1), "c1").await.unwrap(), None);

    store
        .upsert_consent(&id(1), "c1", "openid email", NOW + 2)
        .await
        .unwrap();
    assert_eq!(
        store
            .revoke_product_grants(&id(1), "c1", NOW + 3)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.find_consent(&id(1), "c1").await.unwrap().as_deref(),
        Some("openid email"),
        "a refused sign-out changes nothing"
    );
}

/// A reset locks the account row before the link's row, as a password change does (it
/// ends the links after changing the account). In the other order the two deadlock on
/// PostgreSQL, and one of them fails with a database error. Run side by side many times:
/// exactly one of the two wins each time, and the other is an orderly conflict.
pub async fn a_reset_and_a_password_change_in_parallel_never_deadlock(store: &Store) {
    account(store, &id(1), "ann@example.com").await;
    for round in 0..40u8 {
        let link = [round; 32];
        store
            .insert_password_reset(&format!("r{round}"), &link, &id(1), NOW, NOW + 3600)
            .await
            .unwrap();
        let old_hash = store
            .find_account(&id(1))
            .await
            .unwrap()
            .unwrap()
            .password_hash;
        let (reset, change) = tokio::join!(
            tokio::spawn({
                let store = store.clone();
                let new_hash = format!("$argon2id$reset-{round}");
                async move { store.reset_password(&link, &new_hash, NOW + 1).await }
            }),
            tokio::spawn({
                let store = store.clone();
                let new_hash = format!("$argon2id$changed-{round}");
                async move {
                    store
                        .change_password(&id(1), &old_hash, &new_hash, "s0", NOW + 1)
                        .await
                }
            }),
        );
        let outcomes = [reset.unwrap().map(|_| ()), change.unwrap()];
        for outcome in &outcomes {
            assert!(
                matches!(outcome, Ok(()) | Err(StoreError::Conflict(_))),
                "round {round}: {outcome:?}"
            );
        }
        assert_eq!(
            outcomes.iter().filter(|o| o.is_ok()).count(),
            1,
            "round {round}: one of the two wins: {outcomes:?}"
        );
    }
}
