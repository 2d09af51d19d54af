//! The security event log (S51): who, what, how it ended, from where. It never holds a
//! secret: callers pass names and outcomes, never codes, tokens or passwords.

use crate::{get_optional_account_id, Store, StoreResult, Tx};
use gatehouse_core::AccountId;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    pub id: String,
    pub occurred_at: i64,
    pub account_id: Option<AccountId>,
    pub email: Option<String>,
    pub event: String,
    pub result: String,
    pub method: Option<String>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
    pub node: String,
    /// The `X-Request-Id` of the request that caused it; `None` outside a request.
    pub request_id: Option<String>,
}

fn from_row(row: &AnyRow) -> Result<SecurityEvent, sqlx::Error> {
    Ok(SecurityEvent {
        id: row.try_get("id")?,
        occurred_at: row.try_get("occurred_at")?,
        account_id: get_optional_account_id(row, "account_id")?,
        email: row.try_get("email")?,
        event: row.try_get("event")?,
        result: row.try_get("result")?,
        method: row.try_get("method")?,
        client_address: row.try_get("client_address")?,
        user_agent: row.try_get("user_agent")?,
        node: row.try_get("node")?,
        request_id: row.try_get("request_id")?,
    })
}

impl Store {
    /// Housekeeping: security events are kept for the configured time, then go (S57).
    pub async fn delete_events_before(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM security_events WHERE occurred_at < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn insert_event(&self, event: &SecurityEvent) -> StoreResult<()> {
        insert_statement(event).execute(self.pool()).await?;
        Ok(())
    }

    /// The newest events of an account, newest first.
    pub async fn list_events(
        &self,
        account_id: &AccountId,
        limit: u32,
    ) -> StoreResult<Vec<SecurityEvent>> {
        let rows = sqlx::query(
            "SELECT id, occurred_at, account_id, email, event, result, method, client_address,
                user_agent, node, request_id
             FROM security_events WHERE account_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT $2",
        )
        .bind(account_id.as_str())
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }
}

fn insert_statement(event: &SecurityEvent) -> Query<'_, Any, AnyArguments<'_>> {
    sqlx::query(
        "INSERT INTO security_events (id, occurred_at, account_id, email, event, result,
            method, client_address, user_agent, node, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&event.id)
    .bind(event.occurred_at)
    .bind(event.account_id.as_ref().map(AccountId::as_str))
    .bind(&event.email)
    .bind(&event.event)
    .bind(&event.result)
    .bind(&event.method)
    .bind(&event.client_address)
    .bind(&event.user_agent)
    .bind(&event.node)
    .bind(&event.request_id)
}

/// Inside a step's commit: the step and its record are durable together (S51, S53).
pub(crate) async fn insert_in(tx: &mut Tx, event: &SecurityEvent) -> StoreResult<()> {
    insert_statement(event).execute(&mut **tx).await?;
    Ok(())
}
