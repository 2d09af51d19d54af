//! Backup codes as rows: `pending` (shown once, bound to the flow that showed it),
//! `active` (confirmed as saved) and `used`. The status changes are compare-and-sets, so
//! ten parallel sign-ins with one code give one success (S23), and a pending code can
//! never be redeemed (S22).

use crate::{Store, StoreResult};
use sqlx::{Any, Transaction};

#[derive(Debug, Clone)]
pub struct NewBackupCode {
    pub id: String,
    pub code_hash: [u8; 32],
    pub created_at: i64,
}

pub(crate) async fn redeem(
    tx: &mut Transaction<'_, Any>,
    account_id: &str,
    code_hash: &[u8; 32],
    now: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE backup_codes SET status = 'used', used_at = $1
         WHERE account_id = $2 AND code_hash = $3 AND status = 'active'",
    )
    .bind(now)
    .bind(account_id)
    .bind(code_hash.to_vec())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Abandoned pending codes are dropped whenever a new set is shown, so an abandoned page
/// leaves no code that could later become active (S22).
pub(crate) async fn replace_pending(
    tx: &mut Transaction<'_, Any>,
    account_id: &str,
    flow_id: &str,
    codes: &[NewBackupCode],
) -> StoreResult<()> {
    sqlx::query("DELETE FROM backup_codes WHERE account_id = $1 AND status = 'pending'")
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
    for code in codes {
        sqlx::query(
            "INSERT INTO backup_codes (id, account_id, code_hash, status, flow_id, created_at)
             VALUES ($1, $2, $3, 'pending', $4, $5)",
        )
        .bind(&code.id)
        .bind(account_id)
        .bind(code.code_hash.to_vec())
        .bind(flow_id)
        .bind(code.created_at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

pub(crate) async fn confirm_flow(
    tx: &mut Transaction<'_, Any>,
    flow_id: &str,
    now: i64,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE backup_codes SET status = 'active', confirmed_at = $1, flow_id = NULL
         WHERE flow_id = $2 AND status = 'pending'",
    )
    .bind(now)
    .bind(flow_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

impl Store {
    pub async fn count_active_backup_codes(&self, account_id: &str) -> StoreResult<u32> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM backup_codes WHERE account_id = $1 AND status = 'active'",
        )
        .bind(account_id)
        .fetch_one(self.pool())
        .await?;
        Ok(crate::to_u32(count))
    }

    /// How many codes are still pending for this flow's "Save your backup code" page.
    pub async fn count_pending_backup_codes_of_flow(&self, flow_id: &str) -> StoreResult<u32> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM backup_codes WHERE flow_id = $1 AND status = 'pending'",
        )
        .bind(flow_id)
        .fetch_one(self.pool())
        .await?;
        Ok(crate::to_u32(count))
    }

    /// Status of the code with this hash for this account, if any; for tests and the CLI.
    pub async fn find_backup_code_status(
        &self,
        account_id: &str,
        code_hash: &[u8; 32],
    ) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT status FROM backup_codes WHERE account_id = $1 AND code_hash = $2",
        )
        .bind(account_id)
        .bind(code_hash.to_vec())
        .fetch_optional(self.pool())
        .await?)
    }
}
