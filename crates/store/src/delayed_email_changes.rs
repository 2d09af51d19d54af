//! Changes of e-mail address that wait 24 hours because the account signed in with a
//! backup code in the last 7 days (issue 12). The old address can cancel one with a link
//! (S59: the SHA-256 of a 256-bit token, used once). The housekeeping task applies those
//! that are due, each in one transaction with everything an e-mail change ends (S29, S53).

use crate::email_changes::change_address;
use crate::{get_account_id, Store, StoreResult};
use gatehouse_core::AccountId;
use sqlx::Row;

/// A change waiting for its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayedEmailChange {
    pub account_id: AccountId,
    /// The address it replaces, as the account has it now.
    pub old_email: String,
    pub new_email: String,
    pub effective_at: i64,
}

const SELECT: &str = "SELECT d.account_id, a.email AS old_email, d.new_email, d.effective_at
     FROM delayed_email_changes d JOIN accounts a ON a.id = d.account_id";

fn from_row(row: &sqlx::any::AnyRow) -> Result<DelayedEmailChange, sqlx::Error> {
    Ok(DelayedEmailChange {
        account_id: get_account_id(row, "account_id")?,
        old_email: row.try_get("old_email")?,
        new_email: row.try_get("new_email")?,
        effective_at: row.try_get("effective_at")?,
    })
}

impl Store {
    /// When a backup code last replaced the account's second step, if ever.
    pub async fn find_backup_code_used_at(
        &self,
        account_id: &AccountId,
    ) -> StoreResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT backup_code_used_at FROM accounts WHERE id = $1")
                .bind(account_id.as_str())
                .fetch_optional(self.pool())
                .await?
                .flatten(),
        )
    }

    /// The verified change becomes a waiting one: the code's row goes and this replaces
    /// any change already waiting, in one transaction.
    pub async fn insert_delayed_email_change(
        &self,
        account_id: &AccountId,
        new_email: &str,
        cancel_token_hash: &[u8; 32],
        now: i64,
        effective_at: i64,
    ) -> StoreResult<()> {
        self.in_transaction(|mut tx| async move {
            sqlx::query("UPDATE accounts SET updated_at = updated_at WHERE id = $1")
                .bind(account_id.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM email_changes WHERE account_id = $1")
                .bind(account_id.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM delayed_email_changes WHERE account_id = $1")
                .bind(account_id.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO delayed_email_changes
                   (account_id, new_email, cancel_token_hash, requested_at, effective_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(account_id.as_str())
            .bind(new_email)
            .bind(cancel_token_hash.to_vec())
            .bind(now)
            .bind(effective_at)
            .execute(&mut *tx)
            .await?;
            tx.commit(()).await
        })
        .await
    }

    pub async fn find_delayed_email_change(
        &self,
        account_id: &AccountId,
    ) -> StoreResult<Option<DelayedEmailChange>> {
        let row = sqlx::query(&format!("{SELECT} WHERE d.account_id = $1"))
            .bind(account_id.as_str())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// The waiting change a cancel link names (opening the link changes nothing).
    pub async fn find_delayed_email_change_by_cancel_token(
        &self,
        token_hash: &[u8; 32],
    ) -> StoreResult<Option<DelayedEmailChange>> {
        let row = sqlx::query(&format!("{SELECT} WHERE d.cancel_token_hash = $1"))
            .bind(token_hash.to_vec())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// "Cancel this change": the row goes, so the link works once. `None` when there was
    /// nothing (any more) to cancel: already cancelled, or already applied.
    pub async fn cancel_delayed_email_change(
        &self,
        token_hash: &[u8; 32],
    ) -> StoreResult<Option<DelayedEmailChange>> {
        let Some(found) = self
            .find_delayed_email_change_by_cancel_token(token_hash)
            .await?
        else {
            return Ok(None);
        };
        let done = sqlx::query(
            "DELETE FROM delayed_email_changes WHERE account_id = $1 AND cancel_token_hash = $2",
        )
        .bind(found.account_id.as_str())
        .bind(token_hash.to_vec())
        .execute(self.pool())
        .await?;
        Ok((done.rows_affected() == 1).then_some(found))
    }

    /// The changes whose 24 hours are over.
    pub async fn due_delayed_email_changes(
        &self,
        now: i64,
    ) -> StoreResult<Vec<DelayedEmailChange>> {
        let rows = sqlx::query(&format!("{SELECT} WHERE d.effective_at <= $1"))
            .bind(now)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Applies one due change: the account row first, then the row is taken (a
    /// compare-and-set, so a cancel or another node that got there first wins and nothing
    /// happens: `false`), then everything an e-mail change does. `Conflict` when another
    /// account took the address meanwhile; the caller drops the change then.
    pub async fn apply_delayed_email_change(
        &self,
        change: &DelayedEmailChange,
        now: i64,
    ) -> StoreResult<bool> {
        self.in_transaction(|mut tx| async move {
            sqlx::query("UPDATE accounts SET updated_at = updated_at WHERE id = $1")
                .bind(change.account_id.as_str())
                .execute(&mut *tx)
                .await?;
            let taken = sqlx::query(
                "DELETE FROM delayed_email_changes
                 WHERE account_id = $1 AND new_email = $2 AND effective_at <= $3",
            )
            .bind(change.account_id.as_str())
            .bind(&change.new_email)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() != 1 {
                return tx.commit(false).await;
            }
            change_address(&mut tx, &change.account_id, &change.new_email, now).await?;
            tx.commit(true).await
        })
        .await
    }

    /// A due change whose address another account took: it can never apply.
    pub async fn drop_delayed_email_change(&self, account_id: &AccountId) -> StoreResult<()> {
        sqlx::query("DELETE FROM delayed_email_changes WHERE account_id = $1")
            .bind(account_id.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
