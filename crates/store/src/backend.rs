//! The one place where SQLite and PostgreSQL differ: URLs, connection set-up, pool size,
//! which migrations to run, and which errors mean "run the transaction again". Call sites
//! never branch on the backend. (Backups are the exception that proves it: only SQLite has
//! files to copy, so `backup.rs` knows them, and PostgreSQL's are `pg_dump`'s job.)

use crate::{StoreError, StoreResult};
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::AnyConnection;
use std::path::PathBuf;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> StoreResult<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            Err(StoreError::UnsupportedUrl(format!(
                "{scheme}: (use sqlite://PATH or postgres://…)"
            )))
        }
    }

    /// SQLite files are created on first use.
    pub(crate) fn normalise_url(self, url: &str) -> String {
        match self {
            Self::Sqlite if !url.contains("mode=") => {
                let joiner = if url.contains('?') { '&' } else { '?' };
                format!("{url}{joiner}mode=rwc")
            }
            Self::Sqlite | Self::Postgres => url.to_string(),
        }
    }

    /// SQLite allows one writer at a time; a single connection turns what would be
    /// SQLITE_BUSY upgrade failures into an orderly queue. Every statement is short, and no
    /// transaction is ever held across password hashing. That one connection stays open as
    /// long as the process (never closed as idle or old): an open WAL connection is how
    /// `gatehouse restore` tells that a server still uses the file.
    pub(crate) fn pool_options(self, options: AnyPoolOptions) -> AnyPoolOptions {
        match self {
            Self::Sqlite => options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None),
            Self::Postgres => options.max_connections(16),
        }
    }

    /// The database file a `sqlite:` URL names (`sqlite://PATH` or `sqlite:PATH`, options
    /// after `?` aside); `None` for PostgreSQL and for SQLite's in-memory databases.
    pub(crate) fn sqlite_file(self, url: &str) -> Option<PathBuf> {
        if self != Self::Sqlite {
            return None;
        }
        let rest = url.strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && !path.starts_with(':')).then(|| PathBuf::from(path))
    }

    /// DESIGN.md §3: WAL with `synchronous=FULL` and foreign keys, so that a crash never
    /// loses a committed "code used" or "attempt counted" row (S53).
    pub(crate) async fn prepare(self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        if self == Self::Sqlite {
            for pragma in [
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = FULL",
                "PRAGMA foreign_keys = ON",
                "PRAGMA busy_timeout = 10000",
            ] {
                sqlx::query(pragma).execute(&mut *conn).await?;
            }
        }
        Ok(())
    }

    pub(crate) fn migrator(self) -> &'static Migrator {
        match self {
            Self::Sqlite => &SQLITE_MIGRATIONS,
            Self::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// PostgreSQL's SQLSTATEs for a transaction it aborted so that others could go on: a
/// serialization failure (40001) and a deadlock's victim (40P01). Nothing of the aborted
/// transaction was written, so running it again is safe. SQLite reports numeric result
/// codes, never these, and waits for its lock instead (`busy_timeout`).
const RETRYABLE_SQLSTATES: [&str; 2] = ["40001", "40P01"];

/// Whether `error` is a transaction the database aborted and that may simply run again.
pub(crate) fn is_retryable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| RETRYABLE_SQLSTATES.contains(&code.as_ref())),
        _ => false,
    }
}

/// Whether `error` is SQLite saying another connection holds the lock it wanted
/// (SQLITE_BUSY or SQLITE_LOCKED, whatever their extended codes).
pub(crate) fn is_sqlite_busy(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<u32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::error::{DatabaseError, ErrorKind};
    use std::borrow::Cow;

    /// A database error carrying exactly this code, as a driver would report it.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl DatabaseError for Coded {
        fn message(&self) -> &str {
            "test"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> ErrorKind {
            ErrorKind::Other
        }
    }

    fn coded(code: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(Coded(code)))
    }

    #[test]
    fn only_serialization_failures_and_deadlocks_are_run_again() {
        assert!(is_retryable(&coded("40001")), "serialization failure");
        assert!(is_retryable(&coded("40P01")), "deadlock detected");
        for other in ["23505", "40002", "57014", "5", "517", "08006"] {
            assert!(!is_retryable(&coded(other)), "{other} is not retried");
        }
        assert!(!is_retryable(&sqlx::Error::PoolTimedOut));
        assert!(!is_retryable(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn sqlite_busy_and_locked_are_recognised_by_their_primary_code() {
        for busy in ["5", "6", "261", "517", "773", "262"] {
            assert!(is_sqlite_busy(&coded(busy)), "{busy}");
        }
        for other in ["26", "1", "40P01", "11"] {
            assert!(!is_sqlite_busy(&coded(other)), "{other}");
        }
    }

    #[test]
    fn the_file_of_a_sqlite_url() {
        let file = |url| Backend::Sqlite.sqlite_file(url);
        assert_eq!(
            file("sqlite:///var/lib/g/gatehouse.db"),
            Some(PathBuf::from("/var/lib/g/gatehouse.db"))
        );
        assert_eq!(
            file("sqlite://data/g.db?mode=rwc"),
            Some(PathBuf::from("data/g.db"))
        );
        assert_eq!(file("sqlite:g.db"), Some(PathBuf::from("g.db")));
        assert_eq!(file("sqlite::memory:"), None);
        assert_eq!(Backend::Postgres.sqlite_file("postgres://h/db"), None);
    }
}
