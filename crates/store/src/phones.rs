//! Phones for texted codes: sealed number, verification state.

use crate::point_reads::{Columns, FromColumns, Key};
use crate::trusted_devices::{change_second_factor, Revoke};
use crate::{to_u32, Store, StoreError, StoreResult};
use gatehouse_core::AccountId;

#[derive(Clone)]
pub struct PhoneRow {
    pub number_sealed: Vec<u8>,
    pub last_digits: String,
    pub verified_at: Option<i64>,
    pub code_hash: Option<Vec<u8>>,
    pub code_expires_at: Option<i64>,
    pub attempts: u32,
}

impl std::fmt::Debug for PhoneRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneRow")
            .field("last_digits", &self.last_digits)
            .field("verified_at", &self.verified_at)
            .finish_non_exhaustive()
    }
}

impl FromColumns for PhoneRow {
    fn from_columns<R: Columns>(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            number_sealed: row.column("number_sealed")?,
            last_digits: row.column("last_digits")?,
            verified_at: row.column("verified_at")?,
            code_hash: row.column("code_hash")?,
            code_expires_at: row.column("code_expires_at")?,
            attempts: to_u32(row.column("attempts")?),
        })
    }
}

impl Store {
    pub async fn find_phone(&self, account_id: &AccountId) -> StoreResult<Option<PhoneRow>> {
        self.read_by_key(
            "SELECT number_sealed, last_digits, verified_at, code_hash, code_expires_at, attempts
             FROM phones WHERE account_id = $1",
            &[Key::Text(account_id.as_str())],
        )
        .await
    }

    /// Starts adding a phone: unverified until its code comes back (S13). Only an unverified
    /// one is replaced; a verified phone stays until it is removed, so a new number that
    /// never gets its code cannot cost the account the phone it had (`Conflict`).
    pub async fn insert_pending_phone(
        &self,
        account_id: &AccountId,
        number_sealed: &[u8],
        last_digits: &str,
        code_hash: &[u8],
        code_expires_at: i64,
        now: i64,
    ) -> StoreResult<()> {
        self.in_transaction(|mut tx| async move {
            sqlx::query("DELETE FROM phones WHERE account_id = $1 AND verified_at IS NULL")
                .bind(account_id.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO phones (account_id, number_sealed, last_digits, verified_at, code_hash, code_expires_at, attempts, created_at)
                 VALUES ($1, $2, $3, NULL, $4, $5, 0, $6)",
            )
            .bind(account_id.as_str())
            .bind(number_sealed.to_vec())
            .bind(last_digits)
            .bind(code_hash.to_vec())
            .bind(code_expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::on_constraint(e, "a verified phone is already set up"))?;
            tx.commit(()).await
        })
        .await
    }

    /// Counts a verification guess before it is checked.
    pub async fn claim_phone_attempt(
        &self,
        account_id: &AccountId,
        seen: u32,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE phones SET attempts = attempts + 1 WHERE account_id = $1 AND attempts = $2",
        )
        .bind(account_id.as_str())
        .bind(i64::from(seen))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The phone is verified: it receives codes from now on; trusted devices are revoked
    /// (S29: a second-factor change). Only the pending number whose code (`code_hash`) was
    /// checked: a number entered meanwhile in another window replaced that code, and is not
    /// verified by a code sent to the number before it (S13). False when nothing changed.
    pub async fn verify_phone(
        &self,
        account_id: &AccountId,
        code_hash: &[u8],
        now: i64,
    ) -> StoreResult<bool> {
        let verify = || {
            sqlx::query(
                "UPDATE phones SET verified_at = $1, code_hash = NULL, code_expires_at = NULL
                 WHERE account_id = $2 AND verified_at IS NULL AND code_hash = $3",
            )
            .bind(now)
            .bind(account_id.as_str())
            .bind(code_hash.to_vec())
        };
        change_second_factor(self, verify, account_id, now, Revoke::IfChanged).await
    }

    pub async fn delete_phone(&self, account_id: &AccountId, now: i64) -> StoreResult<bool> {
        let delete =
            || sqlx::query("DELETE FROM phones WHERE account_id = $1").bind(account_id.as_str());
        change_second_factor(self, delete, account_id, now, Revoke::Always).await
    }
}
