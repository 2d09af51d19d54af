//! Accounts: the e-mail (normalised, unique), the password hash and the disabled mark.

use crate::{Store, StoreError, StoreResult};
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Clone)]
pub struct AccountRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
}

impl std::fmt::Debug for AccountRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRow")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, email, password_hash, disabled_at, created_at";

fn from_row(row: &AnyRow) -> Result<AccountRow, sqlx::Error> {
    Ok(AccountRow {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        disabled_at: row.try_get("disabled_at")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    pub async fn insert_account(
        &self,
        id: &str,
        email: &str,
        password_hash: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO accounts (id, email, password_hash, disabled_at, created_at, updated_at)
             VALUES ($1, $2, $3, NULL, $4, $4)",
        )
        .bind(id)
        .bind(email)
        .bind(password_hash)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(|e| StoreError::on_constraint(e, "an account with this email already exists"))?;
        Ok(())
    }

    pub async fn find_account_by_email(&self, email: &str) -> StoreResult<Option<AccountRow>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM accounts WHERE email = $1"))
            .bind(email)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    pub async fn find_account(&self, id: &str) -> StoreResult<Option<AccountRow>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM accounts WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    pub async fn list_accounts(&self) -> StoreResult<Vec<AccountRow>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM accounts ORDER BY email"))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Replaces the hash after a successful sign-in with weaker parameters (S4). Only if the
    /// hash is still the one that was checked, so a concurrent password change wins.
    pub async fn update_password_hash(
        &self,
        id: &str,
        old_hash: &str,
        new_hash: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE accounts SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash = $4",
        )
        .bind(new_hash)
        .bind(now)
        .bind(id)
        .bind(old_hash)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// S6: a new password, and in the same transaction the end of every other session, every
    /// trusted device, product grant and every sign-in in progress of the account. Only if the hash is still
    /// the one that was checked, so two concurrent changes cannot both win.
    pub async fn change_password(
        &self,
        id: &str,
        old_hash: &str,
        new_hash: &str,
        keep_session_id: &str,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        let changed = sqlx::query(
            "UPDATE accounts SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash = $4",
        )
        .bind(new_hash)
        .bind(now)
        .bind(id)
        .bind(old_hash)
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() != 1 {
            return Err(StoreError::Conflict("the password changed meanwhile"));
        }
        sqlx::query(
            "UPDATE sessions SET ended_at = $1 WHERE account_id = $2 AND ended_at IS NULL AND id <> $3",
        )
        .bind(now)
        .bind(id)
        .bind(keep_session_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE trusted_devices SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sign_in_flows WHERE account_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Products' tokens end too: a refresh token must not outlive what ended sessions.
        sqlx::query(crate::oidc_grants::REVOKE_ACCOUNT_GRANTS)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Disables an account and, in the same transaction, ends everything it holds: sessions,
    /// trusted devices, products' tokens and sign-ins in progress (S29, S33).
    pub async fn disable_account(&self, id: &str, now: i64) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE accounts SET disabled_at = $1, updated_at = $1 WHERE id = $2 AND disabled_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE sessions SET ended_at = $1 WHERE account_id = $2 AND ended_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE trusted_devices SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sign_in_flows WHERE account_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Products' tokens end too: a refresh token must not outlive what ended sessions.
        sqlx::query(crate::oidc_grants::REVOKE_ACCOUNT_GRANTS)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Re-enables an account and clears its failure counters, which is also how an account
    /// locked after 100 failures is recovered (S47).
    pub async fn enable_account(
        &self,
        id: &str,
        counter_keys: &[String],
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let done =
            sqlx::query("UPDATE accounts SET disabled_at = NULL, updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        for key in counter_keys {
            sqlx::query("DELETE FROM failure_counters WHERE counter_key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
