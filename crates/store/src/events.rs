//! The security event log (S51): who, what, how it ended, from where. It never holds a
//! secret: callers pass names and outcomes, never codes, tokens or passwords.

use crate::point_reads::{Columns, FromColumns, Key};
use crate::{get_optional_account_id, Store, StoreResult, Tx};
use gatehouse_core::AccountId;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

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

fn from_row<R: Columns>(row: &R) -> Result<SecurityEvent, sqlx::Error> {
    Ok(SecurityEvent {
        id: row.column("id")?,
        occurred_at: row.column("occurred_at")?,
        account_id: get_optional_account_id(row, "account_id")?,
        email: row.column("email")?,
        event: row.column("event")?,
        result: row.column("result")?,
        method: row.column("method")?,
        client_address: row.column("client_address")?,
        user_agent: row.column("user_agent")?,
        node: row.column("node")?,
        request_id: row.column("request_id")?,
    })
}

impl FromColumns for SecurityEvent {
    fn from_columns<R: Columns>(row: &R) -> Result<Self, sqlx::Error> {
        from_row(row)
    }
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
        self.read_all_by_key(
            "SELECT id, occurred_at, account_id, email, event, result, method, client_address,
                user_agent, node, request_id
             FROM security_events WHERE account_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT $2",
            &[Key::Text(account_id.as_str()), Key::Int(i64::from(limit))],
        )
        .await
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
