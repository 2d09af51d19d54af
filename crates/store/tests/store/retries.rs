//! Several nodes on one PostgreSQL: two transactions that take the same rows in opposite
//! orders deadlock, and PostgreSQL aborts one of them (SQLSTATE 40P01). When that one is
//! the store's, the store runs it again and the step still goes through. PostgreSQL only:
//! SQLite has one writer and waits instead.

use gatehouse_core::AccountId;
use gatehouse_store::{AccountGuard, FlowCommit, FlowRow, Store};
use gatehouse_testkit::TestDatabase;
use sqlx::{AnyConnection, Connection};
use std::time::{Duration, Instant};

const NOW: i64 = 1_800_000_000;

fn flow(account_id: &AccountId) -> FlowRow {
    FlowRow {
        id: "flow-1".into(),
        email: "ann@example.com".into(),
        account_id: Some(account_id.clone()),
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

/// Waits until some connection to this database waits for a row lock.
async fn until_someone_waits_for_a_lock(watcher: &mut AnyConnection) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut *watcher)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the store's commit never waited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_step_whose_transaction_deadlocks_is_run_again_and_commits() {
    let database = TestDatabase::postgres_required().await;
    let store = Store::connect(&database.url).await.unwrap();
    store.migrate().await.unwrap();
    let ann = AccountId::parse("00000000-0000-7000-8000-000000000001").unwrap();
    store
        .insert_account(&ann, "ann@example.com", "hash", NOW)
        .await
        .unwrap();
    store.insert_flow(&flow(&ann), &[7; 32], NOW).await.unwrap();

    // Another node's transaction holds the flow's row. Its own deadlock check waits 10 s, so
    // PostgreSQL's check (after the default 1 s) picks the store's transaction as the victim.
    let mut other = AnyConnection::connect(&database.url).await.unwrap();
    for statement in [
        "SET deadlock_timeout = '10s'",
        "BEGIN",
        "UPDATE sign_in_flows SET version = version WHERE id = 'flow-1'",
    ] {
        sqlx::query(statement).execute(&mut other).await.unwrap();
    }

    // The store's step locks the account row first, then waits for the flow's.
    let mut next = flow(&ann);
    next.step = "signed_in".into();
    let commit = FlowCommit {
        account_guard: Some(AccountGuard {
            account_id: ann.clone(),
            password_hash: None,
        }),
        now: NOW,
        expected_version: 0,
        next: Some(next),
        ..Default::default()
    };
    let stepping = tokio::spawn({
        let store = store.clone();
        async move { store.commit_flow("flow-1", commit).await }
    });
    until_someone_waits_for_a_lock(&mut other).await;

    // Now the other transaction wants the account row: each waits for the other.
    let started = Instant::now();
    sqlx::query("UPDATE accounts SET updated_at = updated_at WHERE id = $1")
        .bind(ann.as_str())
        .execute(&mut other)
        .await
        .expect("the other transaction is not the deadlock's victim");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "PostgreSQL broke the deadlock by aborting the store's transaction, not the other's"
    );
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();

    // Aborted once, run again, committed: the sign-in moved on exactly once.
    let outcome = stepping.await.unwrap();
    assert!(outcome.is_ok(), "the step failed: {outcome:?}");
    let stored = store.find_flow_by_token(&[7; 32]).await.unwrap().unwrap();
    assert_eq!(stored.step, "signed_in");
    assert_eq!(stored.version, 1);

    other.close().await.unwrap();
    store.close().await;
    database.drop_database().await;
}
