//! `gatehouse backup` and `gatehouse restore` (S54, docs/deploy.md "Backups"). They work on
//! the database's files before any Gatehouse is built (a restore runs with the server
//! stopped, and must not create a master key or migrate the live database first), so they
//! call the store directly: there is no rule to decide, only a copy to take or put back and
//! rows to end.

use crate::config::Config;
use anyhow::Result;
use gatehouse_app::{Clock, SystemClock};
use gatehouse_store::Store;
use std::path::Path;

/// `gatehouse backup PATH`: a consistent copy, taken while the server runs.
pub async fn backup(config: &Config, target: &Path) -> Result<()> {
    let size = Store::backup_database(config.database_url.expose(), target).await?;
    println!("backup written to {} ({size} bytes)", target.display());
    Ok(())
}

/// `gatehouse restore PATH` (SQLite) or `gatehouse restore --after-pg-restore`
/// (PostgreSQL, after `pg_restore`): the server must be stopped. Prints one line saying
/// what the restore ended.
pub async fn restore(config: &Config, backup: Option<&Path>) -> Result<()> {
    let url = config.database_url.expose();
    let now = SystemClock.now();
    match backup {
        Some(backup) => {
            let summary = Store::restore_from_file(url, backup, now).await?;
            println!("restored {}: {summary}", backup.display());
        }
        None => {
            let summary = Store::end_access_after_pg_restore(url, now).await?;
            println!("restored database prepared: {summary}");
        }
    }
    Ok(())
}
