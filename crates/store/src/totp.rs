//! Authenticator-app credentials: one per account, sealed secret, last accepted step.

use crate::point_reads::{Columns, FromColumns, Key};
use crate::trusted_devices::{change_second_factor, Revoke};
use crate::{Store, StoreError, StoreResult, Tx};
use gatehouse_core::AccountId;

#[derive(Clone)]
pub struct TotpRow {
    pub secret_sealed: Vec<u8>,
    pub last_used_step: Option<i64>,
    pub confirmed_at: Option<i64>,
}

impl std::fmt::Debug for TotpRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRow")
            .field("last_used_step", &self.last_used_step)
            .field("confirmed_at", &self.confirmed_at)
            .finish_non_exhaustive()
    }
}

/// S17: moves the last used step forward, only forward.
pub(crate) async fn use_step(tx: &mut Tx, account_id: &AccountId, step: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE totp_credentials SET last_used_step = $1
         WHERE account_id = $2 AND confirmed_at IS NOT NULL
           AND (last_used_step IS NULL OR last_used_step < $1)",
    )
    .bind(step)
    .bind(account_id.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

impl FromColumns for TotpRow {
    fn from_columns<R: Columns>(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            secret_sealed: row.column("secret_sealed")?,
            last_used_step: row.column("last_used_step")?,
            confirmed_at: row.column("confirmed_at")?,
        })
    }
}

impl Store {
    pub async fn find_totp(&self, account_id: &AccountId) -> StoreResult<Option<TotpRow>> {
        self.read_by_key(
            "SELECT secret_sealed, last_used_step, confirmed_at FROM totp_credentials WHERE account_id = $1",
            &[Key::Text(account_id.as_str())],
        )
        .await
    }

    /// Starts (or restarts) an enrolment. An already confirmed app is left alone: replacing
    /// it goes through removal first.
    pub async fn insert_pending_totp(
        &self,
        account_id: &AccountId,
        secret_sealed: &[u8],
        now: i64,
    ) -> StoreResult<()> {
        self.in_transaction(|mut tx| async move {
            sqlx::query(
                "DELETE FROM totp_credentials WHERE account_id = $1 AND confirmed_at IS NULL",
            )
            .bind(account_id.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO totp_credentials (account_id, secret_sealed, last_used_step, created_at, confirmed_at)
                 VALUES ($1, $2, NULL, $3, NULL)",
            )
            .bind(account_id.as_str())
            .bind(secret_sealed.to_vec())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::on_constraint(e, "an authenticator app is already set up"))?;
            tx.commit(()).await
        })
        .await
    }

    /// S18: the enrolment counts only now, after a correct code, and that code's step is
    /// used up. Every trusted device is revoked in the same transaction (S29). Only the
    /// pending secret the code was checked against (`secret_sealed`): an enrolment restarted
    /// meanwhile in another window has a new secret, which no code has proved yet. False
    /// when nothing changed.
    pub async fn confirm_totp(
        &self,
        account_id: &AccountId,
        secret_sealed: &[u8],
        step: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let confirm = || {
            sqlx::query(
                "UPDATE totp_credentials SET confirmed_at = $1, last_used_step = $2
                 WHERE account_id = $3 AND confirmed_at IS NULL AND secret_sealed = $4",
            )
            .bind(now)
            .bind(step)
            .bind(account_id.as_str())
            .bind(secret_sealed.to_vec())
        };
        change_second_factor(self, confirm, account_id, now, Revoke::IfChanged).await
    }

    /// Removes the app (confirmed or not) and revokes every trusted device (S29).
    pub async fn delete_totp(&self, account_id: &AccountId, now: i64) -> StoreResult<bool> {
        let delete = || {
            sqlx::query("DELETE FROM totp_credentials WHERE account_id = $1")
                .bind(account_id.as_str())
        };
        change_second_factor(self, delete, account_id, now, Revoke::Always).await
    }
}
