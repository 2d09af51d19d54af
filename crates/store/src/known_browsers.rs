//! Browsers that have signed in to an account before (S56). A browser is named by the
//! SHA-256 of its device cookie; a row says "this browser finished a sign-in to this
//! account". Its password guesses then spend a budget of their own, so strangers' failures
//! cannot lock the owner out. Rows are written only by a finished sign-in, at most
//! [`KNOWN_BROWSERS_PER_ACCOUNT`] per account (the least recently seen go first, S57).

use crate::point_reads::{Key, Value};
use crate::{Store, StoreResult, Tx};
use gatehouse_core::AccountId;

/// Enough for a person's phones, laptops and work machines; a bound, so a flood of
/// sign-ins from new browsers cannot grow an account's rows without limit (S57).
pub const KNOWN_BROWSERS_PER_ACCOUNT: i64 = 20;

/// A browser that just finished a sign-in to `account_id`.
#[derive(Debug, Clone)]
pub struct KnownBrowser {
    pub id: String,
    pub browser_hash: [u8; 32],
    pub account_id: AccountId,
    pub seen_at: i64,
}

/// Remembers the browser inside the sign-in's last commit (or refreshes when it was last
/// seen), then drops the account's least recently seen browsers beyond the bound.
pub(crate) async fn remember(tx: &mut Tx, browser: &KnownBrowser) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO known_browsers (id, browser_hash, account_id, first_seen_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (browser_hash, account_id) DO UPDATE SET last_seen_at = excluded.last_seen_at",
    )
    .bind(&browser.id)
    .bind(browser.browser_hash.to_vec())
    .bind(browser.account_id.as_str())
    .bind(browser.seen_at)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "DELETE FROM known_browsers WHERE account_id = $1 AND id NOT IN (
            SELECT id FROM known_browsers WHERE account_id = $1
            ORDER BY last_seen_at DESC, id DESC LIMIT $2)",
    )
    .bind(browser.account_id.as_str())
    .bind(KNOWN_BROWSERS_PER_ACCOUNT)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// The id of the row saying this browser signed in to this account before, if any.
    pub async fn find_known_browser(
        &self,
        browser_hash: &[u8; 32],
        account_id: &AccountId,
    ) -> StoreResult<Option<String>> {
        let found: Option<Value<String>> = self
            .read_by_key(
                "SELECT id AS value FROM known_browsers WHERE browser_hash = $1 AND account_id = $2",
                &[Key::Bytes(browser_hash), Key::Text(account_id.as_str())],
            )
            .await?;
        Ok(found.map(|Value(id)| id))
    }

    /// Housekeeping: forgets browsers not seen since `before`.
    pub async fn delete_known_browsers_unseen_since(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM known_browsers WHERE last_seen_at < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
