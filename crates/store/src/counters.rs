//! Failure counters and rate windows, shared by every node through the database (S48).
//!
//! A failure is counted *before* the guess it belongs to is checked: the caller reads the
//! record, lets `core` decide whether an attempt is allowed, then claims it with a
//! compare-and-set on the count it read. Of many parallel attempts that read the same count
//! only one wins the claim; the others are refused without being evaluated, so 200 parallel
//! guesses can never evaluate more than the budget allows.

use crate::point_reads::{Columns, FromColumns, Key};
use crate::{to_u32, Store, StoreResult, Tx};
use gatehouse_core::FailureRecord;

const RESET: &str = "DELETE FROM failure_counters WHERE counter_key = $1";
const REFUND: &str =
    "UPDATE failure_counters SET failures = failures - 1 WHERE counter_key = $1 AND failures > 0";

/// A failure counter's row.
struct Counted(FailureRecord);

impl FromColumns for Counted {
    fn from_columns<R: Columns>(row: &R) -> Result<Self, sqlx::Error> {
        Ok(Self(FailureRecord {
            failures: to_u32(row.column("failures")?),
            last_failure_at: row.column("last_failure_at")?,
        }))
    }
}

/// What a successful step does to the counters that budgeted it: clears some
/// (`reset_failures`) and gives one unit back to others (`refund_attempt`). Carried by the
/// step's commit, so the success and its effect on the budgets are one write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounterChanges {
    pub reset: Vec<String>,
    pub refund: Vec<String>,
}

/// Inside a step's commit.
pub(crate) async fn apply_in(tx: &mut Tx, changes: &CounterChanges) -> StoreResult<()> {
    for key in &changes.reset {
        sqlx::query(RESET).bind(key).execute(&mut **tx).await?;
    }
    for key in &changes.refund {
        sqlx::query(REFUND).bind(key).execute(&mut **tx).await?;
    }
    Ok(())
}

impl Store {
    pub async fn find_failure_record(&self, key: &str) -> StoreResult<FailureRecord> {
        let found: Option<Counted> = self
            .read_by_key(
                "SELECT failures, last_failure_at FROM failure_counters WHERE counter_key = $1",
                &[Key::Text(key)],
            )
            .await?;
        Ok(found.map(|Counted(record)| record).unwrap_or_default())
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
    /// A success's effect on its budgets, on its own: one transaction.
    pub async fn apply_counter_changes(&self, changes: &CounterChanges) -> StoreResult<()> {
        self.in_transaction(|mut tx| async move {
            apply_in(&mut tx, changes).await?;
            tx.commit(()).await
        })
        .await
    }

    pub async fn reset_failures(&self, key: &str) -> StoreResult<()> {
        sqlx::query(RESET).bind(key).execute(self.pool()).await?;
        Ok(())
    }

    /// Gives back one claimed unit: the attempt it was claimed for turned out right. Used
    /// for keys that are not reset by a success (client addresses), so a busy office behind
    /// one address is not slowed down by its own successful sign-ins.
    pub async fn refund_attempt(&self, key: &str) -> StoreResult<()> {
        sqlx::query(REFUND).bind(key).execute(self.pool()).await?;
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
            let taken = take_in(
                &mut tx,
                &WindowTake {
                    key,
                    window_secs,
                    limit,
                },
                now,
            )
            .await?;
            tx.commit(taken).await
        })
        .await
    }
}

/// One unit to take from a fixed window of `limit` per `window_secs` under `key`.
#[derive(Debug, Clone, Copy)]
pub struct WindowTake<'a> {
    pub key: &'a str,
    pub window_secs: i64,
    pub limit: u32,
}

/// Inside a transaction: takes one unit if the window has room (a window that has run out
/// starts again at `now`); returns whether it did.
pub(crate) async fn take_in(tx: &mut Tx, take: &WindowTake<'_>, now: i64) -> StoreResult<bool> {
    sqlx::query(
        "INSERT INTO rate_windows (window_key, window_start, used) VALUES ($1, $2, 0)
         ON CONFLICT (window_key) DO NOTHING",
    )
    .bind(take.key)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE rate_windows SET window_start = $1, used = 0
         WHERE window_key = $2 AND window_start <= $3",
    )
    .bind(now)
    .bind(take.key)
    .bind(now - take.window_secs)
    .execute(&mut **tx)
    .await?;
    let done =
        sqlx::query("UPDATE rate_windows SET used = used + 1 WHERE window_key = $1 AND used < $2")
            .bind(take.key)
            .bind(i64::from(take.limit))
            .execute(&mut **tx)
            .await?;
    Ok(done.rows_affected() == 1)
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
