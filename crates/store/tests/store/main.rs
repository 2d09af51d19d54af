//! The store's test suite, run against SQLite always and against PostgreSQL when
//! `GATEHOUSE_TEST_DATABASE_URL` is set (CI sets it, and with `CI` set a missing URL is a
//! failure, never a silent skip). Every case gets a database of its own.

// Test helpers may unwrap: a panic in a test is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account_changes;
mod cases;
mod passkeys;
mod recovery;
mod retries;
mod step_commits;
mod stop_links;

use gatehouse_store::Store;
use gatehouse_testkit::TestDatabase;

async fn sqlite_store() -> (Store, TestDatabase) {
    let database = TestDatabase::sqlite();
    let store = Store::connect(&database.url).await.unwrap();
    store.migrate().await.unwrap();
    (store, database)
}

async fn postgres_store() -> Option<(Store, TestDatabase)> {
    let Some(admin) = TestDatabase::postgres_admin_url() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set GATEHOUSE_TEST_DATABASE_URL so the store is tested on PostgreSQL"
        );
        eprintln!("GATEHOUSE_TEST_DATABASE_URL is not set: the PostgreSQL case did not run");
        return None;
    };
    let database = TestDatabase::postgres(&admin).await;
    let store = Store::connect(&database.url).await.unwrap();
    store.migrate().await.unwrap();
    Some((store, database))
}

/// Declares each case once and runs it on both backends.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, _database) = super::sqlite_store().await;
                    super::cases::$case(&store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    if let Some((store, database)) = super::postgres_store().await {
                        super::cases::$case(&store).await;
                        store.close().await;
                        database.drop_database().await;
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    an_email_belongs_to_one_account,
    a_step_stores_its_events_counters_and_device_use_or_none_of_them,
    a_sign_in_starts_only_while_its_window_has_room,
    disabling_an_account_ends_its_sessions_devices_and_flows,
    a_flow_moves_only_from_the_version_it_was_read_at,
    a_failed_commit_writes_nothing,
    a_pending_backup_code_cannot_be_redeemed,
    ten_parallel_redemptions_of_one_code_give_one_success,
    showing_new_codes_drops_the_abandoned_pending_ones,
    only_one_of_two_parallel_claims_on_a_count_wins,
    a_rate_window_gives_out_no_more_than_its_limit,
    sessions_end_when_ended_idle_or_expired,
    trust_is_bound_to_one_account_and_expires,
    security_events_are_listed_newest_first,
    a_security_event_keeps_the_id_of_its_request,
    migrations_can_run_twice,
    a_step_that_checked_an_old_password_cannot_commit,
    an_authenticator_step_is_used_once_and_only_forward,
    ten_parallel_exchanges_of_one_code_give_one_success,
    an_expired_code_cannot_be_exchanged,
    a_refresh_token_rotates_once_and_revocation_ends_the_family,
    disabling_an_account_revokes_its_product_grants,
    an_authorization_request_yields_one_code,
    retired_keys_leave_the_jwks_after_their_grace_period,
    connected_products_are_listed_once_and_signed_out_together,
    two_parallel_confirmations_leave_exactly_one_active_code,
    a_flow_confirms_only_its_own_accounts_pending_codes,
    a_phone_is_verified_only_with_the_code_that_was_checked,
    an_authenticator_is_confirmed_only_with_the_secret_that_was_checked,
    a_reset_link_stops_working_after_a_password_change,
    a_password_change_and_a_disable_end_the_same_things,
    removing_the_second_factors_reports_what_was_in_use,
    a_client_without_a_secret_is_public,
    known_browsers_belong_to_one_account_and_are_bounded,
    pruning_forgets_stale_counters_but_keeps_locks,
    an_email_change_revokes_trusted_devices_and_reset_links,
    signing_out_of_a_product_withdraws_its_consent,
    a_reset_and_a_password_change_in_parallel_never_deadlock,
    a_recovery_is_pending_once_and_its_cancel_link_acts_once,
    a_recovery_link_works_after_the_wait_once_and_resets_the_second_step,
    a_cancelled_recovery_or_a_disabled_account_cannot_be_recovered,
    risk_facts_see_backup_codes_strong_factors_mail_and_stale_devices,
    a_stop_link_ends_its_own_sign_in_once,
    every_link_of_a_sign_in_stops_it_until_its_code_would_expire,
    a_stop_link_of_a_finished_sign_in_changes_nothing,
    a_waiting_email_change_is_cancelled_once_or_applied_when_due,
    a_passkey_belongs_to_one_account_and_only_its_owner_changes_it,
    adding_or_removing_a_passkey_revokes_trusted_devices,
    a_passkey_counter_only_moves_forward_with_the_sign_in,
    a_passkey_without_a_counter_is_not_compared,
    a_ceremony_is_taken_once_and_only_before_it_expires,
    ten_parallel_takes_of_one_ceremony_give_one,
);

/// Runs `statements` on a connection of its own, behind the store's back: the damage only
/// a bug or an operator could do.
async fn behind_the_stores_back(url: &str, statements: &[&str]) {
    sqlx::any::install_default_drivers();
    let mut connection = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    for statement in statements {
        sqlx::query(statement)
            .execute(&mut connection)
            .await
            .unwrap();
    }
}

/// Sets every stored token's kind to a name no version wrote.
async fn damage_token_kinds(url: &str) {
    // The schema's CHECK on `kind` would refuse this, which is the point of the damage:
    // the store must still not guess if the constraint is ever lost.
    let lift_the_check = if url.starts_with("sqlite:") {
        "PRAGMA ignore_check_constraints = ON"
    } else {
        "ALTER TABLE oidc_tokens DROP CONSTRAINT oidc_tokens_kind_check"
    };
    behind_the_stores_back(
        url,
        &[lift_the_check, "UPDATE oidc_tokens SET kind = 'bogus'"],
    )
    .await;
}

/// Ann's account id becomes text that is no id, and every session's proof a name no
/// version wrote.
async fn damage_ids_and_proofs(url: &str) {
    behind_the_stores_back(
        url,
        &[
            "UPDATE accounts SET id = 'not-an-id' WHERE email = 'ann@example.com'",
            "UPDATE sessions SET proof = 'bogus'",
        ],
    )
    .await;
}

#[tokio::test]
async fn sqlite_readiness_sees_a_missing_or_failed_migration() {
    let (store, database) = sqlite_store().await;
    cases::readiness_sees_a_missing_or_failed_migration(&store, |statement| {
        let url = database.url.clone();
        async move { behind_the_stores_back(&url, &[statement]).await }
    })
    .await;
}

#[tokio::test]
async fn postgres_readiness_sees_a_missing_or_failed_migration() {
    if let Some((store, database)) = postgres_store().await {
        cases::readiness_sees_a_missing_or_failed_migration(&store, |statement| {
            let url = database.url.clone();
            async move { behind_the_stores_back(&url, &[statement]).await }
        })
        .await;
        store.close().await;
        database.drop_database().await;
    }
}

/// A database nobody migrated answers, but has no schema at all: not ready, not an error.
#[tokio::test]
async fn a_database_never_migrated_is_answering_but_not_ready() {
    let database = TestDatabase::sqlite();
    let store = Store::connect(&database.url).await.unwrap();
    assert_eq!(
        store.readiness().await.unwrap(),
        gatehouse_store::Readiness::SchemaNotCurrent
    );
    if let Some(admin) = TestDatabase::postgres_admin_url() {
        let database = TestDatabase::postgres(&admin).await;
        let store = Store::connect(&database.url).await.unwrap();
        assert_eq!(
            store.readiness().await.unwrap(),
            gatehouse_store::Readiness::SchemaNotCurrent
        );
        store.close().await;
        database.drop_database().await;
    }
}

#[tokio::test]
async fn sqlite_an_unknown_token_kind_is_refused_not_read_as_access() {
    let (store, database) = sqlite_store().await;
    cases::an_unknown_token_kind_is_refused_not_read_as_access(&store, || {
        damage_token_kinds(&database.url)
    })
    .await;
}

#[tokio::test]
async fn postgres_an_unknown_token_kind_is_refused_not_read_as_access() {
    if let Some((store, database)) = postgres_store().await {
        cases::an_unknown_token_kind_is_refused_not_read_as_access(&store, || {
            damage_token_kinds(&database.url)
        })
        .await;
        store.close().await;
        database.drop_database().await;
    }
}

#[tokio::test]
async fn sqlite_a_damaged_account_id_or_proof_is_a_read_error() {
    let (store, database) = sqlite_store().await;
    cases::a_damaged_account_id_or_proof_is_a_read_error(&store, || {
        damage_ids_and_proofs(&database.url)
    })
    .await;
}

#[tokio::test]
async fn postgres_a_damaged_account_id_or_proof_is_a_read_error() {
    if let Some((store, database)) = postgres_store().await {
        cases::a_damaged_account_id_or_proof_is_a_read_error(&store, || {
            damage_ids_and_proofs(&database.url)
        })
        .await;
        store.close().await;
        database.drop_database().await;
    }
}
