//! Point reads of a SQLite file on the request's own thread.
//!
//! sqlx runs each SQLite connection on a worker thread of its own, so every statement is a
//! hand-off to that thread and back: two wake-ups, which on this machine's virtual CPUs
//! cost more than the read itself (the profile in docs/performance.md). The hottest reads
//! (a token by its hash, a sign-in by its token, an account by its address, a failure
//! counter) are lookups by a unique key that take microseconds, so they run here instead,
//! on a few read-only rusqlite connections to the same file, on the calling thread.
//!
//! What stays true:
//! - WAL lets a reader see the last commit without waiting for the writer, and a reader
//!   holds a snapshot only while its statement runs: each read is reset when it ends
//!   (rusqlite's `Rows` resets its statement on drop), so later reads see later commits (the tests
//!   in `readers.rs` cover the sqlx readers; `tests` here cover these).
//! - A read never blocks a runtime thread for long: the busy timeout is short, and a read
//!   that meets a busy database, or any error of the connection, is given back to the
//!   caller as `None`, which then reads through sqlx's readers instead.
//! - Nothing here writes (`query_only`).

use crate::point_reads::Key;
use rusqlite::{CachedStatement, Connection, OpenFlags, Row};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Connections kept open between reads; a runtime has one thread per core, so more would
/// sit idle.
const KEPT: usize = 4;

/// Statements kept prepared per connection: more than the store has inline reads.
const STATEMENTS_KEPT: usize = 64;

/// A read that finds the database busy gives up after this and goes through sqlx instead,
/// so a runtime thread is never held for long.
const BUSY_TIMEOUT: Duration = Duration::from_millis(20);

pub(crate) struct InlineReaders {
    file: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for InlineReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineReaders")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl InlineReaders {
    pub(crate) fn new(file: &Path) -> Self {
        Self {
            file: file.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The first row `sql` finds for `keys`, decoded, or `Ok(None)` when it finds none.
    /// `None` when this read could not run here; the caller then reads through sqlx.
    pub(crate) fn first_row<T>(
        &self,
        sql: &str,
        keys: &[Key<'_>],
        decode: impl FnOnce(&Row<'_>) -> Result<T, sqlx::Error>,
    ) -> Option<Result<Option<T>, sqlx::Error>> {
        self.read(|connection| {
            let mut statement = bound(connection, sql, keys)?;
            let mut rows = statement.raw_query();
            Ok(rows.next()?.map(decode).transpose())
        })
    }

    /// Every row `sql` finds for `keys`, decoded; `None` when this read could not run
    /// here. Only for one account's few rows (its sessions, devices, last events): sqlx
    /// would hand each row across threads on its own.
    pub(crate) fn all_rows<T>(
        &self,
        sql: &str,
        keys: &[Key<'_>],
        decode: impl Fn(&Row<'_>) -> Result<T, sqlx::Error>,
    ) -> Option<Result<Vec<T>, sqlx::Error>> {
        self.read(|connection| {
            let mut statement = bound(connection, sql, keys)?;
            let mut rows = statement.raw_query();
            let mut found = Vec::new();
            while let Some(row) = rows.next()? {
                match decode(row) {
                    Ok(value) => found.push(value),
                    Err(error) => return Ok(Err(error)),
                }
            }
            Ok(Ok(found))
        })
    }

    /// Runs `read` on an idle connection (or a new one) and keeps the connection for the
    /// next read. An error of the connection itself (busy, or in trouble) drops it and
    /// gives `None`, so that sqlx reads instead; a row that does not decode is the read's
    /// answer, as it would be through sqlx.
    fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<Result<T, sqlx::Error>>,
    ) -> Option<Result<T, sqlx::Error>> {
        let connection = self.take()?;
        match read(&connection) {
            Ok(found) => {
                self.give_back(connection);
                Some(found)
            }
            Err(error) => {
                tracing::debug!(%error, "an inline read gave way to sqlx");
                None
            }
        }
    }

    fn take(&self) -> Option<Connection> {
        let idle = self.idle.lock().ok()?.pop();
        match idle {
            Some(connection) => Some(connection),
            None => open(&self.file)
                .map_err(|error| tracing::debug!(%error, "no inline reader"))
                .ok(),
        }
    }

    fn give_back(&self, connection: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < KEPT {
                idle.push(connection);
            }
        }
    }
}

fn open(file: &Path) -> rusqlite::Result<Connection> {
    // Never creates the file: the writer did, and migrated it.
    let connection = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.pragma_update(None, "query_only", true)?;
    // Every statement of this path stays prepared (rusqlite keeps 16 by default, fewer
    // than the reads that come here, and a re-prepare parses the SQL again).
    connection.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
    Ok(connection)
}

/// `sql` prepared (or taken from the cache) with `keys` bound to its placeholders `$1`,
/// `$2`, … by name, so that their order in the statement does not matter. A statement
/// whose placeholders are not exactly the keys is refused rather than run with a
/// parameter left unbound (SQLite would read it as NULL); sqlx then reports the mismatch.
fn bound<'c>(
    connection: &'c Connection,
    sql: &str,
    keys: &[Key<'_>],
) -> rusqlite::Result<CachedStatement<'c>> {
    let mut statement = connection.prepare_cached(sql)?;
    if statement.parameter_count() != keys.len() {
        return Err(rusqlite::Error::InvalidParameterCount(
            keys.len(),
            statement.parameter_count(),
        ));
    }
    for (n, key) in keys.iter().enumerate() {
        let name = format!("${}", n + 1);
        let index = statement
            .parameter_index(&name)?
            .ok_or(rusqlite::Error::InvalidParameterName(name))?;
        statement.raw_bind_parameter(index, key)?;
    }
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::InlineReaders;
    use crate::point_reads::{Columns, FromColumns, Key};
    use crate::readers::tests::{add, checkpoint, store_with_names};
    use std::path::Path;
    use std::sync::Arc;

    #[derive(Debug, PartialEq)]
    struct Name(String);

    impl FromColumns for Name {
        fn from_columns<R: Columns>(row: &R) -> Result<Self, sqlx::Error> {
            Ok(Self(row.column("name")?))
        }
    }

    fn count(inline: &InlineReaders) -> i64 {
        inline
            .first_row("SELECT COUNT(*) AS n FROM names", &[], |row| {
                row.column("n")
            })
            .expect("the inline reader served it")
            .unwrap()
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_inline_read_that_stopped_early_leaves_no_snapshot_behind() {
        let (store, dir) = store_with_names().await;
        let inline = store
            .inline
            .clone()
            .expect("a SQLite file has inline readers");
        let first = inline
            .first_row("SELECT name FROM names ORDER BY name", &[], |row| {
                Name::from_columns(row)
            })
            .expect("the inline reader served it")
            .unwrap();
        assert_eq!(first, Some(Name("ada".into())));

        add(&store, "dee").await;

        // The same connection (the one kept) reads again and sees the commit.
        assert_eq!(count(&inline), 4, "the inline reader missed a commit");
        assert_eq!(
            checkpoint(&store).await.0,
            0,
            "an idle inline reader held the WAL back"
        );
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_the_inline_path_cannot_serve_goes_through_sqlx() {
        let (mut store, dir) = store_with_names().await;
        let missing = InlineReaders::new(Path::new("/nonexistent/gatehouse.db"));
        assert!(missing
            .first_row("SELECT name FROM names", &[], |row| row
                .column::<String>("name"))
            .is_none());
        store.inline = Some(Arc::new(missing));
        let found: Option<Name> = store
            .read_by_key(
                "SELECT name FROM names WHERE name = $1",
                &[Key::Text("bea")],
            )
            .await
            .unwrap();
        assert_eq!(found, Some(Name("bea".into())));
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A key too few or too many would leave a placeholder unbound (read as NULL) or be
    /// dropped: the inline path refuses the read instead.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_whose_keys_do_not_match_its_placeholders_is_refused() {
        let (store, dir) = store_with_names().await;
        let inline = store.inline.clone().unwrap();
        let by_name = "SELECT name FROM names WHERE name = $1";
        let decode = |row: &rusqlite::Row<'_>| row.column::<String>("name");
        assert!(inline.first_row(by_name, &[], decode).is_none());
        let two = [Key::Text("bea"), Key::Text("cy")];
        assert!(inline.first_row(by_name, &two, decode).is_none());
        let found = inline.first_row(by_name, &[Key::Text("bea")], decode);
        assert_eq!(found.unwrap().unwrap().as_deref(), Some("bea"));
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn neither_read_path_writes() {
        let (store, dir) = store_with_names().await;
        let written: Result<Option<Name>, _> = store
            .read_by_key(
                "INSERT INTO names (name) VALUES ('eve') RETURNING name",
                &[],
            )
            .await;
        assert!(written.is_err(), "a write went around the group commit");
        let inline = store.inline.clone().unwrap();
        assert_eq!(count(&inline), 3);
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
