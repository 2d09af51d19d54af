//! What the OpenID Connect provider issues: authorization requests waiting for a sign-in,
//! grants (one sign-in's authorization of one product), their codes and tokens, and
//! third-party consents.
//!
//! One-time things are consumed with a compare-and-set in the transaction that uses them:
//! a code is redeemed once (S39), a refresh token rotates once (S44), an authorization
//! request yields one code. Everything is keyed by SHA-256 hashes; no token is stored.

use crate::point_reads::{Columns, FromColumns, Key};
use crate::{get_account_id, Store, StoreError, StoreResult, Tx};
use gatehouse_core::AccountId;
use sqlx::Row;
use std::sync::LazyLock;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequestRow {
    pub id_hash: [u8; 32],
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt_login: bool,
    pub max_age: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrant {
    pub id: String,
    pub client_id: String,
    pub account_id: AccountId,
    pub scope: String,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub proof: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCode {
    pub code_hash: [u8; 32],
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub expires_at: i64,
}

/// A grant as the token endpoint and userinfo see it, with its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    pub id: String,
    pub client_id: String,
    pub account_id: AccountId,
    pub email: String,
    pub account_disabled: bool,
    pub scope: String,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub proof: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl GrantRow {
    /// Not revoked, not past its absolute end, and its account not disabled (S33).
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now && !self.account_disabled
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRow {
    pub grant: GrantRow,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }

    /// The stored name back; anything else is a corrupt row, never a guess.
    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "access" => Some(Self::Access),
            "refresh" => Some(Self::Refresh),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub token_hash: [u8; 32],
    pub kind: TokenKind,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub grant: GrantRow,
    pub kind: TokenKind,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl TokenRow {
    /// Usable now: unexpired, not rotated away, and its grant live.
    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at > now && self.used_at.is_none() && self.grant.is_live(now)
    }
}

/// S33: ends every grant of an account, inside the transaction that disables the account
/// or changes its password; bind `now`, then the account id.
pub(crate) const REVOKE_ACCOUNT_GRANTS: &str =
    "UPDATE oidc_grants SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL";

/// A product holding live tokens of an account, for the account page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedProduct {
    pub client_id: String,
    pub name: String,
    /// When the latest of its grants was given.
    pub last_signed_in_at: i64,
    /// Whether it holds a refresh token (it can act while the person is away).
    pub offline: bool,
}

const GRANT_COLUMNS: &str = "g.id AS grant_id, g.client_id, g.account_id, a.email,
    a.disabled_at, g.scope AS grant_scope, g.nonce, g.auth_time, g.proof,
    g.expires_at AS grant_expires_at, g.revoked_at";

fn grant_from_row<R: Columns>(row: &R) -> Result<GrantRow, sqlx::Error> {
    Ok(GrantRow {
        id: row.column("grant_id")?,
        client_id: row.column("client_id")?,
        account_id: get_account_id(row, "account_id")?,
        email: row.column("email")?,
        account_disabled: row.column::<Option<i64>>("disabled_at")?.is_some(),
        scope: row.column("grant_scope")?,
        nonce: row.column("nonce")?,
        auth_time: row.column("auth_time")?,
        proof: row.column("proof")?,
        expires_at: row.column("grant_expires_at")?,
        revoked_at: row.column("revoked_at")?,
    })
}

impl FromColumns for TokenRow {
    fn from_columns<R: Columns>(row: &R) -> Result<Self, sqlx::Error> {
        let stored: String = row.column("kind")?;
        // An unknown kind must not pass for an access token (that would make any row a
        // bearer credential): the read fails instead.
        let kind = crate::parse_stored(&stored, "token kind", TokenKind::parse)?;
        Ok(Self {
            grant: grant_from_row(row)?,
            kind,
            scope: row.column("scope")?,
            created_at: row.column("created_at")?,
            expires_at: row.column("expires_at")?,
            used_at: row.column("used_at")?,
        })
    }
}

static TOKEN_BY_HASH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {GRANT_COLUMNS}, t.kind, t.scope, t.created_at, t.expires_at, t.used_at
         FROM oidc_tokens t JOIN oidc_grants g ON g.id = t.grant_id
         JOIN accounts a ON a.id = g.account_id WHERE t.token_hash = $1"
    )
});

/// All of a grant's new tokens in one statement (an access token and usually its refresh
/// token): one round trip to the database instead of one per token.
async fn insert_tokens(tx: &mut Tx, grant_id: &str, tokens: &[NewToken]) -> StoreResult<()> {
    if tokens.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..tokens.len())
        .map(|i| {
            let p = i * 6;
            format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, NULL)",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6
            )
        })
        .collect();
    let statement = format!(
        "INSERT INTO oidc_tokens (token_hash, grant_id, kind, scope, created_at, expires_at, used_at)
         VALUES {}",
        rows.join(", ")
    );
    let mut query = sqlx::query(&statement);
    for token in tokens {
        query = query
            .bind(token.token_hash.to_vec())
            .bind(grant_id)
            .bind(token.kind.as_str())
            .bind(&token.scope)
            .bind(token.created_at)
            .bind(token.expires_at);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

impl Store {
    pub async fn insert_authorization_request(
        &self,
        request: &AuthorizationRequestRow,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO authorization_requests (id, client_id, redirect_uri, scope, state, nonce,
                code_challenge, prompt_login, max_age, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(request.id_hash.to_vec())
        .bind(&request.client_id)
        .bind(&request.redirect_uri)
        .bind(&request.scope)
        .bind(&request.state)
        .bind(&request.nonce)
        .bind(&request.code_challenge)
        .bind(i64::from(request.prompt_login))
        .bind(request.max_age)
        .bind(request.created_at)
        .bind(request.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A request still waiting (unexpired and not yet answered with a code).
    pub async fn find_authorization_request(
        &self,
        id_hash: &[u8; 32],
        now: i64,
    ) -> StoreResult<Option<AuthorizationRequestRow>> {
        let row = sqlx::query(
            "SELECT id, client_id, redirect_uri, scope, state, nonce, code_challenge, prompt_login,
                max_age, created_at, expires_at
             FROM authorization_requests WHERE id = $1 AND expires_at > $2",
        )
        .bind(id_hash.to_vec())
        .bind(now)
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| -> Result<_, sqlx::Error> {
            Ok(AuthorizationRequestRow {
                id_hash: *id_hash,
                client_id: row.try_get("client_id")?,
                redirect_uri: row.try_get("redirect_uri")?,
                scope: row.try_get("scope")?,
                state: row.try_get("state")?,
                nonce: row.try_get("nonce")?,
                code_challenge: row.try_get("code_challenge")?,
                prompt_login: row.try_get::<i64, _>("prompt_login")? != 0,
                max_age: row.try_get("max_age")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
        .map_err(Into::into)
    }

    /// A request that ends without a code (denied consent, an error sent back).
    pub async fn delete_authorization_request(&self, id_hash: &[u8; 32]) -> StoreResult<()> {
        sqlx::query("DELETE FROM authorization_requests WHERE id = $1")
            .bind(id_hash.to_vec())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Creates the grant and its code in one transaction. With `request`, the waiting
    /// authorization request is consumed first (compare-and-set): a request answered in two
    /// tabs at once yields one code, and the other gets `Conflict`.
    pub async fn issue_authorization_code(
        &self,
        request: Option<&[u8; 32]>,
        grant: &NewGrant,
        code: &NewCode,
    ) -> StoreResult<()> {
        self.in_transaction(|mut tx| async move {
            if let Some(id_hash) = request {
                let done = sqlx::query("DELETE FROM authorization_requests WHERE id = $1")
                    .bind(id_hash.to_vec())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict(
                        "the authorization request was already answered",
                    ));
                }
            }
            sqlx::query(
                "INSERT INTO oidc_grants (id, client_id, account_id, scope, nonce, auth_time, proof,
                    created_at, expires_at, revoked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
            )
            .bind(&grant.id)
            .bind(&grant.client_id)
            .bind(grant.account_id.as_str())
            .bind(&grant.scope)
            .bind(&grant.nonce)
            .bind(grant.auth_time)
            .bind(&grant.proof)
            .bind(grant.created_at)
            .bind(grant.expires_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO authorization_codes (code_hash, grant_id, redirect_uri, code_challenge, expires_at, used_at)
                 VALUES ($1, $2, $3, $4, $5, NULL)",
            )
            .bind(code.code_hash.to_vec())
            .bind(&grant.id)
            .bind(&code.redirect_uri)
            .bind(&code.code_challenge)
            .bind(code.expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit(()).await
        })
        .await
    }

    /// A code in whatever state it is (used, expired): the token endpoint tells them apart.
    pub async fn find_authorization_code(
        &self,
        code_hash: &[u8; 32],
    ) -> StoreResult<Option<CodeRow>> {
        let row = sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS}, c.redirect_uri, c.code_challenge, c.expires_at, c.used_at
             FROM authorization_codes c JOIN oidc_grants g ON g.id = c.grant_id
             JOIN accounts a ON a.id = g.account_id WHERE c.code_hash = $1"
        ))
        .bind(code_hash.to_vec())
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| -> Result<_, sqlx::Error> {
            Ok(CodeRow {
                grant: grant_from_row(&row)?,
                redirect_uri: row.try_get("redirect_uri")?,
                code_challenge: row.try_get("code_challenge")?,
                expires_at: row.try_get("expires_at")?,
                used_at: row.try_get("used_at")?,
            })
        })
        .transpose()
        .map_err(Into::into)
    }

    /// S39: marks the code used (compare-and-set: unused, unexpired, grant not revoked) and
    /// stores the tokens it buys, in one transaction. `Conflict` when another request
    /// redeemed it first; nothing is then written.
    pub async fn redeem_authorization_code(
        &self,
        code_hash: &[u8; 32],
        grant_id: &str,
        now: i64,
        tokens: &[NewToken],
    ) -> StoreResult<()> {
        let consume = "UPDATE authorization_codes SET used_at = $1
             WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1
               AND grant_id IN (SELECT id FROM oidc_grants WHERE id = $3 AND revoked_at IS NULL)";
        let already = "the code was already used";
        self.consume_then_issue(consume, already, code_hash, grant_id, now, tokens)
            .await
    }

    /// One transaction: the compare-and-set `consume` (bound to `now`, the hash and the
    /// grant) must change exactly one row, else `Conflict(already)`; then `tokens` are
    /// stored.
    async fn consume_then_issue(
        &self,
        consume: &str,
        already: &'static str,
        hash: &[u8; 32],
        grant_id: &str,
        now: i64,
        tokens: &[NewToken],
    ) -> StoreResult<()> {
        self.in_transaction(|mut tx| async move {
            let done = sqlx::query(consume)
                .bind(now)
                .bind(hash.to_vec())
                .bind(grant_id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict(already));
            }
            insert_tokens(&mut tx, grant_id, tokens).await?;
            tx.commit(()).await
        })
        .await
    }

    /// Ends a grant: every code, access token and refresh token it issued stops working.
    pub async fn revoke_grant(&self, grant_id: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE oidc_grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(grant_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A token in whatever state it is: a used refresh token must be recognised (S44).
    pub async fn find_token(&self, token_hash: &[u8; 32]) -> StoreResult<Option<TokenRow>> {
        self.read_by_key(&TOKEN_BY_HASH, &[Key::Bytes(token_hash)])
            .await
    }

    /// S44: marks a refresh token used (compare-and-set: unused, unexpired, grant live) and
    /// stores its successors, in one transaction; `Conflict` when it was used meanwhile.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &[u8; 32],
        grant_id: &str,
        now: i64,
        tokens: &[NewToken],
    ) -> StoreResult<()> {
        let consume = "UPDATE oidc_tokens SET used_at = $1
             WHERE token_hash = $2 AND kind = 'refresh' AND used_at IS NULL AND expires_at > $1
               AND grant_id IN (SELECT id FROM oidc_grants WHERE id = $3 AND revoked_at IS NULL)";
        let already = "the refresh token was already used";
        self.consume_then_issue(consume, already, old_hash, grant_id, now, tokens)
            .await
    }

    /// Revokes one access token (RFC 7009 §2.1: its grant may live on).
    pub async fn delete_token(&self, token_hash: &[u8; 32]) -> StoreResult<()> {
        sqlx::query("DELETE FROM oidc_tokens WHERE token_hash = $1")
            .bind(token_hash.to_vec())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The products that hold a live token of the account, latest first.
    pub async fn list_connected_products(
        &self,
        account_id: &AccountId,
        now: i64,
    ) -> StoreResult<Vec<ConnectedProduct>> {
        let rows = sqlx::query(
            "SELECT c.id, c.name, MAX(g.created_at) AS last_at,
                CAST(MAX(CASE WHEN t.kind = 'refresh' THEN 1 ELSE 0 END) AS BIGINT) AS offline
             FROM oidc_grants g
             JOIN oidc_clients c ON c.id = g.client_id
             JOIN oidc_tokens t ON t.grant_id = g.id
             WHERE g.account_id = $1 AND g.revoked_at IS NULL AND g.expires_at > $2
               AND t.expires_at > $2 AND t.used_at IS NULL
             GROUP BY c.id, c.name
             ORDER BY last_at DESC, c.id",
        )
        .bind(account_id.as_str())
        .bind(now)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ConnectedProduct {
                    client_id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    last_signed_in_at: row.try_get("last_at")?,
                    offline: row.try_get::<i64, _>("offline")? != 0,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Ends every grant the account gave one product and, in the same transaction, the
    /// consent it gave it: signing out of a third-party product means it must ask again.
    /// The number of grants ended; when none was live, nothing changes.
    pub async fn revoke_product_grants(
        &self,
        account_id: &AccountId,
        client_id: &str,
        now: i64,
    ) -> StoreResult<u64> {
        self.in_transaction(|mut tx| async move {
            let ended = sqlx::query(
                "UPDATE oidc_grants SET revoked_at = $1
                 WHERE account_id = $2 AND client_id = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(account_id.as_str())
            .bind(client_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if ended > 0 {
                sqlx::query("DELETE FROM oidc_consents WHERE account_id = $1 AND client_id = $2")
                    .bind(account_id.as_str())
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit(ended).await
        })
        .await
    }

    pub async fn find_consent(
        &self,
        account_id: &AccountId,
        client_id: &str,
    ) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT scope FROM oidc_consents WHERE account_id = $1 AND client_id = $2",
        )
        .bind(account_id.as_str())
        .bind(client_id)
        .fetch_optional(self.reader())
        .await?)
    }

    pub async fn upsert_consent(
        &self,
        account_id: &AccountId,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oidc_consents (account_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (account_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
        )
        .bind(account_id.as_str())
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Forgets what can no longer be used. Used codes are kept until a day after they
    /// expired, so a late replay is still recognised and revokes its grant (S39).
    pub async fn delete_expired_oidc_records(&self, now: i64) -> StoreResult<u64> {
        let mut deleted = 0;
        for (sql, cutoff) in [
            (
                "DELETE FROM authorization_requests WHERE expires_at < $1",
                now,
            ),
            (
                "DELETE FROM authorization_codes WHERE expires_at < $1",
                now - 24 * 60 * 60,
            ),
            ("DELETE FROM oidc_tokens WHERE expires_at < $1", now),
            ("DELETE FROM oidc_grants WHERE expires_at < $1", now),
        ] {
            deleted += sqlx::query(sql)
                .bind(cutoff)
                .execute(self.pool())
                .await?
                .rows_affected();
        }
        Ok(deleted)
    }
}
