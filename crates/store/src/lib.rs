//! Persistence: one `Store` over sqlx's `AnyPool`, with the same SQL for SQLite and
//! PostgreSQL (`$n` placeholders, integers, text and bytes only).
//!
//! The store knows rows, not rules: it never decides whether a code is right or an account
//! locked (that is `core`), but it makes the decisions stick atomically. Every one-time
//! thing is consumed with a compare-and-set and every change that must hold together is one
//! transaction (S23, S48, S53). The only place the two backends differ is `Backend`.

mod accounts;
mod backend;
mod backup;
mod backup_codes;
mod counters;
mod delayed_email_changes;
mod email_changes;
mod events;
mod flows;
mod group_commit;
mod inline_reads;
mod known_browsers;
mod mail_deliveries;
mod oidc_clients;
mod oidc_grants;
mod passkeys;
mod password_resets;
mod phones;
mod point_reads;
mod readers;
mod readiness;
mod recoveries;
mod registrations;
mod risks;
mod sessions;
mod signing_keys;
mod stop_links;
mod totp;
mod trusted_devices;

pub use accounts::{AccountRow, RemovedSecondFactors};
pub use backend::Backend;
pub use backup::{BackupError, RestoreError, RestoreSummary};
pub use backup_codes::NewBackupCode;
pub use counters::{CounterChanges, WindowTake};
pub use delayed_email_changes::DelayedEmailChange;
pub use email_changes::EmailChangeRow;
pub use events::SecurityEvent;
pub use flows::{AccountGuard, FlowCommit, FlowRow};
pub use known_browsers::{KnownBrowser, KNOWN_BROWSERS_PER_ACCOUNT};
pub use mail_deliveries::MailOutcome;
pub use oidc_clients::ClientRow;
pub use oidc_grants::{
    AuthorizationRequestRow, CodeRow, ConnectedProduct, GrantRow, NewCode, NewGrant, NewToken,
    TokenKind, TokenRow,
};
pub use passkeys::{CeremonyRow, PasskeyRow, PasskeyUse};
pub use phones::PhoneRow;
pub use readiness::Readiness;
pub use recoveries::{CancelledBy, RecoveryRow};
pub use registrations::RegistrationRow;
pub use risks::RiskFacts;
pub use sessions::{NewSession, SessionRow, SessionSummary};
pub use signing_keys::SigningKeyRow;
pub use stop_links::{NewStopLink, StopLinkState, StopRefused, StoppedSignIn};
pub use totp::TotpRow;
pub use trusted_devices::{NewTrustedDevice, TrustedDeviceRow};

use gatehouse_core::AccountId;
use group_commit::{GroupCommit, Turn};
use inline_reads::InlineReaders;
use point_reads::Columns;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule or a compare-and-set refused the change: somebody else got there
    /// first, or the thing already exists. Nothing was written.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("unsupported database URL: {0}")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Unexpected(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// The one place where constraint violations become `Conflict`.
    fn on_constraint(error: sqlx::Error, what: &'static str) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(what),
            _ => Self::Unexpected(error),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    /// Writes. For SQLite one connection (SQLite has one writer), shared by the group
    /// commit's batches and single-statement writes; for PostgreSQL the one pool.
    pool: AnyPool,
    /// Reads outside transactions (`readers.rs`): for a SQLite file, read-only connections
    /// beside the writer, which WAL lets see the last commit while a batch is being written;
    /// otherwise the same pool as `pool`.
    reader: AnyPool,
    /// For a SQLite file, the hottest reads on the calling thread (`inline_reads.rs`).
    inline: Option<Arc<InlineReaders>>,
    /// SQLite's group commit (`group_commit.rs`); `None` for PostgreSQL.
    writer: Option<Arc<GroupCommit>>,
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects to `sqlite://…` or `postgres://…`. Connecting does not migrate.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = backend.normalise_url(url);
        let pool = backend
            .pool_options(AnyPoolOptions::new())
            .after_connect(move |conn, _meta| Box::pin(async move { backend.prepare(conn).await }))
            .connect(&url)
            .await?;
        let reader = readers::pool_beside(backend, &url, &pool)?;
        let inline = backend
            .sqlite_file(&url)
            .map(|file| Arc::new(InlineReaders::new(&file)));
        let writer = match backend {
            Backend::Sqlite => Some(GroupCommit::start(pool.clone())),
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            reader,
            inline,
            writer,
            backend,
        })
    }

    /// Brings the schema up to date; safe to run at every start and from several nodes.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.backend.migrator().run(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.pool.close().await;
    }

    /// A liveness probe for `/healthz`: on a read connection, so it never queues behind writes.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(self.reader()).await?;
        Ok(())
    }

    /// Where writes outside `in_transaction` go (and reads that must see them at once).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Where reads outside a transaction go. A read here sees every commit that was answered
    /// before it began (`readers.rs` shows it), but nothing of a transaction still open:
    /// a read that a write must depend on belongs inside that write's transaction.
    pub(crate) fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// The one way a transaction begins. `work` gets it, runs its statements and ends with
    /// `tx.commit(value)`; an error before that rolls it back. When the database aborts the
    /// transaction as a deadlock's victim or a serialization failure
    /// (`backend::is_retryable`), which several nodes writing the same rows can cause,
    /// nothing of it was written, so `work` runs again in a new transaction after a short
    /// random pause, up to `TRANSACTION_ATTEMPTS` times in all; after that, that error is
    /// returned, as any other is at once.
    pub(crate) async fn in_transaction<T, Work, Done>(&self, mut work: Work) -> StoreResult<T>
    where
        Work: FnMut(Tx) -> Done,
        Done: Future<Output = StoreResult<Committed<T>>>,
    {
        let mut attempt = 1;
        loop {
            let outcome = match self.begin().await {
                Ok(tx) => work(tx).await.map(|Committed(value)| value),
                Err(error) => Err(error.into()),
            };
            match outcome {
                Err(StoreError::Unexpected(error))
                    if attempt < TRANSACTION_ATTEMPTS && backend::is_retryable(&error) =>
                {
                    tracing::debug!(attempt, %error, "transaction aborted by the database; running it again");
                    tokio::time::sleep(retry_pause(attempt)).await;
                    attempt += 1;
                }
                Err(StoreError::Conflict(what)) => {
                    self.settle_batch().await;
                    return Err(StoreError::Conflict(what));
                }
                outcome => return outcome,
            }
        }
    }
}

impl Store {
    /// A transaction of its own on PostgreSQL; a turn in the group commit's batch on SQLite.
    /// A `Conflict` says someone else got there first. On SQLite that someone may be a
    /// caller earlier in the same open batch, whose work this caller's statements saw but
    /// which no reader sees until the batch commits. So the conflict is reported only once
    /// the batch it happened in is committed: a loser that then reads (the JWKS after two
    /// key makers raced) finds the winner's rows. An empty turn joins the open batch, or the
    /// next one, and waits for its commit; failing that, there is nothing better to wait for.
    async fn settle_batch(&self) {
        if let Some(writer) = &self.writer {
            if let Ok(turn) = writer.turn().await {
                let _ = turn.release().await;
            }
        }
    }

    async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match &self.writer {
            Some(writer) => Tx(TxInner::Turn(writer.turn().await?)),
            None => Tx(TxInner::Own(self.pool.begin().await?)),
        })
    }
}

/// A transaction `Store::in_transaction` began; statements run on it as on a connection
/// (`.execute(&mut *tx)`, or `&mut **tx` through a `&mut Tx`). Dropped without
/// `commit`, it is rolled back.
pub(crate) struct Tx(TxInner);

enum TxInner {
    /// PostgreSQL: a transaction of its own (PostgreSQL groups commits itself).
    Own(Transaction<'static, Any>),
    /// SQLite: a savepoint in a batch that commits with others (`group_commit.rs`).
    Turn(Turn),
}

/// What a transaction's work hands back once it committed; only `Tx::commit` makes one, so
/// work that forgets to commit does not compile.
pub(crate) struct Committed<T>(T);

impl Tx {
    /// Commits the work, and returns once it is durable (for SQLite, once the batch
    /// holding it has been committed).
    pub(crate) async fn commit<T>(self, value: T) -> StoreResult<Committed<T>> {
        match self.0 {
            TxInner::Own(tx) => tx.commit().await?,
            TxInner::Turn(turn) => turn.release().await?,
        }
        Ok(Committed(value))
    }
}

impl Deref for Tx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match &self.0 {
            TxInner::Own(tx) => tx,
            TxInner::Turn(turn) => turn,
        }
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.0 {
            TxInner::Own(tx) => tx,
            TxInner::Turn(turn) => turn,
        }
    }
}

/// A transaction's first run and up to five more after the database aborted it.
const TRANSACTION_ATTEMPTS: u32 = 6;

/// 5, 10, 20, 40, 80 ms, each plus up to as much again at random, so that two transactions
/// that deadlocked each other do not meet again in step.
fn retry_pause(attempt: u32) -> Duration {
    let base_ms = 5u64 << attempt.saturating_sub(1).min(4);
    // A fresh `RandomState` is randomly keyed: enough randomness for a jitter, no crate.
    let jitter_ms = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        % (base_ms + 1);
    Duration::from_millis(base_ms + jitter_ms)
}

/// The one way a stored name or id is read back into its type: text the type does not know
/// can only come from a damaged row, so the read fails with a decode error naming `what`,
/// never a panic or a guess.
pub(crate) fn parse_stored<T>(
    text: &str,
    what: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, sqlx::Error> {
    parse(text).ok_or_else(|| sqlx::Error::Decode(format!("unknown {what}: {text:?}").into()))
}

/// An account id read back from a column.
pub(crate) fn account_id(text: &str) -> Result<AccountId, sqlx::Error> {
    parse_stored(text, "account id", AccountId::parse)
}

/// `account_id` applied to the named column of a row.
pub(crate) fn get_account_id<R: Columns>(row: &R, column: &str) -> Result<AccountId, sqlx::Error> {
    account_id(&row.column::<String>(column)?)
}

/// Likewise for a column that may be NULL (a flow before its password step, an event of
/// no known account).
pub(crate) fn get_optional_account_id<R: Columns>(
    row: &R,
    column: &str,
) -> Result<Option<AccountId>, sqlx::Error> {
    row.column::<Option<String>>(column)?
        .as_deref()
        .map(account_id)
        .transpose()
}

/// Converts a stored count back; a negative or absurd value from a corrupted row becomes 0
/// rather than a panic.
pub(crate) fn to_u32(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(0)
}
