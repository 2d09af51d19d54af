//! Sign-ins in progress. Every change to a flow is a compare-and-set on its `version`, and
//! everything a step produces (a consumed backup code, new pending codes, a used
//! authenticator step, a trusted device, the session, the budgets' changes and the step's
//! security events) is written in the same transaction, or nothing is (S17, S23, S53).
//! One transaction is also one commit: a trusted-device sign-in is three (issue 10).

use crate::backup_codes::{self, NewBackupCode};
use crate::counters::{self, CounterChanges, WindowTake};
use crate::events::{self, SecurityEvent};
use crate::known_browsers::{self, KnownBrowser};
use crate::passkeys::{self, PasskeyUse};
use crate::point_reads::{Columns, FromColumns, Key};
use crate::sessions::{self, NewSession};
use crate::stop_links::{self, NewStopLink};
use crate::totp;
use crate::trusted_devices::{self, NewTrustedDevice};
use crate::{get_optional_account_id, to_u32, Store, StoreError, StoreResult, Tx};
use gatehouse_core::password::PasswordHashString;
use gatehouse_core::AccountId;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;
use std::sync::LazyLock;

/// A flow as stored. `step`/`proof` are the `core::FlowStep` columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRow {
    pub id: String,
    pub email: String,
    pub account_id: Option<AccountId>,
    pub step: String,
    pub proof: Option<String>,
    pub attempts: u32,
    /// `email_code`, `sms` or `totp` (`core::SecondStepMethod`), once the password was
    /// accepted.
    pub second_step_method: Option<String>,
    pub expires_at: i64,
    pub version: i64,
    pub code_hash: Option<Vec<u8>>,
    pub code_expires_at: Option<i64>,
    pub codes_sent: u32,
    pub last_code_sent_at: Option<i64>,
    /// The pending backup codes while their page is open, sealed under the master key;
    /// cleared when they are confirmed.
    pub sealed_backup_codes: Option<Vec<u8>>,
    pub return_to: Option<String>,
    /// The SHA-256 of the device cookie of the browser that gave the password (S56); the
    /// finished sign-in makes it a known browser of the account.
    pub browser_hash: Option<Vec<u8>>,
}

const COLUMNS: &str =
    "id, email, account_id, step, proof, attempts, second_step_method, expires_at, version, \
    code_hash, code_expires_at, codes_sent, last_code_sent_at, sealed_backup_codes, return_to, \
    browser_hash";

static INSERT_FLOW: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO sign_in_flows (token_hash, created_at, {COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    )
});

fn from_row<R: Columns>(row: &R) -> Result<FlowRow, sqlx::Error> {
    Ok(FlowRow {
        id: row.column("id")?,
        email: row.column("email")?,
        account_id: get_optional_account_id(row, "account_id")?,
        step: row.column("step")?,
        proof: row.column("proof")?,
        attempts: to_u32(row.column("attempts")?),
        second_step_method: row.column("second_step_method")?,
        expires_at: row.column("expires_at")?,
        version: row.column("version")?,
        code_hash: row.column("code_hash")?,
        code_expires_at: row.column("code_expires_at")?,
        codes_sent: to_u32(row.column("codes_sent")?),
        last_code_sent_at: row.column("last_code_sent_at")?,
        sealed_backup_codes: row.column("sealed_backup_codes")?,
        return_to: row.column("return_to")?,
        browser_hash: row.column("browser_hash")?,
    })
}

impl FromColumns for FlowRow {
    fn from_columns<R: Columns>(row: &R) -> Result<Self, sqlx::Error> {
        from_row(row)
    }
}

static BY_TOKEN: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {COLUMNS} FROM sign_in_flows WHERE token_hash = $1"));

/// One step of a flow, applied atomically: the flow moves from `expected_version` to
/// `next` (or is deleted), and the listed side effects happen, all or none.
#[derive(Debug, Default)]
pub struct FlowCommit {
    /// The account this step acts for: its row is locked first (before the flow's, the same
    /// order a password change or a disable uses), and the commit fails if the account was
    /// disabled meanwhile, or, when a hash is given, if its password changed meanwhile. So a
    /// step that checked the old password cannot finish after the change ended everything.
    pub account_guard: Option<AccountGuard>,
    /// When the step happens; stamped on what it consumes or confirms.
    pub now: i64,
    pub expected_version: i64,
    /// The flow's new columns; `None` deletes the flow (the sign-in is over).
    pub next: Option<FlowRow>,
    /// Consume this active backup code of this account; the commit fails if it is not
    /// active any more (S23).
    pub redeem_backup_code: Option<(AccountId, [u8; 32])>,
    /// Replace the account's pending codes with these (S22: only the newest pending set
    /// can ever be confirmed).
    pub new_pending_backup_codes: Option<(AccountId, Vec<NewBackupCode>)>,
    /// Turn this flow's pending codes of this account active ("I have saved this code");
    /// the commit fails if none is pending any more.
    pub confirm_backup_codes_of_flow: Option<AccountId>,
    pub trusted_device: Option<NewTrustedDevice>,
    /// Record this accepted authenticator step for this account; the commit fails if that
    /// step, or a later one, was already used (S17).
    pub use_totp_step: Option<(AccountId, i64)>,
    /// Record this passkey's use and new counter; the commit fails if the stored counter is
    /// not below it any more (S58: a counter never goes backwards).
    pub use_passkey: Option<PasskeyUse>,
    pub session: Option<NewSession>,
    /// The browser that finished this sign-in, remembered with the session (S56).
    pub known_browser: Option<KnownBrowser>,
    /// The "Stop this sign-in" link mailed with the code this step prepares (S59).
    pub stop_link: Option<NewStopLink>,
    /// A trusted device this step relied on to skip the code (S26), and its account: its
    /// use is stamped, and the commit fails if it was revoked or expired meanwhile.
    pub trusted_device_used: Option<([u8; 32], AccountId)>,
    /// What the step's success does to the budgets that counted it (S47, S48).
    pub counters: CounterChanges,
    /// The step's security events (S51), in the order they happened: stored with the step,
    /// so neither is ever durable without the other.
    pub events: Vec<SecurityEvent>,
}

/// `Debug` is derived, so the hash is a type whose `Debug` prints nothing of it.
#[derive(Debug, Clone)]
pub struct AccountGuard {
    pub account_id: AccountId,
    pub password_hash: Option<PasswordHashString>,
}

impl Store {
    pub async fn insert_flow(
        &self,
        flow: &FlowRow,
        token_hash: &[u8],
        now: i64,
    ) -> StoreResult<()> {
        insert_statement(flow, token_hash, now)
            .execute(self.pool())
            .await
            .map_err(|e| StoreError::on_constraint(e, "flow token collision"))?;
        Ok(())
    }

    /// Starts a sign-in only if `window` has room for one more (S57), in one transaction:
    /// one commit for both. False, and nothing written, when the window is full.
    pub async fn insert_flow_within(
        &self,
        window: &WindowTake<'_>,
        flow: &FlowRow,
        token_hash: &[u8],
        now: i64,
    ) -> StoreResult<bool> {
        self.in_transaction(|mut tx| async move {
            if !counters::take_in(&mut tx, window, now).await? {
                return tx.commit(false).await;
            }
            insert_statement(flow, token_hash, now)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::on_constraint(e, "flow token collision"))?;
            tx.commit(true).await
        })
        .await
    }

    pub async fn find_flow_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<FlowRow>> {
        self.read_by_key(&BY_TOKEN, &[Key::Bytes(token_hash)]).await
    }

    /// Applies one step of `flow_id`. Returns `Conflict` (and writes nothing) when the flow
    /// moved on meanwhile or a one-time thing was already consumed.
    pub async fn commit_flow(&self, flow_id: &str, commit: FlowCommit) -> StoreResult<()> {
        let commit = &commit;
        self.in_transaction(|mut tx| async move {
            apply_commit(&mut tx, flow_id, commit).await?;
            tx.commit(()).await
        })
        .await
    }

    /// Housekeeping: forgets sign-ins that can no longer be finished.
    pub async fn delete_expired_flows(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sign_in_flows WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

fn insert_statement<'q>(
    flow: &'q FlowRow,
    token_hash: &[u8],
    now: i64,
) -> Query<'q, Any, AnyArguments<'q>> {
    sqlx::query(&INSERT_FLOW)
        .bind(token_hash.to_vec())
        .bind(now)
        .bind(&flow.id)
        .bind(&flow.email)
        .bind(flow.account_id.as_ref().map(AccountId::as_str))
        .bind(&flow.step)
        .bind(&flow.proof)
        .bind(i64::from(flow.attempts))
        .bind(&flow.second_step_method)
        .bind(flow.expires_at)
        .bind(flow.version)
        .bind(&flow.code_hash)
        .bind(flow.code_expires_at)
        .bind(i64::from(flow.codes_sent))
        .bind(flow.last_code_sent_at)
        .bind(&flow.sealed_backup_codes)
        .bind(&flow.return_to)
        .bind(&flow.browser_hash)
}

/// Everything one `FlowCommit` writes, inside the transaction `commit_flow` runs (again,
/// whole, if the database aborted it).
async fn apply_commit(tx: &mut Tx, flow_id: &str, commit: &FlowCommit) -> StoreResult<()> {
    if let Some(guard) = &commit.account_guard {
        // A no-op write that takes the account row's lock and checks it in one statement.
        let still = sqlx::query(
            "UPDATE accounts SET updated_at = updated_at
             WHERE id = $1 AND disabled_at IS NULL AND ($2 IS NULL OR password_hash = $2)",
        )
        .bind(guard.account_id.as_str())
        .bind(guard.password_hash.as_ref().map(|hash| hash.0.as_str()))
        .execute(&mut **tx)
        .await?;
        if still.rows_affected() != 1 {
            return Err(StoreError::Conflict("the account changed meanwhile"));
        }
    }
    let moved =
        match &commit.next {
            Some(next) => sqlx::query(
                "UPDATE sign_in_flows SET account_id = $1, step = $2, proof = $3, attempts = $4,
                expires_at = $5, version = version + 1, code_hash = $6, code_expires_at = $7,
                codes_sent = $8, last_code_sent_at = $9, sealed_backup_codes = $10,
                second_step_method = $11, browser_hash = $12
             WHERE id = $13 AND version = $14",
            )
            .bind(next.account_id.as_ref().map(AccountId::as_str))
            .bind(&next.step)
            .bind(&next.proof)
            .bind(i64::from(next.attempts))
            .bind(next.expires_at)
            .bind(&next.code_hash)
            .bind(next.code_expires_at)
            .bind(i64::from(next.codes_sent))
            .bind(next.last_code_sent_at)
            .bind(&next.sealed_backup_codes)
            .bind(&next.second_step_method)
            .bind(&next.browser_hash)
            .bind(flow_id)
            .bind(commit.expected_version)
            .execute(&mut **tx)
            .await?,
            None => {
                sqlx::query("DELETE FROM sign_in_flows WHERE id = $1 AND version = $2")
                    .bind(flow_id)
                    .bind(commit.expected_version)
                    .execute(&mut **tx)
                    .await?
            }
        };
    if moved.rows_affected() != 1 {
        return Err(StoreError::Conflict("the sign-in moved on"));
    }
    if let Some((account_id, code_hash)) = &commit.redeem_backup_code {
        if !backup_codes::redeem(tx, account_id, code_hash, commit.now).await? {
            return Err(StoreError::Conflict("backup code is not active"));
        }
    }
    if let Some((account_id, codes)) = &commit.new_pending_backup_codes {
        backup_codes::replace_pending(tx, account_id, flow_id, codes).await?;
    }
    if let Some(account_id) = &commit.confirm_backup_codes_of_flow {
        if backup_codes::confirm_flow(tx, account_id, flow_id, commit.now).await? == 0 {
            return Err(StoreError::Conflict("no pending backup code to confirm"));
        }
    }
    if let Some((account_id, step)) = &commit.use_totp_step {
        if !totp::use_step(tx, account_id, *step).await? {
            return Err(StoreError::Conflict(
                "that authenticator code was already used",
            ));
        }
    }
    if let Some(used) = &commit.use_passkey {
        if !passkeys::use_passkey(tx, used).await? {
            return Err(StoreError::Conflict(
                "the passkey's counter did not move forward",
            ));
        }
    }
    if let Some(device) = &commit.trusted_device {
        trusted_devices::insert(tx, device).await?;
    }
    if let Some(session) = &commit.session {
        sessions::insert(tx, session).await?;
    }
    if let Some(browser) = &commit.known_browser {
        known_browsers::remember(tx, browser).await?;
    }
    if let Some(link) = &commit.stop_link {
        stop_links::insert(tx, flow_id, link).await?;
    }
    if let Some((token_hash, account_id)) = &commit.trusted_device_used {
        if !trusted_devices::use_in(tx, token_hash, account_id, commit.now).await? {
            return Err(StoreError::Conflict(
                "the trusted device was revoked meanwhile",
            ));
        }
    }
    counters::apply_in(tx, &commit.counters).await?;
    for event in &commit.events {
        events::insert_in(tx, event).await?;
    }
    Ok(())
}
