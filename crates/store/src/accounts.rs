//! Accounts: the e-mail (normalised, unique), the password hash and the disabled mark, and
//! the one list of what "everything the account holds" is, which a password change, a
//! reset and a disable all end.

use crate::point_reads::{Columns, FromColumns, Key};
use crate::{get_account_id, oidc_grants, trusted_devices, Store, StoreError, StoreResult, Tx};
use gatehouse_core::AccountId;
use std::sync::LazyLock;

#[derive(Clone)]
pub struct AccountRow {
    pub id: AccountId,
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

/// What an administrator's second-factor reset took away; pending enrolments it also
/// removed are not counted, as they never worked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemovedSecondFactors {
    /// A confirmed authenticator app.
    pub authenticator: bool,
    /// A verified phone.
    pub phone: bool,
}

/// Ends, inside the caller's transaction, everything that lets someone act as the account:
/// its sessions (but `keep_session`, the one that made the change), trusted devices,
/// sign-ins in progress, products' grants (a refresh token must not outlive the sessions)
/// and reset links not yet used (a link mailed before a password change must not undo it).
/// One list for every caller, so that a new kind of access is ended everywhere or nowhere
/// (S6, S29, S33).
pub(crate) async fn end_account_access(
    tx: &mut Tx,
    account_id: &AccountId,
    keep_session: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE sessions SET ended_at = $1
         WHERE account_id = $2 AND ended_at IS NULL AND ($3 IS NULL OR id <> $3)",
    )
    .bind(now)
    .bind(account_id.as_str())
    .bind(keep_session)
    .execute(&mut **tx)
    .await?;
    trusted_devices::revoke_all_in(tx, account_id, now).await?;
    sqlx::query("DELETE FROM sign_in_flows WHERE account_id = $1")
        .bind(account_id.as_str())
        .execute(&mut **tx)
        .await?;
    for statement in [
        oidc_grants::REVOKE_ACCOUNT_GRANTS,
        "UPDATE password_resets SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL",
    ] {
        sqlx::query(statement)
            .bind(now)
            .bind(account_id.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Removes, inside the caller's transaction, the authenticator app and the phone (confirmed
/// or pending) and revokes every trusted device (S29): the administrator's reset and a
/// completed recovery (`recoveries`) share it.
pub(crate) async fn remove_second_factors_in(
    tx: &mut Tx,
    account_id: &AccountId,
    now: i64,
) -> StoreResult<RemovedSecondFactors> {
    let authenticator: Option<Option<i64>> = sqlx::query_scalar(
        "DELETE FROM totp_credentials WHERE account_id = $1 RETURNING confirmed_at",
    )
    .bind(account_id.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let phone: Option<Option<i64>> =
        sqlx::query_scalar("DELETE FROM phones WHERE account_id = $1 RETURNING verified_at")
            .bind(account_id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    trusted_devices::revoke_all_in(tx, account_id, now).await?;
    Ok(RemovedSecondFactors {
        authenticator: authenticator.flatten().is_some(),
        phone: phone.flatten().is_some(),
    })
}

fn from_row<R: Columns>(row: &R) -> Result<AccountRow, sqlx::Error> {
    Ok(AccountRow {
        id: get_account_id(row, "id")?,
        email: row.column("email")?,
        password_hash: row.column("password_hash")?,
        disabled_at: row.column("disabled_at")?,
        created_at: row.column("created_at")?,
    })
}

impl FromColumns for AccountRow {
    fn from_columns<R: Columns>(row: &R) -> Result<Self, sqlx::Error> {
        from_row(row)
    }
}

static BY_EMAIL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {COLUMNS} FROM accounts WHERE email = $1"));
static BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {COLUMNS} FROM accounts WHERE id = $1"));

impl Store {
    pub async fn insert_account(
        &self,
        id: &AccountId,
        email: &str,
        password_hash: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO accounts (id, email, password_hash, disabled_at, created_at, updated_at)
             VALUES ($1, $2, $3, NULL, $4, $4)",
        )
        .bind(id.as_str())
        .bind(email)
        .bind(password_hash)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(|e| StoreError::on_constraint(e, "an account with this email already exists"))?;
        Ok(())
    }

    pub async fn find_account_by_email(&self, email: &str) -> StoreResult<Option<AccountRow>> {
        self.read_by_key(&BY_EMAIL, &[Key::Text(email)]).await
    }

    pub async fn find_account(&self, id: &AccountId) -> StoreResult<Option<AccountRow>> {
        self.read_by_key(&BY_ID, &[Key::Text(id.as_str())]).await
    }

    pub async fn list_accounts(&self) -> StoreResult<Vec<AccountRow>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM accounts ORDER BY email"))
            .fetch_all(self.reader())
            .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Replaces the hash after a successful sign-in with weaker parameters (S4). Only if the
    /// hash is still the one that was checked, so a concurrent password change wins.
    pub async fn update_password_hash(
        &self,
        id: &AccountId,
        old_hash: &str,
        new_hash: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE accounts SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash = $4",
        )
        .bind(new_hash)
        .bind(now)
        .bind(id.as_str())
        .bind(old_hash)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// S6: a new password, and in the same transaction the end of everything the account
    /// holds but the changer's session (`end_account_access`). Only if the hash is still the
    /// one that was checked, so two concurrent changes cannot both win.
    pub async fn change_password(
        &self,
        id: &AccountId,
        old_hash: &str,
        new_hash: &str,
        keep_session_id: &str,
        now: i64,
    ) -> StoreResult<()> {
        self.in_transaction(|mut tx| async move {
            let changed = sqlx::query(
                "UPDATE accounts SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash = $4",
            )
            .bind(new_hash)
            .bind(now)
            .bind(id.as_str())
            .bind(old_hash)
            .execute(&mut *tx)
            .await?;
            if changed.rows_affected() != 1 {
                return Err(StoreError::Conflict("the password changed meanwhile"));
            }
            end_account_access(&mut tx, id, Some(keep_session_id), now).await?;
            tx.commit(()).await
        })
        .await
    }

    /// Disables an account and, in the same transaction, ends everything it holds
    /// (`end_account_access`; S29, S33).
    pub async fn disable_account(&self, id: &AccountId, now: i64) -> StoreResult<bool> {
        self.in_transaction(|mut tx| async move {
            let done = sqlx::query(
                "UPDATE accounts SET disabled_at = $1, updated_at = $1 WHERE id = $2 AND disabled_at IS NULL",
            )
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            end_account_access(&mut tx, id, None, now).await?;
            tx.commit(done.rows_affected() == 1).await
        })
        .await
    }

    /// For someone who lost both their second factor and their backup code: removes the
    /// authenticator app and the phone (confirmed or pending) and revokes every trusted
    /// device, all in one transaction (S29, S53), so the next sign-in e-mails a code.
    pub async fn remove_second_factors(
        &self,
        account_id: &AccountId,
        now: i64,
    ) -> StoreResult<RemovedSecondFactors> {
        self.in_transaction(|mut tx| async move {
            let removed = remove_second_factors_in(&mut tx, account_id, now).await?;
            tx.commit(removed).await
        })
        .await
    }

    /// Re-enables an account and clears its failure counters, which is also how an account
    /// locked after 100 failures is recovered (S47).
    pub async fn enable_account(
        &self,
        id: &AccountId,
        counter_keys: &[String],
        now: i64,
    ) -> StoreResult<bool> {
        self.in_transaction(|mut tx| async move {
            let done = sqlx::query(
                "UPDATE accounts SET disabled_at = NULL, updated_at = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            for key in counter_keys {
                sqlx::query("DELETE FROM failure_counters WHERE counter_key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit(done.rows_affected() == 1).await
        })
        .await
    }
}
