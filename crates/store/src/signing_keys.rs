//! ID-token signing keys, shared by every node through the database (DESIGN.md §3). The
//! private key is stored only sealed under the master key; the public JWK in clear.

use crate::{Store, StoreError, StoreResult};
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub sealed_key: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

const COLUMNS: &str = "kid, alg, sealed_key, public_jwk, created_at, retired_at";

fn from_row(row: &AnyRow) -> Result<SigningKeyRow, sqlx::Error> {
    Ok(SigningKeyRow {
        kid: row.try_get("kid")?,
        alg: row.try_get("alg")?,
        sealed_key: row.try_get("sealed_key")?,
        public_jwk: row.try_get("public_jwk")?,
        created_at: row.try_get("created_at")?,
        retired_at: row.try_get("retired_at")?,
    })
}

impl Store {
    /// The key that signs new tokens of `alg`: the newest one not retired. Two nodes that
    /// both created a first key at the same start agree on this one.
    pub async fn find_active_signing_key(&self, alg: &str) -> StoreResult<Option<SigningKeyRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM signing_keys WHERE alg = $1 AND retired_at IS NULL
             ORDER BY created_at DESC, kid DESC LIMIT 1"
        ))
        .bind(alg)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    pub async fn find_signing_key(&self, kid: &str) -> StoreResult<Option<SigningKeyRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM signing_keys WHERE kid = $1"
        ))
        .bind(kid)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// The keys in the JWKS: every active key, and retired ones for `grace_secs` after they
    /// retired (the tokens they signed are still valid that long).
    pub async fn list_published_signing_keys(
        &self,
        now: i64,
        grace_secs: i64,
    ) -> StoreResult<Vec<SigningKeyRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM signing_keys WHERE retired_at IS NULL OR retired_at > $1
             ORDER BY created_at DESC, kid DESC"
        ))
        .bind(now - grace_secs)
        .fetch_all(self.reader())
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Adds keys; with `retire_others_at`, in the same transaction retires every key that was
    /// active, so there is never a moment without a key or with two generations signing.
    /// Without it, a key for an algorithm that already has an active one is a `Conflict`
    /// and nothing is added (one active key per algorithm, migration 0016).
    pub async fn insert_signing_keys(
        &self,
        keys: &[SigningKeyRow],
        retire_others_at: Option<i64>,
    ) -> StoreResult<()> {
        self.in_transaction(|mut tx| async move {
            if let Some(now) = retire_others_at {
                sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            for key in keys {
                sqlx::query(&format!(
                    "INSERT INTO signing_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
                ))
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(key.sealed_key.clone())
                .bind(&key.public_jwk)
                .bind(key.created_at)
                .bind(key.retired_at)
                .execute(&mut *tx)
                .await
                .map_err(|error| {
                    StoreError::on_constraint(error, "an active key of this algorithm exists")
                })?;
            }
            tx.commit(()).await
        })
        .await
    }
}
