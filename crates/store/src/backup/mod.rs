//! Backups and restores (S54). `gatehouse backup` takes an online, consistent copy of a
//! SQLite database (`VACUUM INTO` reads one snapshot while the server goes on writing);
//! `gatehouse restore` puts such a copy in place of the live file (`restore.rs`) and, in
//! the restored database, ends everything that let someone act as an account
//! (`end_all_access`), so that sessions, trusted devices, codes and products' tokens issued
//! after the backup point cannot come back to life with their rows. PostgreSQL's backups
//! are `pg_dump`'s job; after `pg_restore`, `Store::end_access_after_pg_restore` does the
//! same ending.
//!
//! A restore cannot undo a backup code used after the backup point: the copy still holds
//! it as active. Every restored account is marked (`accounts.restored_at`) until its owner
//! saves a new backup code, and its account page says so.

mod files;
mod restore;

use crate::{Backend, Store, StoreError, StoreResult, Tx};
use gatehouse_core::AccountId;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("gatehouse backup copies SQLite databases; for PostgreSQL use pg_dump --format=custom (see docs/deploy.md, \"Backups\")")]
    NotSqlite,
    #[error("there is no database at {}", .0.display())]
    NoDatabase(PathBuf),
    #[error("{} already exists; a backup never overwrites a file", .0.display())]
    Exists(PathBuf),
    #[error("the folder {} does not exist", .0.display())]
    NoFolder(PathBuf),
    #[error("cannot write the backup {}: {}", .0.display(), .1)]
    Write(PathBuf, std::io::Error),
    #[error("the backup path must be valid UTF-8")]
    NotUtf8,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("the database is PostgreSQL: restore it with pg_restore, then run gatehouse restore --after-pg-restore (see docs/deploy.md, \"Restore\")")]
    NotSqlite,
    #[error("--after-pg-restore is for PostgreSQL; the database is SQLite: run gatehouse restore PATH with a file gatehouse backup wrote")]
    NotPostgres,
    #[error("cannot read the backup {}: {}", .0.display(), .1)]
    Unreadable(PathBuf, std::io::Error),
    /// The backup file (or "the PostgreSQL database") and why.
    #[error("{0} is not a Gatehouse database ({1}); nothing was changed")]
    NotGatehouse(String, String),
    #[error("the backup's schema (migration {backup}) is newer than this gatehouse knows (migration {known}); restore it with the version that wrote it; nothing was changed")]
    NewerSchema { backup: i64, known: i64 },
    #[error("the database {} is in use: stop every gatehouse process using it (gatehouse serve, or another command), then restore again; nothing was changed", .0.display())]
    InUse(PathBuf),
    #[error("{0} other connections use this database: stop every gatehouse node first, then run gatehouse restore --after-pg-restore again; nothing was changed")]
    OtherConnections(i64),
    #[error("cannot tell whether a server uses {}: {}; if the file is damaged, move it aside and restore again; nothing was changed", .0.display(), .1)]
    LiveUnchecked(PathBuf, String),
    #[error("cannot put the restored database in place at {}: {}", .0.display(), .1)]
    Place(PathBuf, std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RestoreError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(StoreError::Unexpected(error))
    }
}

/// What a restore ended in the restored database: the one-line summary's numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreSummary {
    pub sessions: u64,
    pub trusted_devices: u64,
    /// Sign-ins in progress (with their e-mailed or texted codes and pending backup codes)
    /// and products' authorization requests waiting for one.
    pub sign_ins: u64,
    /// Products' grants, with every authorization code, access and refresh token of them.
    pub product_grants: u64,
    pub reset_links: u64,
    /// E-mail changes and sign-ups waiting for their code, and phone or authenticator
    /// enrolments not yet confirmed.
    pub pending_codes: u64,
    /// Accounts whose page now suggests a new backup code.
    pub accounts: u64,
}

impl std::fmt::Display for RestoreSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |count: u64, one: &str, many: &str| {
            format!("{count} {}", if count == 1 { one } else { many })
        };
        write!(
            f,
            "ended {}, {}, {}, {} (their codes and tokens), {} and {}; {} will be asked to get \
             a new backup code",
            n(self.sessions, "session", "sessions"),
            n(self.trusted_devices, "trusted device", "trusted devices"),
            n(self.sign_ins, "sign-in in progress", "sign-ins in progress"),
            n(self.product_grants, "product grant", "product grants"),
            n(self.reset_links, "reset link", "reset links"),
            n(
                self.pending_codes,
                "other pending code",
                "other pending codes"
            ),
            n(self.accounts, "account", "accounts"),
        )
    }
}

/// S54: ends, in the caller's transaction, everything in a restored database that let
/// someone act as an account or that was half-way to it. Rows already dead (ended,
/// revoked, expired) are left and not counted. The failure counters stay: a restore must
/// not hand an attacker a fresh budget.
async fn end_all_access(tx: &mut Tx, now: i64) -> StoreResult<RestoreSummary> {
    let at = Some(now);
    let sessions = changed(
        tx,
        "UPDATE sessions SET ended_at = $1 WHERE ended_at IS NULL AND expires_at > $1",
        at,
    )
    .await?;
    let trusted_devices = changed(
        tx,
        "UPDATE trusted_devices SET revoked_at = $1 WHERE revoked_at IS NULL AND expires_at > $1",
        at,
    )
    .await?;
    // A sign-in in progress takes its codes with it; the backup codes it was showing
    // (pending, never confirmed) go too.
    let sign_ins = changed(tx, "DELETE FROM sign_in_flows", None).await?
        + changed(tx, "DELETE FROM authorization_requests", None).await?;
    changed(
        tx,
        "DELETE FROM backup_codes WHERE status = 'pending'",
        None,
    )
    .await?;
    // A revoked grant takes every code, access token and refresh token it issued (S39, S44).
    let product_grants = changed(
        tx,
        "UPDATE oidc_grants SET revoked_at = $1 WHERE revoked_at IS NULL AND expires_at > $1",
        at,
    )
    .await?;
    let reset_links = changed(
        tx,
        "UPDATE password_resets SET used_at = $1 WHERE used_at IS NULL AND expires_at > $1",
        at,
    )
    .await?;
    let mut pending_codes = 0;
    for pending in [
        "DELETE FROM email_changes",
        "DELETE FROM registrations",
        "DELETE FROM phones WHERE verified_at IS NULL",
        "DELETE FROM totp_credentials WHERE confirmed_at IS NULL",
    ] {
        pending_codes += changed(tx, pending, None).await?;
    }
    let accounts = changed(tx, "UPDATE accounts SET restored_at = $1", at).await?;
    Ok(RestoreSummary {
        sessions,
        trusted_devices,
        sign_ins,
        product_grants,
        reset_links,
        pending_codes,
        accounts,
    })
}

/// Runs one statement of `end_all_access`, binding `now` when it takes it; the rows it
/// changed.
async fn changed(tx: &mut Tx, sql: &str, now: Option<i64>) -> StoreResult<u64> {
    let query = sqlx::query(sql);
    let query = match now {
        Some(now) => query.bind(now),
        None => query,
    };
    Ok(query.execute(&mut **tx).await?.rows_affected())
}

/// A new backup code is saved (from the sign-in or the account page): the account no
/// longer needs the restore's suggestion.
pub(crate) async fn clear_restored_mark(tx: &mut Tx, account_id: &AccountId) -> StoreResult<()> {
    sqlx::query("UPDATE accounts SET restored_at = NULL WHERE id = $1 AND restored_at IS NOT NULL")
        .bind(account_id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// `gatehouse backup PATH`: a copy of the SQLite database `database_url` names, taken
    /// as one consistent snapshot while the server goes on writing (in WAL mode a reader
    /// never blocks the writer). The file is claimed first, readable by its owner only (it
    /// holds password hashes and sealed secrets), so an existing file is never overwritten;
    /// `VACUUM INTO` itself also refuses one that is not empty. Returns the copy's size.
    pub async fn backup_database(database_url: &str, target: &Path) -> Result<u64, BackupError> {
        let backend = Backend::from_url(database_url)?;
        let live = backend
            .sqlite_file(database_url)
            .ok_or(BackupError::NotSqlite)?;
        if !live.is_file() {
            return Err(BackupError::NoDatabase(live));
        }
        let text = target.to_str().ok_or(BackupError::NotUtf8)?;
        let folder = files::folder_of(target);
        if !folder.is_dir() {
            return Err(BackupError::NoFolder(folder.to_path_buf()));
        }
        // Opened without `mode=rwc`: a backup must never create the database it copies.
        let url = files::sqlite_url(&live, "mode=rw").ok_or(BackupError::NotUtf8)?;
        let store = Store::connect(&url).await?;
        let written = store.vacuum_into(target, text).await;
        store.close().await;
        written
    }

    async fn vacuum_into(&self, target: &Path, text: &str) -> Result<u64, BackupError> {
        files::create_private(target).map_err(|error| match error.kind() {
            std::io::ErrorKind::AlreadyExists => BackupError::Exists(target.to_path_buf()),
            _ => BackupError::Write(target.to_path_buf(), error),
        })?;
        let copied = sqlx::query("VACUUM INTO $1")
            .bind(text)
            .execute(self.pool())
            .await;
        if let Err(error) = copied {
            let _ = std::fs::remove_file(target);
            return Err(StoreError::Unexpected(error).into());
        }
        // VACUUM INTO does not sync what it wrote; a backup must survive a power cut.
        files::sync_file_and_folder(target)
            .map_err(|error| BackupError::Write(target.to_path_buf(), error))
    }

    /// Whether the account was restored from a backup and has not saved a new backup code
    /// since (its account page then suggests one).
    pub async fn is_restored_account(&self, account_id: &AccountId) -> StoreResult<bool> {
        let restored: Option<Option<i64>> =
            sqlx::query_scalar("SELECT restored_at FROM accounts WHERE id = $1")
                .bind(account_id.as_str())
                .fetch_optional(self.pool())
                .await?;
        Ok(restored.flatten().is_some())
    }
}
