//! SQLite's readers: a few read-only connections beside the one writer.
//!
//! In WAL mode a reader sees the last commit without waiting for the writer, so reads of
//! every endpoint stop queueing behind the group commit's batches (issue 10, goal 3). A
//! reader holds a snapshot only while one of its statements is unfinished. sqlx 0.8 resets
//! a statement when the command that ran it ends, `fetch_optional` included, which stops
//! after one row (`ExecuteIter`'s `Drop` in sqlx-sqlite); the tests below show the two
//! things that depend on it. A reader sees a commit made after its last read stopped
//! early, and a checkpoint can empty the WAL while readers are idle. An open snapshot
//! would hide new commits and hold the WAL back, so that it grew without end.

use crate::backend::Backend;
use crate::StoreResult;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool};

/// Two cores need no more: a read is a few tens of microseconds of SQLite work.
const READERS: u32 = 4;

/// The pool reads outside transactions go to. A SQLite file gets readers of its own; an
/// in-memory SQLite database cannot be shared between connections, and PostgreSQL's pool
/// already serves reads and writes side by side, so both read from `writer`.
pub(crate) fn pool_beside(backend: Backend, url: &str, writer: &AnyPool) -> StoreResult<AnyPool> {
    if backend.sqlite_file(url).is_none() {
        return Ok(writer.clone());
    }
    let readers = AnyPoolOptions::new()
        .max_connections(READERS)
        .min_connections(0)
        .after_connect(move |conn, _meta| Box::pin(async move { prepare(backend, conn).await }))
        .connect_lazy(url)?;
    Ok(readers)
}

/// A reader refuses to write (`query_only`), so a write sent to it by mistake fails in
/// tests instead of going around the group commit.
async fn prepare(backend: Backend, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    backend.prepare(conn).await?;
    sqlx::query("PRAGMA query_only = ON")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::{Store, StoreError};
    use sqlx::pool::PoolConnection;
    use sqlx::{Any, Row};
    use std::path::PathBuf;

    /// A store on a fresh SQLite file with three names in a table.
    pub(crate) async fn store_with_names() -> (Store, PathBuf) {
        use std::hash::{BuildHasher, Hasher};
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let dir = std::env::temp_dir().join(format!(
            "gatehouse-readers-{}-{random:x}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.join("test.db").display()))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE names (name TEXT PRIMARY KEY)")
            .execute(store.pool())
            .await
            .unwrap();
        for name in ["ada", "bea", "cy"] {
            add(&store, name).await;
        }
        (store, dir)
    }

    /// Adds a name through the group commit, as every write does.
    pub(crate) async fn add(store: &Store, name: &str) {
        let name = name.to_string();
        store
            .in_transaction(|mut tx| {
                let name = name.clone();
                async move {
                    sqlx::query("INSERT INTO names (name) VALUES ($1)")
                        .bind(&name)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from)?;
                    tx.commit(()).await
                }
            })
            .await
            .unwrap();
    }

    async fn count(reader: &mut PoolConnection<Any>) -> i64 {
        sqlx::query("SELECT COUNT(*) AS n FROM names")
            .fetch_one(&mut **reader)
            .await
            .unwrap()
            .get("n")
    }

    /// `(busy, frames in the WAL, frames checkpointed)` of a truncating checkpoint; `busy`
    /// is 1 when a reader's open snapshot kept it from finishing.
    pub(crate) async fn checkpoint(store: &Store) -> (i64, i64, i64) {
        let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(store.pool())
            .await
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    }

    /// The first name of three: the statement stops after one row.
    async fn first_name(reader: &mut PoolConnection<Any>) -> String {
        sqlx::query("SELECT name FROM names ORDER BY name")
            .fetch_optional(&mut **reader)
            .await
            .unwrap()
            .unwrap()
            .get("name")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_whose_last_read_stopped_early_sees_the_next_commit() {
        let (store, dir) = store_with_names().await;
        let mut reader = store.reader().acquire().await.unwrap();
        assert_eq!(first_name(&mut reader).await, "ada");

        add(&store, "dee").await;

        assert_eq!(count(&mut reader).await, 4, "the reader missed a commit");
        assert_eq!(
            checkpoint(&store).await.0,
            0,
            "an idle reader held the WAL back"
        );
        drop(reader);
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The failure the test above would catch, shown to be visible: a reader inside an
    /// open read transaction keeps its snapshot, misses the commit and blocks the checkpoint.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_holding_a_snapshot_would_miss_commits_and_hold_the_wal() {
        let (store, dir) = store_with_names().await;
        let mut reader = store.reader().acquire().await.unwrap();
        sqlx::query("BEGIN").execute(&mut *reader).await.unwrap();
        assert_eq!(first_name(&mut reader).await, "ada");

        add(&store, "dee").await;

        assert_eq!(count(&mut reader).await, 3);
        assert_eq!(checkpoint(&store).await.0, 1);
        sqlx::query("COMMIT").execute(&mut *reader).await.unwrap();
        assert_eq!(count(&mut reader).await, 4);
        drop(reader);
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_refuses_to_write() {
        let (store, dir) = store_with_names().await;
        let refused = sqlx::query("INSERT INTO names (name) VALUES ('eve')")
            .execute(store.reader())
            .await;
        assert!(refused.is_err(), "a write went around the group commit");
        let mut reader = store.reader().acquire().await.unwrap();
        assert_eq!(count(&mut reader).await, 3);
        drop(reader);
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
