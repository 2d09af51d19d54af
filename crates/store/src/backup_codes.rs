//! Backup codes as rows: `pending` (shown once, bound to the flow that showed it),
//! `active` (confirmed as saved) and `used`. The status changes are compare-and-sets, so
//! ten parallel sign-ins with one code give one success (S23), and a pending code can
//! never be redeemed (S22).

use crate::point_reads::{Key, Value};
use crate::{Store, StoreResult, Tx};
use gatehouse_core::AccountId;
use gatehouse_core::BackupCodeStatus;

#[derive(Debug, Clone)]
pub struct NewBackupCode {
    pub id: String,
    pub code_hash: [u8; 32],
    pub created_at: i64,
}

pub(crate) async fn redeem(
    tx: &mut Tx,
    account_id: &AccountId,
    code_hash: &[u8; 32],
    now: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE backup_codes SET status = 'used', used_at = $1
         WHERE account_id = $2 AND code_hash = $3 AND status = 'active'",
    )
    .bind(now)
    .bind(account_id.as_str())
    .bind(code_hash.to_vec())
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    // For 7 days from now a change of e-mail address waits 24 hours (issue 12).
    sqlx::query("UPDATE accounts SET backup_code_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(account_id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

/// Abandoned pending codes are dropped whenever a new set is shown, so an abandoned page
/// leaves no code that could later become active (S22).
pub(crate) async fn replace_pending(
    tx: &mut Tx,
    account_id: &AccountId,
    flow_id: &str,
    codes: &[NewBackupCode],
) -> StoreResult<()> {
    sqlx::query("DELETE FROM backup_codes WHERE account_id = $1 AND status = 'pending'")
        .bind(account_id.as_str())
        .execute(&mut **tx)
        .await?;
    for code in codes {
        sqlx::query(
            "INSERT INTO backup_codes (id, account_id, code_hash, status, flow_id, created_at)
             VALUES ($1, $2, $3, 'pending', $4, $5)",
        )
        .bind(&code.id)
        .bind(account_id.as_str())
        .bind(code.code_hash.to_vec())
        .bind(flow_id)
        .bind(code.created_at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The account is named so the lookup runs on the `(account_id, status)` index; `flow_id`
/// alone has none.
pub(crate) async fn confirm_flow(
    tx: &mut Tx,
    account_id: &AccountId,
    flow_id: &str,
    now: i64,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE backup_codes SET status = 'active', confirmed_at = $1, flow_id = NULL
         WHERE account_id = $2 AND flow_id = $3 AND status = 'pending'",
    )
    .bind(now)
    .bind(account_id.as_str())
    .bind(flow_id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() > 0 {
        crate::backup::clear_restored_mark(tx, account_id).await?;
    }
    Ok(done.rows_affected())
}

impl Store {
    /// Pending codes from the account page, with their sealed display forms; replaces any
    /// other pending code of the account (only the newest set can ever be confirmed).
    pub async fn issue_pending_backup_codes(
        &self,
        account_id: &AccountId,
        flow_key: &str,
        codes: &[(NewBackupCode, Vec<u8>)],
    ) -> StoreResult<()> {
        self.in_transaction(|mut tx| async move {
            sqlx::query("DELETE FROM backup_codes WHERE account_id = $1 AND status = 'pending'")
                .bind(account_id.as_str())
                .execute(&mut *tx)
                .await?;
            for (code, sealed) in codes {
                sqlx::query(
                    "INSERT INTO backup_codes (id, account_id, code_hash, status, flow_id, created_at, sealed_display)
                     VALUES ($1, $2, $3, 'pending', $4, $5, $6)",
                )
                .bind(&code.id)
                .bind(account_id.as_str())
                .bind(code.code_hash.to_vec())
                .bind(flow_key)
                .bind(code.created_at)
                .bind(sealed.clone())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit(()).await
        })
        .await
    }

    /// (id, sealed display) of the pending codes issued under `flow_key`.
    pub async fn list_pending_backup_code_displays(
        &self,
        account_id: &AccountId,
        flow_key: &str,
    ) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT id, sealed_display FROM backup_codes
             WHERE account_id = $1 AND flow_id = $2 AND status = 'pending' AND sealed_display IS NOT NULL
             ORDER BY id",
        )
        .bind(account_id.as_str())
        .bind(flow_key)
        .fetch_all(self.reader())
        .await?;
        Ok(rows)
    }

    /// "I have saved this code": the old active codes stop working and the pending ones
    /// take their place, in one transaction. Returns how many became active (0: nothing
    /// was pending any more, and nothing changed).
    pub async fn activate_pending_backup_codes(
        &self,
        account_id: &AccountId,
        flow_key: &str,
        now: i64,
    ) -> StoreResult<u64> {
        self.in_transaction(|mut tx| async move {
            // The guard is a write, so it locks the pending rows: of two parallel
            // confirmations (a double-submitted form) the second waits here, then finds
            // nothing pending and changes nothing. A plain read would let it go on and retire
            // the codes the first had just made active, leaving the account with none.
            let claimed = sqlx::query(
                "UPDATE backup_codes SET confirmed_at = $1
                 WHERE account_id = $2 AND flow_id = $3 AND status = 'pending'",
            )
            .bind(now)
            .bind(account_id.as_str())
            .bind(flow_key)
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() == 0 {
                return tx.commit(0).await;
            }
            sqlx::query("UPDATE backup_codes SET status = 'used', used_at = $1 WHERE account_id = $2 AND status = 'active'")
                .bind(now)
                .bind(account_id.as_str())
                .execute(&mut *tx)
                .await?;
            let activated = sqlx::query(
                "UPDATE backup_codes SET status = 'active', confirmed_at = $1, flow_id = NULL, sealed_display = NULL
                 WHERE account_id = $2 AND flow_id = $3 AND status = 'pending'",
            )
            .bind(now)
            .bind(account_id.as_str())
            .bind(flow_key)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            crate::backup::clear_restored_mark(&mut tx, account_id).await?;
            tx.commit(activated).await
        })
        .await
    }

    pub async fn count_active_backup_codes(&self, account_id: &AccountId) -> StoreResult<u32> {
        let count: Option<Value<i64>> = self
            .read_by_key(
                "SELECT COUNT(*) AS value FROM backup_codes WHERE account_id = $1 AND status = 'active'",
                &[Key::Text(account_id.as_str())],
            )
            .await?;
        Ok(count.map_or(0, |Value(count)| crate::to_u32(count)))
    }

    /// How many codes are still pending for this flow's "Save your backup code" page.
    pub async fn count_pending_backup_codes_of_flow(
        &self,
        account_id: &AccountId,
        flow_id: &str,
    ) -> StoreResult<u32> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM backup_codes
             WHERE account_id = $1 AND flow_id = $2 AND status = 'pending'",
        )
        .bind(account_id.as_str())
        .bind(flow_id)
        .fetch_one(self.reader())
        .await?;
        Ok(crate::to_u32(count))
    }

    /// Status of the code with this hash for this account, if any.
    pub async fn find_backup_code_status(
        &self,
        account_id: &AccountId,
        code_hash: &[u8; 32],
    ) -> StoreResult<Option<BackupCodeStatus>> {
        let status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM backup_codes WHERE account_id = $1 AND code_hash = $2",
        )
        .bind(account_id.as_str())
        .bind(code_hash.to_vec())
        .fetch_optional(self.reader())
        .await?;
        // The column's CHECK allows only the three statuses; anything else is corruption.
        status
            .map(|text| {
                crate::parse_stored(&text, "backup code status", BackupCodeStatus::parse)
                    .map_err(Into::into)
            })
            .transpose()
    }
}
