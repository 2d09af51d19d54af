//! `gatehouse restore`: on SQLite, a backup file is copied beside the live database, checked,
//! migrated and stripped of every way in (`end_all_access`) while it is still a temporary
//! file, then renamed over the live one in one step, so the live path only ever names the
//! old database or the finished restored one. On PostgreSQL, after `pg_restore`, the same
//! migration and ending run on the restored database itself.
//!
//! "No server uses the live file" is checked, not assumed: a server holds its one SQLite
//! connection open for as long as it runs, in WAL mode, and an open WAL connection keeps a
//! shared lock on the file, so leaving WAL mode (which needs every other connection closed,
//! and cannot wait for it) fails while any gatehouse process has the file open. Its limit: a
//! server started in the moment between that check and the rename could open the old file.

use super::files;
use super::{end_all_access, RestoreError, RestoreSummary};
use crate::backend::is_sqlite_busy;
use crate::{Backend, Store, StoreError, StoreResult};
use sqlx::{AnyConnection, Connection};
use std::fs::{File, OpenOptions};
use std::path::Path;

impl Store {
    /// `gatehouse restore PATH` on SQLite: puts the backup at `backup` in place of the
    /// database `database_url` names, migrated and with every session, trusted device, code,
    /// sign-in in progress and product grant ended (S54). Any refusal leaves the live
    /// database as it was, and the backup file is only ever read.
    pub async fn restore_from_file(
        database_url: &str,
        backup: &Path,
        now: i64,
    ) -> Result<RestoreSummary, RestoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(database_url)?;
        let Some(live) = backend.sqlite_file(database_url) else {
            return Err(match backend {
                Backend::Postgres => RestoreError::NotSqlite,
                Backend::Sqlite => StoreError::UnsupportedUrl(
                    "an in-memory SQLite database cannot be restored".into(),
                )
                .into(),
            });
        };
        let mut source =
            File::open(backup).map_err(|e| RestoreError::Unreadable(backup.to_path_buf(), e))?;
        let place = |error| RestoreError::Place(live.clone(), error);
        std::fs::create_dir_all(files::folder_of(&live)).map_err(place)?;
        let temp = files::create_beside(&live, "restore").map_err(place)?;
        let outcome = async {
            let mut copy = OpenOptions::new().write(true).open(&temp).map_err(place)?;
            std::io::copy(&mut source, &mut copy)
                .map_err(|e| RestoreError::Unreadable(backup.to_path_buf(), e))?;
            drop(copy);
            let url = files::sqlite_url(&temp, "mode=rw").ok_or_else(|| {
                place(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the path must be valid UTF-8",
                ))
            })?;
            check_gatehouse_copy(&url, backup, backend).await?;
            let summary = prepare_copy(&url, now).await?;
            files::remove_sidecars(&temp).map_err(place)?;
            files::sync_file_and_folder(&temp).map_err(place)?;
            swap_into_place(&temp, &live).await?;
            Ok(summary)
        }
        .await;
        if outcome.is_err() {
            files::discard(&temp);
        }
        outcome
    }

    /// `gatehouse restore --after-pg-restore`: the database `database_url` names was just
    /// restored with `pg_restore`; brings it to the current schema and ends everything in it
    /// that let someone act as an account (S54). Refused while other clients are connected
    /// (a node still running would serve from it meanwhile).
    pub async fn end_access_after_pg_restore(
        database_url: &str,
        now: i64,
    ) -> Result<RestoreSummary, RestoreError> {
        if Backend::from_url(database_url)? != Backend::Postgres {
            return Err(RestoreError::NotPostgres);
        }
        let store = Store::connect(database_url).await?;
        let outcome = async {
            let others: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()
                   AND backend_type = 'client backend'",
            )
            .fetch_one(store.pool())
            .await?;
            if others > 0 {
                return Err(RestoreError::OtherConnections(others));
            }
            let migrated: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = '_sqlx_migrations'",
            )
            .fetch_one(store.pool())
            .await?;
            if migrated == 0 {
                return Err(RestoreError::NotGatehouse(
                    "the PostgreSQL database".into(),
                    "it has no migrations table: was pg_restore run into it?".into(),
                ));
            }
            store.migrate().await?;
            Ok(end_all_access_once(&store, now).await?)
        }
        .await;
        store.close().await;
        outcome
    }
}

/// `end_all_access` as one transaction of its own.
async fn end_all_access_once(store: &Store, now: i64) -> StoreResult<RestoreSummary> {
    store
        .in_transaction(|mut tx| async move {
            let summary = end_all_access(&mut tx, now).await?;
            tx.commit(summary).await
        })
        .await
}

/// Refuses, before anything is migrated or replaced, a copy that is not a Gatehouse
/// database: not SQLite at all, damaged, without sqlx's migrations table, with migrations
/// that are not Gatehouse's, or from a newer Gatehouse than this one.
async fn check_gatehouse_copy(
    url: &str,
    backup: &Path,
    backend: Backend,
) -> Result<(), RestoreError> {
    let not_gatehouse = |why: String| RestoreError::NotGatehouse(backup.display().to_string(), why);
    let mut connection = AnyConnection::connect(url)
        .await
        .map_err(|e| not_gatehouse(e.to_string()))?;
    let outcome = async {
        let tables: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&mut connection)
        .await
        .map_err(|e| not_gatehouse(e.to_string()))?;
        if tables == 0 {
            return Err(not_gatehouse("it has no migrations table".into()));
        }
        let check: String = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_one(&mut connection)
            .await
            .map_err(|e| not_gatehouse(e.to_string()))?;
        if check != "ok" {
            return Err(not_gatehouse(format!("it is damaged: {check}")));
        }
        let applied: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&mut connection)
                .await
                .map_err(|e| not_gatehouse(e.to_string()))?;
        check_migrations(&applied, backend).map_err(|error| match error {
            MigrationsCheck::Newer { backup, known } => RestoreError::NewerSchema { backup, known },
            MigrationsCheck::Foreign(why) => not_gatehouse(why),
        })
    }
    .await;
    let _ = connection.close().await;
    outcome
}

enum MigrationsCheck {
    Newer { backup: i64, known: i64 },
    Foreign(String),
}

/// Every migration the copy records must be one of ours, byte for byte (sqlx's checksum).
fn check_migrations(applied: &[(i64, Vec<u8>)], backend: Backend) -> Result<(), MigrationsCheck> {
    let ours: Vec<_> = backend
        .migrator()
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    let known = ours.iter().map(|m| m.version).max().unwrap_or(0);
    if applied.is_empty() {
        return Err(MigrationsCheck::Foreign(
            "no migration was ever applied to it".into(),
        ));
    }
    for (version, checksum) in applied {
        match ours.iter().find(|m| m.version == *version) {
            Some(m) if m.checksum.as_ref() == checksum.as_slice() => {}
            Some(_) => {
                return Err(MigrationsCheck::Foreign(format!(
                    "its migration {version} is not Gatehouse's"
                )))
            }
            None if *version > known => {
                return Err(MigrationsCheck::Newer {
                    backup: *version,
                    known,
                })
            }
            None => {
                return Err(MigrationsCheck::Foreign(format!(
                    "its migration {version} is not one of Gatehouse's"
                )))
            }
        }
    }
    Ok(())
}

/// Migrates the temporary copy and ends every way in, in one transaction, then leaves WAL
/// mode so that everything is in the one file about to be renamed.
async fn prepare_copy(url: &str, now: i64) -> Result<RestoreSummary, RestoreError> {
    let store = Store::connect(url).await?;
    let outcome = async {
        store.migrate().await?;
        let summary = end_all_access_once(&store, now).await?;
        sqlx::query("PRAGMA journal_mode = DELETE")
            .execute(store.pool())
            .await?;
        Ok(summary)
    }
    .await;
    store.close().await;
    outcome
}

/// Renames the prepared copy over the live file while holding the live file's exclusive
/// lock, after checking that no other connection has it open. Stale `-wal`/`-shm` files (a
/// server that was killed leaves them) are removed first: they belong to the old database.
async fn swap_into_place(temp: &Path, live: &Path) -> Result<(), RestoreError> {
    let place = |error| RestoreError::Place(live.to_path_buf(), error);
    if std::fs::symlink_metadata(live).is_err() {
        files::remove_sidecars(live).map_err(place)?;
        std::fs::rename(temp, live).map_err(place)?;
        files::sync_file_and_folder(live).map_err(place)?;
        return Ok(());
    }
    let refused = |error: sqlx::Error| {
        if is_sqlite_busy(&error) {
            RestoreError::InUse(live.to_path_buf())
        } else {
            RestoreError::LiveUnchecked(live.to_path_buf(), error.to_string())
        }
    };
    let url = files::sqlite_url(live, "mode=rw").ok_or_else(|| {
        place(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path must be valid UTF-8",
        ))
    })?;
    let mut connection = AnyConnection::connect(&url).await.map_err(refused)?;
    let outcome = async {
        // Leaving WAL cannot wait for a lock: it fails at once if any connection is open.
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode = DELETE")
            .fetch_one(&mut connection)
            .await
            .map_err(refused)?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(RestoreError::InUse(live.to_path_buf()));
        }
        // Out of WAL, an exclusive lock keeps every reader out until the rename is done.
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut connection)
            .await
            .map_err(refused)?;
        files::remove_sidecars(live).map_err(place)?;
        std::fs::rename(temp, live).map_err(place)?;
        files::sync_file_and_folder(live).map_err(place)?;
        Ok(())
    }
    .await;
    // The lock was on the old file, now unlinked (or, after a refusal, on the live one,
    // which nothing changed): ending it writes nothing.
    let _ = sqlx::query("ROLLBACK").execute(&mut connection).await;
    let _ = connection.close().await;
    outcome
}
