//! Password reset links: hashed, single use, short-lived. Using one changes the password
//! and ends everything the account holds, in one transaction.

use crate::{account_id, Store, StoreError, StoreResult};
use gatehouse_core::AccountId;

impl Store {
    pub async fn insert_password_reset(
        &self,
        id: &str,
        token_hash: &[u8; 32],
        account_id: &AccountId,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO password_resets (id, token_hash, account_id, created_at, expires_at, used_at)
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(id)
        .bind(token_hash.to_vec())
        .bind(account_id.as_str())
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The account of a live (unused, unexpired) reset link, with its e-mail.
    pub async fn find_live_password_reset(
        &self,
        token_hash: &[u8; 32],
        now: i64,
    ) -> StoreResult<Option<(AccountId, String)>> {
        let found: Option<(String, String)> = sqlx::query_as(
            "SELECT a.id, a.email FROM password_resets r JOIN accounts a ON a.id = r.account_id
             WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > $2 AND a.disabled_at IS NULL",
        )
        .bind(token_hash.to_vec())
        .bind(now)
        .fetch_optional(self.reader())
        .await?;
        Ok(found
            .map(|(id, email)| Ok::<_, sqlx::Error>((account_id(&id)?, email)))
            .transpose()?)
    }

    /// Consumes the link (compare-and-set), sets the new password and ends everything the
    /// account holds, the other reset links included (`end_account_access`). Returns the
    /// account id, or `Conflict` when the link was used or expired meanwhile.
    ///
    /// The account row is locked before the link's row, the order of every other path that
    /// touches both (a password change or a disable ends the links after updating the
    /// account): the other order deadlocks against them on PostgreSQL.
    pub async fn reset_password(
        &self,
        token_hash: &[u8; 32],
        new_hash: &str,
        now: i64,
    ) -> StoreResult<AccountId> {
        self.in_transaction(|mut tx| async move {
            // A plain read: which account, without locking the link yet.
            let stored: Option<String> = sqlx::query_scalar(
                "SELECT account_id FROM password_resets
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
            )
            .bind(token_hash.to_vec())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(account_id) = stored.as_deref().map(account_id).transpose()? else {
                return Err(used_or_expired());
            };
            // First lock: the account row.
            let changed = sqlx::query(
                "UPDATE accounts SET password_hash = $1, updated_at = $2 WHERE id = $3 AND disabled_at IS NULL",
            )
            .bind(new_hash)
            .bind(now)
            .bind(account_id.as_str())
            .execute(&mut *tx)
            .await?;
            if changed.rows_affected() != 1 {
                return Err(StoreError::Conflict("the account is disabled"));
            }
            // Second: the link, consumed with a compare-and-set; losing it to a parallel use
            // (or a change that ended it) rolls the new password back with it.
            let consumed = sqlx::query(
                "UPDATE password_resets SET used_at = $1
                 WHERE token_hash = $2 AND account_id = $3 AND used_at IS NULL AND expires_at > $1",
            )
            .bind(now)
            .bind(token_hash.to_vec())
            .bind(account_id.as_str())
            .execute(&mut *tx)
            .await?;
            if consumed.rows_affected() != 1 {
                return Err(used_or_expired());
            }
            crate::accounts::end_account_access(&mut tx, &account_id, None, now).await?;
            tx.commit(account_id).await
        })
        .await
    }
}

fn used_or_expired() -> StoreError {
    StoreError::Conflict("the reset link was used or has expired")
}
