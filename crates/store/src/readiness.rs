//! Whether this node may take traffic (`/readyz`): the database answers, and every migration
//! this binary carries is applied. It only reads; it never migrates or repairs anything.
//!
//! A node whose schema is behind (a migration row gone, one that failed, a database that was
//! never migrated) would answer requests with queries the tables cannot serve, so it must be
//! told apart from a database that does not answer at all: the operator fixes them
//! differently (run `gatehouse migrate` versus look at the database server).

use crate::{Store, StoreResult};

/// What the database says about serving. An unreachable database is the `Err` of
/// [`Store::readiness`], not a variant: nothing about the schema can be known then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// The database answers, but a migration embedded in this binary is missing or failed.
    SchemaNotCurrent,
}

impl Store {
    /// `Ready` when the database answers and every embedded migration is recorded as
    /// applied successfully; an error when the database does not answer.
    pub async fn readiness(&self) -> StoreResult<Readiness> {
        self.ping().await?;
        // sqlx's own bookkeeping table, the same on both backends; `success` is false for a
        // migration that started and did not finish.
        let applied: Vec<i64> =
            match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(self.reader())
                .await
            {
                Ok(versions) => versions,
                // The database answered the ping a moment ago: an error of the database
                // itself here is a missing table, a schema never migrated.
                Err(sqlx::Error::Database(_)) => return Ok(Readiness::SchemaNotCurrent),
                Err(other) => return Err(other.into()),
            };
        let current = self
            .backend()
            .migrator()
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .all(|m| applied.contains(&m.version));
        Ok(if current {
            Readiness::Ready
        } else {
            Readiness::SchemaNotCurrent
        })
    }
}
