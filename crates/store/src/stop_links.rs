//! "Wasn't you? Stop this sign-in." links (S59): stored as the SHA-256 of a 256-bit token,
//! bound to one sign-in, living as long as the code they were mailed with, used once.
//! Stopping deletes the sign-in in the same transaction that uses the link, so its code
//! dies with it and the browser that started it must start over (S53).

use crate::{get_account_id, Store, StoreResult, Tx};
use gatehouse_core::AccountId;
use sqlx::Row;

/// A link on its way out with a sign-in code; written in the step's `FlowCommit`.
#[derive(Debug, Clone)]
pub struct NewStopLink {
    pub token_hash: [u8; 32],
    pub account_id: AccountId,
    /// The client address the sign-in came from (S47): stopping counts against it.
    pub client_address: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What a stop link can do now (read only: opening the link changes nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopLinkState {
    /// Unknown, or past its lifetime.
    Invalid,
    /// Already pressed: that sign-in was stopped.
    Used,
    /// The sign-in it names is over (finished, ended or expired): nothing to stop.
    SignInOver,
    /// The sign-in is in progress and can be stopped.
    Stoppable,
}

/// A sign-in that was just stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedSignIn {
    pub account_id: AccountId,
    pub email: String,
    pub client_address: Option<String>,
}

/// Why a stop changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRefused {
    Invalid,
    Used,
    SignInOver,
}

pub(crate) async fn insert(tx: &mut Tx, flow_id: &str, link: &NewStopLink) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sign_in_stop_links
           (token_hash, flow_id, account_id, client_address, created_at, expires_at, used_at)
         VALUES ($1, $2, $3, $4, $5, $6, NULL)",
    )
    .bind(link.token_hash.to_vec())
    .bind(flow_id)
    .bind(link.account_id.as_str())
    .bind(&link.client_address)
    .bind(link.created_at)
    .bind(link.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A flow that can still be finished: not ended, not expired.
const LIVE_FLOW: &str = "step <> 'ended' AND expires_at > $2";

impl Store {
    /// What pressing the button would do, without doing it.
    pub async fn find_stop_link_state(
        &self,
        token_hash: &[u8; 32],
        now: i64,
    ) -> StoreResult<StopLinkState> {
        let row = sqlx::query(&format!(
            "SELECT l.used_at, l.expires_at,
                    (SELECT COUNT(*) FROM sign_in_flows f WHERE f.id = l.flow_id AND {LIVE_FLOW})
                      AS live
             FROM sign_in_stop_links l WHERE l.token_hash = $1"
        ))
        .bind(token_hash.to_vec())
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(StopLinkState::Invalid);
        };
        let used_at: Option<i64> = row.try_get("used_at")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let live: i64 = row.try_get("live")?;
        Ok(if used_at.is_some() {
            StopLinkState::Used
        } else if expires_at <= now {
            StopLinkState::Invalid
        } else if live == 0 {
            StopLinkState::SignInOver
        } else {
            StopLinkState::Stoppable
        })
    }

    /// Uses the link and ends its sign-in, in one transaction: the account row is locked
    /// first (the order every sign-in step uses), then the flow is deleted, then every
    /// link of that flow is marked used. A link that is unknown, expired or used, or whose
    /// sign-in is over, changes nothing.
    pub async fn stop_sign_in(
        &self,
        token_hash: &[u8; 32],
        now: i64,
    ) -> StoreResult<Result<StoppedSignIn, StopRefused>> {
        self.in_transaction(|mut tx| async move {
            let link = sqlx::query(
                "SELECT flow_id, account_id, client_address FROM sign_in_stop_links
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
            )
            .bind(token_hash.to_vec())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(link) = link else {
                let used: Option<Option<i64>> = sqlx::query_scalar(
                    "SELECT used_at FROM sign_in_stop_links WHERE token_hash = $1",
                )
                .bind(token_hash.to_vec())
                .fetch_optional(&mut *tx)
                .await?;
                let refused = match used {
                    Some(Some(_)) => StopRefused::Used,
                    Some(None) | None => StopRefused::Invalid,
                };
                return tx.commit(Err(refused)).await;
            };
            let flow_id: String = link.try_get("flow_id")?;
            let account_id = get_account_id(&link, "account_id")?;
            let client_address: Option<String> = link.try_get("client_address")?;
            sqlx::query("UPDATE accounts SET updated_at = updated_at WHERE id = $1")
                .bind(account_id.as_str())
                .execute(&mut *tx)
                .await?;
            let email: Option<String> = sqlx::query_scalar(&format!(
                "DELETE FROM sign_in_flows WHERE id = $1 AND {LIVE_FLOW} RETURNING email"
            ))
            .bind(&flow_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(email) = email else {
                return tx.commit(Err(StopRefused::SignInOver)).await;
            };
            sqlx::query(
                "UPDATE sign_in_stop_links SET used_at = $1 WHERE flow_id = $2 AND used_at IS NULL",
            )
            .bind(now)
            .bind(&flow_id)
            .execute(&mut *tx)
            .await?;
            tx.commit(Ok(StoppedSignIn {
                account_id,
                email,
                client_address,
            }))
            .await
        })
        .await
    }

    /// Housekeeping: links past their lifetime can do nothing any more.
    pub async fn delete_expired_stop_links(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sign_in_stop_links WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
