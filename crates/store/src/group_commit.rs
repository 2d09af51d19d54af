//! Group commit for SQLite: many callers' transactions share one `COMMIT`, and so one fsync.
//!
//! With `synchronous=FULL` every commit waits for the disk, and SQLite has one writer, so a
//! transaction per caller caps the store at one caller per fsync. Here callers take turns on
//! the one write connection inside an open batch (`BEGIN IMMEDIATE`): each caller's work runs
//! in its own savepoint, released when it succeeds and rolled back when it fails or is
//! abandoned, so a failure undoes that caller's work and nobody else's. A committer task
//! then commits the batch and only after that fsync answers each caller whose work it holds
//! (`Tx::commit` waits for it). The atomicity each transaction promised (S23, S39, S44, S48,
//! S53) is the savepoint's: all of a caller's statements or none, and nothing reported done
//! before it is on disk.
//!
//! Turns are handed out by a fair (first come, first served) mutex. The committer queues
//! for it like a caller, after being woken by a finished turn, so a batch holds everyone who
//! was already waiting when the previous commit ended: under load batches grow by
//! themselves, and a lone caller commits at once.
//!
//! Between batches the connection goes back to the one-connection write pool, where the
//! store's single-statement writes (autocommit) take it in turn. PostgreSQL does its own
//! group commit, so there every caller keeps a transaction of its own (`Store::in_transaction`).

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Weak};
use tokio::sync::{oneshot, Mutex, Notify, OwnedMutexGuard};

/// Why a caller's work did not become durable although it succeeded: the batch's commit
/// failed (the disk, or SQLite abandoning the transaction). Nothing of the batch was written.
pub(crate) type BatchOutcome = Result<(), Arc<sqlx::Error>>;

pub(crate) struct GroupCommit {
    state: Arc<Mutex<WriterState>>,
    /// Wakes the committer after a turn that left a batch open.
    finished_turn: Arc<Notify>,
    pool: AnyPool,
}

impl Drop for GroupCommit {
    /// The last store handle went away (no turn is left, each holds the writer): the
    /// committer finds nothing to commit and ends.
    fn drop(&mut self) {
        self.finished_turn.notify_one();
    }
}

#[derive(Default)]
struct WriterState {
    /// The write connection while a batch is open; back in the pool between batches.
    conn: Option<PoolConnection<Any>>,
    /// Callers whose released savepoints the open batch holds, waiting for its commit.
    members: Vec<oneshot::Sender<BatchOutcome>>,
    /// Savepoint names are unique within a batch.
    savepoints: u64,
}

impl GroupCommit {
    /// The writer over `pool`, the one-connection write pool, and its committer task.
    pub(crate) fn start(pool: AnyPool) -> Arc<Self> {
        let writer = Arc::new(Self {
            state: Arc::new(Mutex::new(WriterState::default())),
            finished_turn: Arc::new(Notify::new()),
            pool,
        });
        tokio::spawn(commit_batches(
            Arc::downgrade(&writer),
            Arc::clone(&writer.state),
            Arc::clone(&writer.finished_turn),
        ));
        writer
    }

    /// Waits for a turn on the write connection and opens a savepoint for it, beginning a
    /// batch when none is open. The turn is the caller's until `Turn::release` or its drop.
    pub(crate) async fn turn(self: &Arc<Self>) -> Result<Turn, sqlx::Error> {
        let mut state = Arc::clone(&self.state).lock_owned().await;
        if state.conn.is_none() {
            let mut conn = self.pool.acquire().await?;
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            state.conn = Some(conn);
            state.savepoints = 0;
        }
        state.savepoints += 1;
        let savepoint = format!("caller_{}", state.savepoints);
        let mut turn = Turn {
            state: Some(state),
            savepoint,
            writer: Arc::clone(self),
        };
        let statement = format!("SAVEPOINT {}", turn.savepoint);
        sqlx::query(&statement).execute(&mut *turn).await?;
        Ok(turn)
    }
}

/// One caller's turn on the write connection, inside its own savepoint. Dropping it
/// without `release` (the work failed, or its request went away) rolls the savepoint back.
pub(crate) struct Turn {
    /// `None` only once the turn has ended (released, or handed to its clean-up).
    state: Option<OwnedMutexGuard<WriterState>>,
    savepoint: String,
    writer: Arc<GroupCommit>,
}

impl Turn {
    /// Keeps the work: releases the savepoint into the batch, gives the connection to the
    /// next caller, and waits until the batch holding the work has been committed.
    pub(crate) async fn release(mut self) -> Result<(), sqlx::Error> {
        let statement = format!("RELEASE {}", self.savepoint);
        // On error the turn is dropped and its drop rolls the savepoint back.
        sqlx::query(&statement).execute(&mut *self).await?;
        let (done, outcome) = oneshot::channel();
        if let Some(mut state) = self.state.take() {
            state.members.push(done);
        }
        self.writer.finished_turn.notify_one();
        match outcome.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(failed)) => Err(commit_failed(&failed)),
            // The committer went away (the store is closing): the batch was not committed.
            Err(_) => Err(sqlx::Error::PoolClosed),
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let Some(state) = self.state.take() else {
            return;
        };
        // Rolling back needs the database, which a drop cannot wait for: a task does it,
        // holding the turn, so nobody else writes before the savepoint is gone.
        let writer = Arc::clone(&self.writer);
        let savepoint = std::mem::take(&mut self.savepoint);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(roll_back_turn(writer, state, savepoint));
        }
    }
}

impl Deref for Turn {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self.state.as_ref().and_then(|state| state.conn.as_ref()) {
            Some(conn) => conn,
            None => unreachable!("a turn holds the open batch's connection until it ends"),
        }
    }
}

impl DerefMut for Turn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self.state.as_mut().and_then(|state| state.conn.as_mut()) {
            Some(conn) => conn,
            None => unreachable!("a turn holds the open batch's connection until it ends"),
        }
    }
}

/// Undoes an abandoned turn's savepoint. If SQLite cannot (it may already have rolled the
/// whole transaction back after an I/O error), the batch is lost: every caller in it is told.
async fn roll_back_turn(
    writer: Arc<GroupCommit>,
    mut state: OwnedMutexGuard<WriterState>,
    savepoint: String,
) {
    if let Some(conn) = state.conn.as_mut() {
        let undo = format!("ROLLBACK TO {savepoint}");
        let forget = format!("RELEASE {savepoint}");
        let undone = match sqlx::query(&undo).execute(&mut **conn).await {
            Ok(_) => sqlx::query(&forget).execute(&mut **conn).await.map(|_| ()),
            Err(error) => Err(error),
        };
        if let Err(error) = undone {
            tracing::error!(%error, "a failed write could not be undone alone; its batch is lost");
            let _ = sqlx::query("ROLLBACK").execute(&mut **conn).await;
            end_batch(&mut state, Err(Arc::new(error)));
            return;
        }
    }
    drop(state);
    writer.finished_turn.notify_one();
}

/// The committer: after each finished turn, queues for the connection behind everyone
/// already waiting, then commits what the batch holds.
async fn commit_batches(
    writer: Weak<GroupCommit>,
    state: Arc<Mutex<WriterState>>,
    finished_turn: Arc<Notify>,
) {
    loop {
        finished_turn.notified().await;
        if writer.strong_count() == 0 {
            return;
        }
        let mut state = state.lock().await;
        // Turns are fair: when the committer gets the lock, everyone who queued before it
        // has had a turn, and whoever queues now waits for the next batch.
        if state.members.is_empty() {
            // No batch, or every turn of it was rolled back: nothing to make durable.
            if let Some(mut conn) = state.conn.take() {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            }
        } else {
            commit(&mut state).await;
        }
    }
}

async fn commit(state: &mut WriterState) {
    let Some(conn) = state.conn.as_mut() else {
        return;
    };
    let outcome = match sqlx::query("COMMIT").execute(&mut **conn).await {
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::error!(%error, callers = state.members.len(), "a batch of writes could not be committed");
            let _ = sqlx::query("ROLLBACK").execute(&mut **conn).await;
            Err(Arc::new(error))
        }
    };
    end_batch(state, outcome);
}

/// Hands the connection back to the pool and answers every caller of the batch.
fn end_batch(state: &mut WriterState, outcome: BatchOutcome) {
    state.conn = None;
    for member in state.members.drain(..) {
        // A caller whose request went away no longer listens; its work stands all the same.
        let _ = member.send(outcome.clone());
    }
}

/// The error a caller sees when its batch's commit failed.
fn commit_failed(error: &sqlx::Error) -> sqlx::Error {
    sqlx::Error::Protocol(format!(
        "the batch holding this write was not committed: {error}"
    ))
}

#[cfg(test)]
mod tests {
    use crate::{Store, StoreError};
    use sqlx::Row;
    use std::path::PathBuf;
    use std::time::Duration;

    /// A store on a fresh SQLite file with a table of names, and an observer: another
    /// process's view of the same file, which sees only what was committed.
    struct Fixture {
        store: Store,
        observer: Store,
        dir: PathBuf,
    }

    impl Fixture {
        async fn new() -> Self {
            use std::hash::{BuildHasher, Hasher};
            let random = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            let dir = std::env::temp_dir().join(format!(
                "gatehouse-group-commit-{}-{random:x}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let url = format!("sqlite://{}", dir.join("test.db").display());
            let store = Store::connect(&url).await.unwrap();
            sqlx::query("CREATE TABLE names (name TEXT PRIMARY KEY)")
                .execute(store.pool())
                .await
                .unwrap();
            let observer = Store::connect(&url).await.unwrap();
            Self {
                store,
                observer,
                dir,
            }
        }

        async fn committed(&self) -> Vec<String> {
            let rows = sqlx::query("SELECT name FROM names ORDER BY name")
                .fetch_all(self.observer.reader())
                .await
                .unwrap();
            rows.iter().map(|r| r.get::<String, _>("name")).collect()
        }

        async fn end(self) {
            self.store.close().await;
            self.observer.close().await;
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Inserts the names in one transaction: all of them or none.
    async fn insert(store: &Store, names: &[String]) -> Result<(), StoreError> {
        store
            .in_transaction(|mut tx| async move {
                for name in names {
                    sqlx::query("INSERT INTO names (name) VALUES ($1)")
                        .bind(name)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| StoreError::on_constraint(e, "name taken"))?;
                }
                tx.commit(()).await
            })
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_is_answered_only_once_its_work_is_committed() {
        let fixture = std::sync::Arc::new(Fixture::new().await);
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let fixture = fixture.clone();
                tokio::spawn(async move {
                    let name = format!("n{i:02}");
                    insert(&fixture.store, std::slice::from_ref(&name))
                        .await
                        .unwrap();
                    // Another connection sees it the moment the caller is answered.
                    assert!(fixture.committed().await.contains(&name), "{name}");
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(fixture.committed().await.len(), 40);
        if let Ok(fixture) = std::sync::Arc::try_unwrap(fixture) {
            fixture.end().await;
        }
    }

    /// A loser is told of its conflict only once the winner's work is committed: readers
    /// (other connections) then see what the loser conflicted with. Without that, a loser
    /// in the winner's batch heard first, read, and found nothing (a JWKS without keys).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_conflict_is_reported_once_what_it_conflicted_with_is_committed() {
        let fixture = std::sync::Arc::new(Fixture::new().await);
        for round in 0..5 {
            let name = format!("taken{round}");
            let tasks: Vec<_> = (0..12)
                .map(|_| {
                    let fixture = fixture.clone();
                    let name = name.clone();
                    tokio::spawn(async move {
                        match insert(&fixture.store, std::slice::from_ref(&name)).await {
                            Ok(()) => true,
                            Err(StoreError::Conflict(_)) => {
                                assert!(
                                    fixture.committed().await.contains(&name),
                                    "told of a conflict with {name} before it was committed"
                                );
                                false
                            }
                            Err(other) => panic!("{other}"),
                        }
                    })
                })
                .collect();
            let mut winners = 0;
            for task in tasks {
                winners += usize::from(task.await.unwrap());
            }
            assert_eq!(winners, 1, "{name}");
        }
        if let Ok(fixture) = std::sync::Arc::try_unwrap(fixture) {
            fixture.end().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_caller_rolls_back_its_own_work_and_nobody_elses() {
        let fixture = Fixture::new().await;
        // For each i, two callers race: one inserts a{i}; the other b{i} and then a{i}.
        let mut tasks = Vec::new();
        for i in 0..20 {
            let (a, b) = (format!("a{i:02}"), format!("b{i:02}"));
            let store = fixture.store.clone();
            let alone = vec![a.clone()];
            tasks.push(tokio::spawn(
                async move { insert(&store, &alone).await.is_ok() },
            ));
            let store = fixture.store.clone();
            tasks.push(tokio::spawn(async move {
                insert(&store, &[b, a]).await.is_ok()
            }));
        }
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        let committed = fixture.committed().await;
        for i in 0..20 {
            let (alone_won, pair_won) = (outcomes[2 * i], outcomes[2 * i + 1]);
            assert!(
                alone_won != pair_won,
                "exactly one of the two callers for {i} succeeds"
            );
            assert!(committed.contains(&format!("a{i:02}")));
            // The loser's whole work is gone, and only its work.
            assert_eq!(committed.contains(&format!("b{i:02}")), pair_won, "b{i:02}");
        }
        assert_eq!(
            committed.len(),
            20 + outcomes.iter().skip(1).step_by(2).filter(|w| **w).count()
        );
        fixture.end().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_caller_leaves_nothing_and_holds_up_nobody() {
        let fixture = Fixture::new().await;
        let store = fixture.store.clone();
        // Writes, then never finishes: its request went away mid-transaction.
        let abandoned = tokio::spawn(async move {
            store
                .in_transaction(|mut tx| async move {
                    sqlx::query("INSERT INTO names (name) VALUES ('abandoned')")
                        .execute(&mut *tx)
                        .await?;
                    std::future::pending::<()>().await;
                    tx.commit(()).await
                })
                .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waiting: Vec<_> = (0..5)
            .map(|i| {
                let store = fixture.store.clone();
                tokio::spawn(async move { insert(&store, &[format!("after{i}")]).await })
            })
            .collect();
        abandoned.abort();
        for task in waiting {
            task.await.unwrap().unwrap();
        }
        let committed = fixture.committed().await;
        assert!(
            !committed.contains(&"abandoned".to_string()),
            "{committed:?}"
        );
        assert_eq!(committed.len(), 5, "{committed:?}");
        fixture.end().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_that_fails_after_writing_leaves_nothing() {
        let fixture = Fixture::new().await;
        let failed: Result<(), StoreError> = fixture
            .store
            .in_transaction(|mut tx| async move {
                sqlx::query("INSERT INTO names (name) VALUES ('half')")
                    .execute(&mut *tx)
                    .await?;
                Err(StoreError::Conflict("changed its mind"))
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Conflict(_))));
        insert(&fixture.store, &["whole".to_string()])
            .await
            .unwrap();
        assert_eq!(fixture.committed().await, vec!["whole".to_string()]);
        fixture.end().await;
    }
}
