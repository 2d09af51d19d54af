//! Helpdesk recoveries (issue 12, part 3): one pending recovery per account, its cancel
//! link and, once the wait is over, its recovery link. Both links are stored as SHA-256
//! hashes of 256-bit tokens, used once, and only ever act on their own row (S59). The store
//! only makes the decisions stick: when a recovery may start, and what the wait is, are the
//! use case's.

use crate::{accounts, get_account_id, RemovedSecondFactors, Store, StoreError, StoreResult};
use gatehouse_core::AccountId;
use sqlx::any::AnyRow;
use sqlx::Row;

/// Who cancelled a recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelledBy {
    /// The owner, with the link their address was sent.
    Owner,
    /// The operator, with `gatehouse user recover --cancel`.
    Operator,
}

impl CancelledBy {
    fn stored(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Operator => "operator",
        }
    }
}

/// A pending recovery (neither cancelled nor completed), with its account's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryRow {
    pub id: String,
    pub account_id: AccountId,
    pub email: String,
    pub started_at: i64,
    pub ready_at: i64,
    /// When the newest recovery link stops working; `None` before one was issued.
    pub link_expires_at: Option<i64>,
    /// Whether the owner's notice was sent; a recovery nobody was told of cannot go on.
    pub notified: bool,
}

const COLUMNS: &str =
    "r.id, r.account_id, a.email, r.started_at, r.ready_at, r.link_expires_at, r.notified_at";

/// Only recoveries still running: a cancelled or completed one is history. (`PENDING_R` in
/// the reads, which alias the table; updates name it plainly.)
const PENDING_R: &str = "r.cancelled_at IS NULL AND r.completed_at IS NULL";
const PENDING: &str = "cancelled_at IS NULL AND completed_at IS NULL";

fn from_row(row: &AnyRow) -> Result<RecoveryRow, sqlx::Error> {
    Ok(RecoveryRow {
        id: row.try_get("id")?,
        account_id: get_account_id(row, "account_id")?,
        email: row.try_get("email")?,
        started_at: row.try_get("started_at")?,
        ready_at: row.try_get("ready_at")?,
        link_expires_at: row.try_get("link_expires_at")?,
        notified: row.try_get::<Option<i64>, _>("notified_at")?.is_some(),
    })
}

impl Store {
    /// Starts a recovery. `Conflict` when the account already has one pending (the unique
    /// index on pending rows decides, so two operators racing get one recovery).
    pub async fn insert_recovery(
        &self,
        id: &str,
        account_id: &AccountId,
        cancel_token_hash: &[u8; 32],
        now: i64,
        ready_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO account_recoveries (id, account_id, cancel_token_hash, started_at, ready_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(account_id.as_str())
        .bind(cancel_token_hash.to_vec())
        .bind(now)
        .bind(ready_at)
        .execute(self.pool())
        .await
        .map_err(|e| StoreError::on_constraint(e, "a recovery is already pending"))?;
        Ok(())
    }

    /// The owner's notice was sent: from now on the recovery can go on.
    pub async fn mark_recovery_notified(&self, id: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE account_recoveries SET notified_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Forgets a recovery that never took effect: its notice was not sent (it failed, or the
    /// process stopped in between), so the owner could not have cancelled it.
    pub async fn delete_unannounced_recovery(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM account_recoveries WHERE id = $1 AND notified_at IS NULL")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn find_pending_recovery(
        &self,
        account_id: &AccountId,
    ) -> StoreResult<Option<RecoveryRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM account_recoveries r JOIN accounts a ON a.id = r.account_id
             WHERE r.account_id = $1 AND {PENDING_R}"
        ))
        .bind(account_id.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// The pending recovery a cancel link belongs to, for the page that offers the button.
    pub async fn find_recovery_by_cancel_token(
        &self,
        cancel_token_hash: &[u8; 32],
    ) -> StoreResult<Option<RecoveryRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM account_recoveries r JOIN accounts a ON a.id = r.account_id
             WHERE r.cancel_token_hash = $1 AND {PENDING_R}"
        ))
        .bind(cancel_token_hash.to_vec())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// The pending recovery whose live recovery link this is.
    pub async fn find_recovery_by_link(
        &self,
        link_token_hash: &[u8; 32],
        now: i64,
    ) -> StoreResult<Option<RecoveryRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM account_recoveries r JOIN accounts a ON a.id = r.account_id
             WHERE r.link_token_hash = $1 AND r.link_expires_at > $2 AND {PENDING_R}
               AND a.disabled_at IS NULL"
        ))
        .bind(link_token_hash.to_vec())
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// S59: the cancel link acts once, on its own recovery, and only while it is pending
    /// (compare-and-set). Returns the recovery it cancelled, or `None` when it was already
    /// cancelled or completed.
    pub async fn cancel_recovery_by_token(
        &self,
        cancel_token_hash: &[u8; 32],
        now: i64,
    ) -> StoreResult<Option<RecoveryRow>> {
        let Some(recovery) = self
            .find_recovery_by_cancel_token(cancel_token_hash)
            .await?
        else {
            return Ok(None);
        };
        let done = sqlx::query(&format!(
            "UPDATE account_recoveries SET cancelled_at = $1, cancelled_by = $2
             WHERE id = $3 AND cancel_token_hash = $4 AND {PENDING}"
        ))
        .bind(now)
        .bind(CancelledBy::Owner.stored())
        .bind(&recovery.id)
        .bind(cancel_token_hash.to_vec())
        .execute(self.pool())
        .await?;
        Ok((done.rows_affected() == 1).then_some(recovery))
    }

    /// Cancels the account's pending recovery, if any; returns it.
    pub async fn cancel_pending_recovery(
        &self,
        account_id: &AccountId,
        by: CancelledBy,
        now: i64,
    ) -> StoreResult<Option<RecoveryRow>> {
        let Some(recovery) = self.find_pending_recovery(account_id).await? else {
            return Ok(None);
        };
        let done = sqlx::query(&format!(
            "UPDATE account_recoveries SET cancelled_at = $1, cancelled_by = $2
             WHERE id = $3 AND {PENDING}"
        ))
        .bind(now)
        .bind(by.stored())
        .bind(&recovery.id)
        .execute(self.pool())
        .await?;
        Ok((done.rows_affected() == 1).then_some(recovery))
    }

    /// Gives a pending recovery whose wait is over, and whose owner was told, a new
    /// recovery link, replacing any earlier one (only the newest works). `false` otherwise.
    pub async fn set_recovery_link(
        &self,
        id: &str,
        link_token_hash: &[u8; 32],
        expires_at: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(&format!(
            "UPDATE account_recoveries SET link_token_hash = $1, link_expires_at = $2
             WHERE id = $3 AND ready_at <= $4 AND notified_at IS NOT NULL AND {PENDING}"
        ))
        .bind(link_token_hash.to_vec())
        .bind(expires_at)
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Uses a recovery link, in one transaction (S53): the account row first (the order of
    /// every path that writes an account's rows), then the link, consumed with a
    /// compare-and-set; then the authenticator app and phone go, every backup code is
    /// spent, and everything the account holds ends (`end_account_access`), so the next
    /// sign-in asks for the password and an e-mailed code and then shows a new backup code.
    /// `Conflict` when the link was used, replaced, cancelled or expired meanwhile, or the
    /// account is disabled.
    pub async fn complete_recovery(
        &self,
        link_token_hash: &[u8; 32],
        now: i64,
    ) -> StoreResult<(RecoveryRow, RemovedSecondFactors)> {
        let Some(recovery) = self.find_recovery_by_link(link_token_hash, now).await? else {
            return Err(used_or_expired());
        };
        self.in_transaction(|mut tx| {
            let recovery = recovery.clone();
            async move {
                let account = sqlx::query(
                    "UPDATE accounts SET updated_at = $1 WHERE id = $2 AND disabled_at IS NULL",
                )
                .bind(now)
                .bind(recovery.account_id.as_str())
                .execute(&mut *tx)
                .await?;
                if account.rows_affected() != 1 {
                    return Err(StoreError::Conflict("the account is disabled"));
                }
                let consumed = sqlx::query(&format!(
                    "UPDATE account_recoveries SET completed_at = $1
                     WHERE id = $2 AND link_token_hash = $3 AND link_expires_at > $1
                       AND {PENDING}"
                ))
                .bind(now)
                .bind(&recovery.id)
                .bind(link_token_hash.to_vec())
                .execute(&mut *tx)
                .await?;
                if consumed.rows_affected() != 1 {
                    return Err(used_or_expired());
                }
                let removed =
                    accounts::remove_second_factors_in(&mut tx, &recovery.account_id, now).await?;
                sqlx::query(
                    "UPDATE backup_codes SET status = 'used', used_at = $1, sealed_display = NULL
                     WHERE account_id = $2 AND status IN ('active', 'pending')",
                )
                .bind(now)
                .bind(recovery.account_id.as_str())
                .execute(&mut *tx)
                .await?;
                accounts::end_account_access(&mut tx, &recovery.account_id, None, now).await?;
                tx.commit((recovery, removed)).await
            }
        })
        .await
    }
}

fn used_or_expired() -> StoreError {
    StoreError::Conflict("the recovery link was used, replaced, cancelled or has expired")
}
