//! Changes of e-mail address waiting for verification at the new address.

use crate::{to_u32, trusted_devices, Store, StoreError, StoreResult, Tx};
use gatehouse_core::AccountId;
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct EmailChangeRow {
    pub new_email: String,
    pub code_hash: Vec<u8>,
    pub taken: bool,
    pub attempts: u32,
    pub expires_at: i64,
}

impl Store {
    pub async fn insert_email_change(
        &self,
        account_id: &AccountId,
        new_email: &str,
        code_hash: &[u8],
        taken: bool,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.in_transaction(|mut tx| async move {
            sqlx::query("DELETE FROM email_changes WHERE account_id = $1")
                .bind(account_id.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO email_changes (account_id, new_email, code_hash, taken, attempts, expires_at)
                 VALUES ($1, $2, $3, $4, 0, $5)",
            )
            .bind(account_id.as_str())
            .bind(new_email)
            .bind(code_hash.to_vec())
            .bind(i64::from(taken))
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit(()).await
        })
        .await
    }

    pub async fn find_email_change(
        &self,
        account_id: &AccountId,
        now: i64,
    ) -> StoreResult<Option<EmailChangeRow>> {
        let row = sqlx::query(
            "SELECT new_email, code_hash, taken, attempts, expires_at FROM email_changes
             WHERE account_id = $1 AND expires_at > $2",
        )
        .bind(account_id.as_str())
        .bind(now)
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| {
            Ok(EmailChangeRow {
                new_email: r.try_get("new_email")?,
                code_hash: r.try_get("code_hash")?,
                taken: r.try_get::<i64, _>("taken")? != 0,
                attempts: to_u32(r.try_get("attempts")?),
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
        .map_err(StoreError::Unexpected)
    }

    pub async fn claim_email_change_attempt(
        &self,
        account_id: &AccountId,
        seen: u32,
    ) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE email_changes SET attempts = attempts + 1 WHERE account_id = $1 AND attempts = $2")
            .bind(account_id.as_str())
            .bind(i64::from(seen))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The new address takes effect, in one transaction with the end of the pending change,
    /// of the account's trusted devices (S29: trust was given to whoever held the old
    /// address) and of its unused reset links (mailed to the old address, they must not
    /// outlive it); `Conflict` when another account took the address meanwhile. The account
    /// row is locked first, as everywhere.
    pub async fn complete_email_change(
        &self,
        account_id: &AccountId,
        new_email: &str,
        now: i64,
    ) -> StoreResult<()> {
        self.in_transaction(|mut tx| async move {
            change_address(&mut tx, account_id, new_email, now).await?;
            tx.commit(()).await
        })
        .await
    }
}

/// The new address takes effect: the account row first, then the end of the pending
/// change, of the trusted devices and of the unused reset links (see
/// `complete_email_change`).
pub(crate) async fn change_address(
    tx: &mut Tx,
    account_id: &AccountId,
    new_email: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query("UPDATE accounts SET email = $1, updated_at = $2 WHERE id = $3")
        .bind(new_email)
        .bind(now)
        .bind(account_id.as_str())
        .execute(&mut **tx)
        .await
        .map_err(|e| StoreError::on_constraint(e, "the address belongs to another account"))?;
    sqlx::query("DELETE FROM email_changes WHERE account_id = $1")
        .bind(account_id.as_str())
        .execute(&mut **tx)
        .await?;
    trusted_devices::revoke_all_in(tx, account_id, now).await?;
    sqlx::query(
        "UPDATE password_resets SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL",
    )
    .bind(now)
    .bind(account_id.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
