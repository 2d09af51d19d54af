//! The one place where SQLite and PostgreSQL differ: URLs, connection set-up, pool size and
//! which migrations to run. Call sites never branch on the backend.

use crate::{StoreError, StoreResult};
use sqlx::migrate::Migrator;
use sqlx::AnyConnection;

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
    /// transaction is ever held across password hashing.
    pub(crate) fn max_connections(self) -> u32 {
        match self {
            Self::Sqlite => 1,
            Self::Postgres => 16,
        }
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
