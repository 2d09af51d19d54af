//! Trusted devices (S26-S30): a hashed token bound to one account with a fixed expiry.
//! Finding one is the whole check; an unknown, expired or revoked token simply is not found.

use crate::point_reads::{Columns, FromColumns, Key, Value};
use crate::{Store, StoreResult, Tx};
use gatehouse_core::AccountId;
use sqlx::Any;

/// A live trusted device, as the account page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedDeviceRow {
    pub id: String,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewTrustedDevice {
    pub id: String,
    pub token_hash: [u8; 32],
    pub account_id: AccountId,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

pub(crate) async fn insert(tx: &mut Tx, device: &NewTrustedDevice) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO trusted_devices (id, token_hash, account_id, user_agent, created_at,
            last_used_at, expires_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, NULL, $6, NULL)",
    )
    .bind(&device.id)
    .bind(device.token_hash.to_vec())
    .bind(device.account_id.as_str())
    .bind(&device.user_agent)
    .bind(device.created_at)
    .bind(device.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Revokes every trusted device of the account inside a larger change (S29: password,
/// second factor or account changes end them all). Returns how many were live.
pub(crate) async fn revoke_all_in(
    tx: &mut Tx,
    account_id: &AccountId,
    now: i64,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE trusted_devices SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(account_id.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// When a second-factor change revokes the trusted devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Revoke {
    /// Only when the change touched its row (a confirmation that found nothing to confirm
    /// changes nothing).
    IfChanged,
    /// Whatever the change found (a removal leaves no device trusted either way).
    Always,
}

/// A change to a second factor and the revocation of every trusted device of the account,
/// in one transaction (S29). True when the change touched exactly one row. `change` builds
/// the statement afresh, since a transaction the database aborted runs again whole.
pub(crate) async fn change_second_factor<'q>(
    store: &Store,
    change: impl Fn() -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    account_id: &AccountId,
    now: i64,
    revoke: Revoke,
) -> StoreResult<bool> {
    let change = &change;
    store
        .in_transaction(|mut tx| async move {
            let changed = change().execute(&mut *tx).await?.rows_affected() == 1;
            if changed || revoke == Revoke::Always {
                revoke_all_in(&mut tx, account_id, now).await?;
            }
            tx.commit(changed).await
        })
        .await
}

impl Store {
    /// True when this token is a live trust for this very account (S27, S30); records the
    /// use. The expiry is fixed at creation and never slides (S26).
    pub async fn use_trusted_device(
        &self,
        token_hash: &[u8; 32],
        account_id: &AccountId,
        now: i64,
    ) -> StoreResult<bool> {
        let done = stamp_use(token_hash, account_id, now)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether this device skips the code for this account now: live, not revoked. A step
    /// that relies on it stamps its use in its own commit (`FlowCommit::trusted_device_used`),
    /// which fails if the device was revoked in between.
    pub async fn is_trusted_device(
        &self,
        token_hash: &[u8; 32],
        account_id: &AccountId,
        now: i64,
    ) -> StoreResult<bool> {
        let found: Option<Value<i64>> = self
            .read_by_key(
                "SELECT 1 AS value FROM trusted_devices
                 WHERE token_hash = $1 AND account_id = $2 AND revoked_at IS NULL AND expires_at > $3",
                &[
                    Key::Bytes(token_hash),
                    Key::Text(account_id.as_str()),
                    Key::Int(now),
                ],
            )
            .await?;
        Ok(found.is_some())
    }

    /// The account's devices that still skip the code, newest first.
    pub async fn list_trusted_devices(
        &self,
        account_id: &AccountId,
        now: i64,
    ) -> StoreResult<Vec<TrustedDeviceRow>> {
        self.read_all_by_key(
            "SELECT id, user_agent, created_at, last_used_at, expires_at FROM trusted_devices
             WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > $2
             ORDER BY created_at DESC, id DESC",
            &[Key::Text(account_id.as_str()), Key::Int(now)],
        )
        .await
    }

    /// Revokes one device, only if it belongs to this account (S29).
    pub async fn revoke_trusted_device(
        &self,
        account_id: &AccountId,
        device_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE trusted_devices SET revoked_at = $1 WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(device_id)
        .bind(account_id.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// "Revoke all": every trusted device of the account (S29).
    pub async fn revoke_trusted_devices(
        &self,
        account_id: &AccountId,
        now: i64,
    ) -> StoreResult<u64> {
        self.in_transaction(|mut tx| async move {
            let revoked = revoke_all_in(&mut tx, account_id, now).await?;
            tx.commit(revoked).await
        })
        .await
    }
}

impl FromColumns for TrustedDeviceRow {
    fn from_columns<R: Columns>(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.column("id")?,
            user_agent: row.column("user_agent")?,
            created_at: row.column("created_at")?,
            last_used_at: row.column("last_used_at")?,
            expires_at: row.column("expires_at")?,
        })
    }
}

/// Stamps a live device's use; it touches no row when the device was revoked or expired.
fn stamp_use<'q>(
    token_hash: &[u8; 32],
    account_id: &'q AccountId,
    now: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(
        "UPDATE trusted_devices SET last_used_at = $1
         WHERE token_hash = $2 AND account_id = $3 AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(token_hash.to_vec())
    .bind(account_id.as_str())
}

/// Inside a step's commit: stamps the use of the device the step relied on; false when it
/// was revoked or expired since the step looked.
pub(crate) async fn use_in(
    tx: &mut Tx,
    token_hash: &[u8; 32],
    account_id: &AccountId,
    now: i64,
) -> StoreResult<bool> {
    let done = stamp_use(token_hash, account_id, now)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}
