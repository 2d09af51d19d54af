//! Passkeys (S58): the account's registered credentials, and the state of ceremonies in
//! progress. A passkey is public data (`passkey` holds the WebAuthn library's record as
//! JSON; the store never reads inside it); its credential id and signature counter have
//! columns for the lookup at sign-in and for the compare-and-set that never lets the
//! counter go backwards. Ceremony state is single use: taking it deletes it.

use crate::trusted_devices::revoke_all_in;
use crate::{get_account_id, get_optional_account_id, Store, StoreError, StoreResult, Tx};
use gatehouse_core::AccountId;
use sqlx::any::AnyRow;
use sqlx::Row;

/// A registered passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRow {
    pub id: String,
    pub account_id: AccountId,
    pub credential_id: Vec<u8>,
    /// The library's record of the credential, as JSON.
    pub passkey: String,
    pub counter: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A passkey that just signed someone in: its new record and counter, written in the
/// sign-in's own commit only if the stored counter is still below the new one (S58).
#[derive(Debug, Clone)]
pub struct PasskeyUse {
    pub id: String,
    pub passkey: String,
    pub counter: i64,
    pub used_at: i64,
}

/// A ceremony's stored state, taken once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CeremonyRow {
    pub account_id: Option<AccountId>,
    pub state: String,
}

const COLUMNS: &str =
    "id, account_id, credential_id, passkey, counter, name, created_at, last_used_at";

fn from_row(row: &AnyRow) -> Result<PasskeyRow, sqlx::Error> {
    Ok(PasskeyRow {
        id: row.try_get("id")?,
        account_id: get_account_id(row, "account_id")?,
        credential_id: row.try_get("credential_id")?,
        passkey: row.try_get("passkey")?,
        counter: row.try_get("counter")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

/// Inside a sign-in's commit: records the use. A counter that is not above the stored one
/// (a cloned authenticator, or a parallel use that won) changes nothing and fails the
/// commit; authenticators without a counter always report 0 and are never compared.
pub(crate) async fn use_passkey(tx: &mut Tx, used: &PasskeyUse) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE passkeys SET passkey = $1, counter = $2, last_used_at = $3
         WHERE id = $4 AND (counter < $2 OR ($2 = 0 AND counter = 0))",
    )
    .bind(&used.passkey)
    .bind(used.counter)
    .bind(used.used_at)
    .bind(&used.id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

impl Store {
    /// Registers a passkey and revokes the account's trusted devices in the same
    /// transaction, as every change to how one signs in does (S29). A credential id
    /// already registered (to anyone) is a `Conflict`.
    pub async fn insert_passkey(&self, passkey: &PasskeyRow, now: i64) -> StoreResult<()> {
        self.in_transaction(|mut tx| async move {
            sqlx::query(&format!(
                "INSERT INTO passkeys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ))
            .bind(&passkey.id)
            .bind(passkey.account_id.as_str())
            .bind(passkey.credential_id.clone())
            .bind(&passkey.passkey)
            .bind(passkey.counter)
            .bind(&passkey.name)
            .bind(passkey.created_at)
            .bind(passkey.last_used_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::on_constraint(e, "this passkey is already registered"))?;
            revoke_all_in(&mut tx, &passkey.account_id, now).await?;
            tx.commit(()).await
        })
        .await
    }

    /// The account's passkeys, oldest first.
    pub async fn list_passkeys(&self, account_id: &AccountId) -> StoreResult<Vec<PasskeyRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM passkeys WHERE account_id = $1 ORDER BY created_at, id"
        ))
        .bind(account_id.as_str())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    pub async fn count_passkeys(&self, account_id: &AccountId) -> StoreResult<u32> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE account_id = $1")
            .bind(account_id.as_str())
            .fetch_one(self.pool())
            .await?;
        Ok(crate::to_u32(count))
    }

    /// The passkey an assertion names, whoever's it is.
    pub async fn find_passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> StoreResult<Option<PasskeyRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM passkeys WHERE credential_id = $1"
        ))
        .bind(credential_id.to_vec())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Renames one of the account's passkeys; false when it has no such passkey.
    pub async fn rename_passkey(
        &self,
        account_id: &AccountId,
        passkey_id: &str,
        name: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE passkeys SET name = $1 WHERE id = $2 AND account_id = $3")
            .bind(name)
            .bind(passkey_id)
            .bind(account_id.as_str())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes one of the account's passkeys and revokes its trusted devices (S29), in one
    /// transaction; the removed passkey's name, or `None` when it has no such passkey.
    pub async fn delete_passkey(
        &self,
        account_id: &AccountId,
        passkey_id: &str,
        now: i64,
    ) -> StoreResult<Option<String>> {
        self.in_transaction(|mut tx| async move {
            let name: Option<String> =
                sqlx::query_scalar("SELECT name FROM passkeys WHERE id = $1 AND account_id = $2")
                    .bind(passkey_id)
                    .bind(account_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            let deleted = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND account_id = $2")
                .bind(passkey_id)
                .bind(account_id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 1 {
                revoke_all_in(&mut tx, account_id, now).await?;
                tx.commit(name).await
            } else {
                tx.commit(None).await
            }
        })
        .await
    }

    /// Stores a ceremony's state under the hash of its handle (S58).
    pub async fn insert_passkey_ceremony(
        &self,
        handle_hash: &[u8; 32],
        kind: &str,
        account_id: Option<&AccountId>,
        state: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO passkey_ceremonies (handle_hash, kind, account_id, state, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(handle_hash.to_vec())
        .bind(kind)
        .bind(account_id.map(AccountId::as_str))
        .bind(state)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await
        .map_err(|e| StoreError::on_constraint(e, "ceremony handle collision"))?;
        Ok(())
    }

    /// Takes a live ceremony of this kind: it is deleted as it is read, so of parallel
    /// takes exactly one gets it, and it can never be finished twice (S58).
    pub async fn take_passkey_ceremony(
        &self,
        handle_hash: &[u8; 32],
        kind: &str,
        now: i64,
    ) -> StoreResult<Option<CeremonyRow>> {
        self.in_transaction(|mut tx| async move {
            let row = sqlx::query(
                "SELECT account_id, state FROM passkey_ceremonies
                 WHERE handle_hash = $1 AND kind = $2 AND expires_at > $3",
            )
            .bind(handle_hash.to_vec())
            .bind(kind)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return tx.commit(None).await;
            };
            let taken = sqlx::query("DELETE FROM passkey_ceremonies WHERE handle_hash = $1")
                .bind(handle_hash.to_vec())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let ceremony = CeremonyRow {
                account_id: get_optional_account_id(&row, "account_id")?,
                state: row.try_get("state")?,
            };
            tx.commit((taken == 1).then_some(ceremony)).await
        })
        .await
    }

    /// Housekeeping: ceremonies that can no longer be finished.
    pub async fn delete_expired_passkey_ceremonies(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM passkey_ceremonies WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
