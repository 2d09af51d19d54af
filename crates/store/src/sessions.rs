//! Sessions: a hashed 256-bit token, an absolute expiry and an idle timeout enforced here,
//! on the server (S32), and an end that is recorded, not just a cookie cleared (S33).

use crate::point_reads::{Columns, FromColumns, Key, Value};
use crate::{account_id, get_account_id, Store, StoreResult, Tx};
use gatehouse_core::{AccountId, Proof};

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub token_hash: [u8; 32],
    pub account_id: AccountId,
    pub proof: Proof,
    pub created_at: i64,
    pub expires_at: i64,
    pub user_agent: Option<String>,
    pub client_address: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub account_id: AccountId,
    pub email: String,
    pub proof: Proof,
    pub created_at: i64,
    pub last_seen_at: i64,
}

fn from_row<R: Columns>(row: &R) -> Result<SessionRow, sqlx::Error> {
    Ok(SessionRow {
        id: row.column("id")?,
        account_id: get_account_id(row, "account_id")?,
        email: row.column("email")?,
        proof: proof(&row.column::<String>("proof")?)?,
        created_at: row.column("created_at")?,
        last_seen_at: row.column("last_seen_at")?,
    })
}

impl FromColumns for SessionSummary {
    fn from_columns<R: Columns>(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.column("id")?,
            user_agent: row.column("user_agent")?,
            client_address: row.column("client_address")?,
            created_at: row.column("created_at")?,
            last_seen_at: row.column("last_seen_at")?,
        })
    }
}

impl FromColumns for SessionRow {
    fn from_columns<R: Columns>(row: &R) -> Result<Self, sqlx::Error> {
        from_row(row)
    }
}

/// A proof the code does not know can only come from a damaged row. The read fails rather
/// than guess, as an unknown token kind does: a session must not claim a sign-in it cannot
/// name (the account page and `amr` are built from it).
fn proof(stored: &str) -> Result<Proof, sqlx::Error> {
    crate::parse_stored(stored, "sign-in proof", Proof::parse)
}

pub(crate) async fn insert(tx: &mut Tx, session: &NewSession) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sessions (id, token_hash, account_id, proof, created_at, last_seen_at,
            expires_at, ended_at, user_agent, client_address)
         VALUES ($1, $2, $3, $4, $5, $5, $6, NULL, $7, $8)",
    )
    .bind(&session.id)
    .bind(session.token_hash.to_vec())
    .bind(session.account_id.as_str())
    .bind(session.proof.as_str())
    .bind(session.created_at)
    .bind(session.expires_at)
    .bind(&session.user_agent)
    .bind(&session.client_address)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A live session, as the account page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    pub id: String,
    pub user_agent: Option<String>,
    pub client_address: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
}

impl Store {
    /// The account's live sessions, most recently active first.
    pub async fn list_live_sessions(
        &self,
        account_id: &AccountId,
        idle_secs: i64,
        now: i64,
    ) -> StoreResult<Vec<SessionSummary>> {
        self.read_all_by_key(
            "SELECT id, user_agent, client_address, created_at, last_seen_at FROM sessions
             WHERE account_id = $1 AND ended_at IS NULL AND expires_at > $2 AND last_seen_at > $3
             ORDER BY last_seen_at DESC, id DESC",
            &[
                Key::Text(account_id.as_str()),
                Key::Int(now),
                Key::Int(now - idle_secs),
            ],
        )
        .await
    }

    /// The user agents of the account's other sessions (newest first, the session with
    /// `this_token` left out), for telling a new device from a known one.
    pub async fn earlier_session_user_agents(
        &self,
        account_id: &AccountId,
        this_token: &[u8; 32],
        limit: u32,
    ) -> StoreResult<Vec<Option<String>>> {
        let rows: Vec<Value<Option<String>>> = self
            .read_all_by_key(
                "SELECT user_agent AS value FROM sessions WHERE account_id = $1 AND token_hash <> $2
                 ORDER BY created_at DESC, id DESC LIMIT $3",
                &[
                    Key::Text(account_id.as_str()),
                    Key::Bytes(this_token),
                    Key::Int(i64::from(limit)),
                ],
            )
            .await?;
        Ok(rows.into_iter().map(|Value(ua)| ua).collect())
    }

    /// S33: ends every session of the account but `keep_id`.
    pub async fn end_other_sessions(
        &self,
        account_id: &AccountId,
        keep_id: &str,
        now: i64,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE sessions SET ended_at = $1 WHERE account_id = $2 AND id <> $3 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(account_id.as_str())
        .bind(keep_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// The live session for a token: not ended, not past its absolute expiry, not idle for
    /// longer than `idle_secs`, and of an account that is not disabled. Seeing it counts as
    /// activity.
    pub async fn find_live_session(
        &self,
        token_hash: &[u8; 32],
        idle_secs: i64,
        now: i64,
    ) -> StoreResult<Option<SessionRow>> {
        let found: Option<SessionRow> = self
            .read_by_key(
                "SELECT s.id, s.account_id, a.email, s.proof, s.created_at, s.last_seen_at
                 FROM sessions s JOIN accounts a ON a.id = s.account_id
                 WHERE s.token_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2
                   AND s.last_seen_at > $3 AND a.disabled_at IS NULL",
                &[
                    Key::Bytes(token_hash),
                    Key::Int(now),
                    Key::Int(now - idle_secs),
                ],
            )
            .await?;
        let Some(session) = found else {
            return Ok(None);
        };
        // Touch at most once a minute: a page view should not always be a write.
        if now - session.last_seen_at >= 60 {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&session.id)
                .execute(self.pool())
                .await?;
        }
        Ok(Some(session))
    }

    pub async fn end_session(
        &self,
        token_hash: &[u8; 32],
        now: i64,
    ) -> StoreResult<Option<AccountId>> {
        let account: Option<String> = sqlx::query_scalar(
            "UPDATE sessions SET ended_at = $1 WHERE token_hash = $2 AND ended_at IS NULL
             RETURNING account_id",
        )
        .bind(now)
        .bind(token_hash.to_vec())
        .fetch_optional(self.pool())
        .await?;
        Ok(account.as_deref().map(account_id).transpose()?)
    }

    /// Ends one session of this account by its id (a revoke button of the backup-code
    /// review); `false` when it is not one of the account's live sessions.
    pub async fn end_session_of_account(
        &self,
        account_id: &AccountId,
        session_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET ended_at = $1 WHERE id = $2 AND account_id = $3 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(session_id)
        .bind(account_id.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// How many sessions `list_live_sessions` would show: idle ones are over too (S32).
    pub async fn count_live_sessions(
        &self,
        account_id: &AccountId,
        idle_secs: i64,
        now: i64,
    ) -> StoreResult<u32> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions
             WHERE account_id = $1 AND ended_at IS NULL AND expires_at > $2 AND last_seen_at > $3",
        )
        .bind(account_id.as_str())
        .bind(now)
        .bind(now - idle_secs)
        .fetch_one(self.reader())
        .await?;
        Ok(crate::to_u32(count))
    }
}
