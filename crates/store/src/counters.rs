//! Failure counters and rate windows, shared by every node through the database (S48).
//!
//! A failure is counted *before* the guess it belongs to is checked: the caller reads the
//! record, lets `core` decide whether an attempt is allowed, then claims it with a
//! compare-and-set on the count it read. Of many parallel attempts that read the same count
//! only one wins the claim; the others are refused without being evaluated, so 200 parallel
//! guesses can never evaluate more than the budget allows.

use crate::{to_u32, Store, StoreResult};
use gatehouse_core::FailureRecord;

impl Store {
    pub async fn find_failure_record(&self, key: &str) -> StoreResult<FailureRecord> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT failures, last_failure_at FROM failure_counters WHERE counter_key = $1",
        )
        .bind(key)
        .fetch_optional(self.reader())
        .await?;
        Ok(row
            .map(|(failures, last_failure_at)| FailureRecord {
                failures: to_u32(failures),
                last_failure_at,
            })
            .unwrap_or_default())
    }

    /// Claims one attempt: moves the count from `seen.failures` to `seen.failures + 1` if
    /// nobody else did in between. `restart` says the seen record was stale and is counted
    /// from zero. Returns whether this caller won the claim.
    pub async fn claim_attempt(
        &self,
        key: &str,
        seen: FailureRecord,
        restart: bool,
        now: i64,
    ) -> StoreResult<bool> {
        let next = if restart {
            1
        } else {
            i64::from(seen.failures) + 1
        };
        // One transaction: the row's creation and the claim share one commit (one fsync, and
        // under load one batch with other callers'); the compare-and-set decides as before.
        self.in_transaction(|mut tx| async move {
            sqlx::query(
                "INSERT INTO failure_counters (counter_key, failures, last_failure_at) VALUES ($1, 0, 0)
                 ON CONFLICT (counter_key) DO NOTHING",
            )
            .bind(key)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query(
                "UPDATE failure_counters SET failures = $1, last_failure_at = $2
                 WHERE counter_key = $3 AND failures = $4 AND last_failure_at = $5",
            )
            .bind(next)
            .bind(now)
            .bind(key)
            .bind(i64::from(seen.failures))
            .bind(seen.last_failure_at)
            .execute(&mut *tx)
            .await?;
            tx.commit(done.rows_affected() == 1).await
        })
        .await
    }

    /// A success ends the run of consecutive failures.
    pub async fn reset_failures(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM failure_counters WHERE counter_key = $1")
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Gives back one claimed unit: the attempt it was claimed for turned out right. Used
    /// for keys that are not reset by a success (client addresses), so a busy office behind
    /// one address is not slowed down by its own successful sign-ins.
    pub async fn refund_attempt(&self, key: &str) -> StoreResult<()> {
        sqlx::query("UPDATE failure_counters SET failures = failures - 1 WHERE counter_key = $1 AND failures > 0")
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Takes one unit from a fixed window of `limit` per `window_secs` under `key` (used
    /// for codes sent per account, S9). Atomic: the window row is updated only while it has
    /// room. Returns whether a unit was taken.
    pub async fn take_from_window(
        &self,
        key: &str,
        window_secs: i64,
        limit: u32,
        now: i64,
    ) -> StoreResult<bool> {
        // One transaction for the three statements: one commit, and nothing in between.
        self.in_transaction(|mut tx| async move {
            sqlx::query(
                "INSERT INTO rate_windows (window_key, window_start, used) VALUES ($1, $2, 0)
                 ON CONFLICT (window_key) DO NOTHING",
            )
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            // A window that has run out starts again at `now`.
            sqlx::query(
                "UPDATE rate_windows SET window_start = $1, used = 0
                 WHERE window_key = $2 AND window_start <= $3",
            )
            .bind(now)
            .bind(key)
            .bind(now - window_secs)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query(
                "UPDATE rate_windows SET used = used + 1 WHERE window_key = $1 AND used < $2",
            )
            .bind(key)
            .bind(i64::from(limit))
            .execute(&mut *tx)
            .await?;
            tx.commit(done.rows_affected() == 1).await
        })
        .await
    }
}

impl Store {
    /// Housekeeping (S57): forgets failure counters untouched since `before`, except those at
    /// or past `locked_at` failures, which stay until an admin reopens the key. Every key
    /// is pruned by the same rule, known address or not, so pruning reveals nothing (S46).
    pub async fn prune_failure_counters(&self, before: i64, locked_at: u32) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM failure_counters WHERE last_failure_at < $1 AND failures < $2",
        )
        .bind(before)
        .bind(i64::from(locked_at))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Housekeeping (S57): forgets rate windows that started before `before`; a window that
    /// has run out starts again from nothing, so a missing row means the same.
    pub async fn prune_rate_windows(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM rate_windows WHERE window_start < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
