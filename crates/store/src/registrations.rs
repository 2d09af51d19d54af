//! Sign-ups waiting for their address to be verified.

use crate::{to_u32, Store, StoreError, StoreResult};
use gatehouse_core::AccountId;
use sqlx::Row;

#[derive(Clone)]
pub struct RegistrationRow {
    pub id: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub code_hash: Vec<u8>,
    pub attempts: u32,
    pub expires_at: i64,
}

impl std::fmt::Debug for RegistrationRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationRow")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl Store {
    pub async fn insert_registration(
        &self,
        row: &RegistrationRow,
        token_hash: &[u8; 32],
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO registrations (id, token_hash, email, password_hash, code_hash, attempts, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&row.id)
        .bind(token_hash.to_vec())
        .bind(&row.email)
        .bind(&row.password_hash)
        .bind(row.code_hash.clone())
        .bind(i64::from(row.attempts))
        .bind(now)
        .bind(row.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn find_registration(
        &self,
        token_hash: &[u8; 32],
        now: i64,
    ) -> StoreResult<Option<RegistrationRow>> {
        let row = sqlx::query(
            "SELECT id, email, password_hash, code_hash, attempts, expires_at FROM registrations
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash.to_vec())
        .bind(now)
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| {
            Ok(RegistrationRow {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                password_hash: r.try_get("password_hash")?,
                code_hash: r.try_get("code_hash")?,
                attempts: to_u32(r.try_get("attempts")?),
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
        .map_err(StoreError::Unexpected)
    }

    /// Counts a code guess before it is checked (compare-and-set on the count read).
    pub async fn claim_registration_attempt(&self, id: &str, seen: u32) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE registrations SET attempts = attempts + 1 WHERE id = $1 AND attempts = $2",
        )
        .bind(id)
        .bind(i64::from(seen))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The verified sign-up becomes an account, in one transaction; `Conflict` if the
    /// address was taken meanwhile or the registration already completed.
    pub async fn complete_registration(
        &self,
        registration_id: &str,
        account_id: &AccountId,
        now: i64,
    ) -> StoreResult<()> {
        self.in_transaction(|mut tx| async move {
            let row: Option<(String, Option<String>)> = sqlx::query_as(
                "DELETE FROM registrations WHERE id = $1 RETURNING email, password_hash",
            )
            .bind(registration_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((email, Some(password_hash))) = row else {
                return Err(StoreError::Conflict("the registration cannot complete"));
            };
            sqlx::query(
                "INSERT INTO accounts (id, email, password_hash, disabled_at, created_at, updated_at)
                 VALUES ($1, $2, $3, NULL, $4, $4)",
            )
            .bind(account_id.as_str())
            .bind(&email)
            .bind(&password_hash)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                StoreError::on_constraint(e, "an account with this email already exists")
            })?;
            tx.commit(()).await
        })
        .await
    }

    pub async fn delete_expired_registrations(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM registrations WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
