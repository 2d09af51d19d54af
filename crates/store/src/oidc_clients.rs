//! Products registered as OpenID Connect clients. A confidential client's secret is kept
//! only as a SHA-256 hash (it is 256 random bits, so a slow hash would add nothing but
//! latency at the token endpoint). Removing a client removes every grant, code and token it
//! holds, by cascade.

use crate::{Store, StoreError, StoreResult};
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    /// `None` for a public client: being public is having no secret, never a second
    /// column that could disagree (a client with neither a secret nor PKCE).
    pub secret_hash: Option<Vec<u8>>,
    pub third_party: bool,
    pub signing_alg: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub created_at: i64,
}

const COLUMNS: &str = "id, name, secret_hash, third_party, signing_alg, redirect_uris,
    post_logout_redirect_uris, created_at";

impl ClientRow {
    /// A public client (a desktop or single-page app) has no secret, so it must use PKCE
    /// (S40).
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn from_row(row: &AnyRow) -> Result<ClientRow, sqlx::Error> {
    Ok(ClientRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        third_party: row.try_get::<i64, _>("third_party")? != 0,
        signing_alg: row.try_get("signing_alg")?,
        redirect_uris: lines(&row.try_get::<String, _>("redirect_uris")?),
        post_logout_redirect_uris: lines(&row.try_get::<String, _>("post_logout_redirect_uris")?),
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Registers a client; `Conflict` when the id is taken.
    pub async fn insert_client(&self, client: &ClientRow) -> StoreResult<()> {
        self.write_client(client, "")
            .await
            .map_err(|e| StoreError::on_constraint(e, "a client with this id exists"))
    }

    /// Registers a client, or replaces the one with the same id (its grants stay): used for
    /// the demo product, whose address and secret change at every start.
    pub async fn upsert_client(&self, client: &ClientRow) -> StoreResult<()> {
        self.write_client(
            client,
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name,
              secret_hash = excluded.secret_hash,
              third_party = excluded.third_party, signing_alg = excluded.signing_alg,
              redirect_uris = excluded.redirect_uris,
              post_logout_redirect_uris = excluded.post_logout_redirect_uris",
        )
        .await?;
        Ok(())
    }

    async fn write_client(&self, client: &ClientRow, on_conflict: &str) -> Result<(), sqlx::Error> {
        let sql = format!(
            "INSERT INTO oidc_clients ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8){on_conflict}"
        );
        sqlx::query(&sql)
            .bind(&client.id)
            .bind(&client.name)
            .bind(client.secret_hash.clone())
            .bind(i64::from(client.third_party))
            .bind(&client.signing_alg)
            .bind(client.redirect_uris.join("\n"))
            .bind(client.post_logout_redirect_uris.join("\n"))
            .bind(client.created_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn find_client(&self, id: &str) -> StoreResult<Option<ClientRow>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM oidc_clients WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    pub async fn list_clients(&self) -> StoreResult<Vec<ClientRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM oidc_clients ORDER BY created_at, id"
        ))
        .fetch_all(self.reader())
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Removes a client and, by cascade, everything issued to it. False when unknown.
    pub async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM oidc_clients WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
