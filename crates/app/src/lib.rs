//! The use cases of Gatehouse: start a sign-in, check a password, send and check a code,
//! trust a device, issue and confirm a backup code, keep sessions, administer accounts.
//!
//! Each use case joins a `core` decision with `store` and `delivery`, and this crate holds
//! the clock. It knows nothing of HTTP: what it returns are outcomes and typed errors, and
//! `web` decides what a person sees.

/// `impl From<StoreError>` for a use case's error: a `Conflict` (a uniqueness rule or a
/// compare-and-set that another request won, nothing written) means the outcome `$variant`;
/// any other store failure is `App`. One way to say it, so every use case reads the store's
/// refusals alike. Defined before the modules, which use it.
macro_rules! conflict_means {
    ($error:ty, $variant:ident) => {
        impl From<gatehouse_store::StoreError> for $error {
            fn from(error: gatehouse_store::StoreError) -> Self {
                match error {
                    gatehouse_store::StoreError::Conflict(_) => Self::$variant,
                    other => Self::App($crate::AppError::from(other)),
                }
            }
        }
    };
}

pub mod accounts;
pub mod audit;
pub mod authenticator;
mod budget;
pub mod clock;
pub mod email_change;
pub mod hashing;
mod mail;
mod metrics;
pub mod oidc;
pub mod passkeys;
pub mod password_change;
pub mod password_reset;
pub mod phone;
mod readiness;
pub mod recovery;
pub mod risk;
pub mod self_service;
pub mod sessions;
pub mod sign_in;
pub mod sign_up;
pub mod stop_sign_in;

pub use clock::{Clock, FixedClock, SystemClock};
pub use gatehouse_store::Readiness;
pub use hashing::HashingPool;

use gatehouse_core::password::PasswordHashString;
use gatehouse_core::{Email, MasterKey, Password};
use gatehouse_delivery::{Mailer, SmsSender};
use gatehouse_store::{AccountRow, Store};
use std::sync::Arc;

/// Lifetimes and limits an operator may tune. Defaults are what SECURITY.md asks for.
#[derive(Debug, Clone)]
pub struct Settings {
    /// S32: a session ends this long after it started, whatever happens.
    pub session_absolute_secs: i64,
    /// S32: and after this long without a request.
    pub session_idle_secs: i64,
    /// S26: how long "Trust this device" lasts; fixed, never sliding.
    pub trust_days: i64,
    /// DESIGN.md §1: active backup codes per account, 1 by default, at most 16.
    pub backup_codes_per_account: u32,
    /// S9: e-mailed codes per account per hour, across all sign-ins.
    pub codes_per_account_per_hour: u32,
    /// S34: changing how one signs in needs a sign-in at most this old.
    pub fresh_sign_in_secs: i64,
    /// Where people reach Gatehouse (`https://id.example.com`), for links in e-mails. When
    /// unset, the address the server listens on is used (see `Gatehouse::use_listen_address`).
    pub public_url: Option<String>,
    /// Against SMS pumping: texts per number per hour, per client address per hour, and for
    /// the whole service per day. Refused texts are counted and never reach the provider.
    pub sms_per_number_per_hour: u32,
    pub sms_per_client_per_hour: u32,
    pub sms_per_day: u32,
    /// How long security events are kept (S51, S57); the housekeeping task drops older ones.
    pub event_retention_days: i64,
    /// Self-service sign-up ("Create account"); off unless the operator turns it on.
    pub allow_sign_up: bool,
    /// S51: recorded with every security event, so a multi-node log says which node acted.
    pub node_name: String,
    /// Issue 12: how long a helpdesk recovery waits, after its notice, before the operator
    /// can issue its recovery link (`GATEHOUSE_RECOVERY_WAIT_HOURS`, 72 hours by default).
    pub recovery_wait_secs: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_absolute_secs: 12 * 60 * 60,
            session_idle_secs: 60 * 60,
            trust_days: 30,
            backup_codes_per_account: 1,
            codes_per_account_per_hour: 10,
            fresh_sign_in_secs: 10 * 60,
            public_url: None,
            allow_sign_up: false,
            sms_per_number_per_hour: 5,
            sms_per_client_per_hour: 10,
            sms_per_day: 1000,
            event_retention_days: 400,
            node_name: "gatehouse".into(),
            recovery_wait_secs: 72 * 60 * 60,
        }
    }
}

const DAY_SECS: i64 = 24 * 60 * 60;

/// A browser not seen for a year is a stranger again (S56, S57).
const KNOWN_BROWSER_RETENTION_DAYS: i64 = 365;

/// Who is asking: recorded in the audit log and used for per-address limits (S47, S51).
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub address: Option<String>,
    pub user_agent: Option<String>,
    /// The request's `X-Request-Id`, recorded with its security events; `None` outside a
    /// request (the admin CLI).
    pub request_id: Option<String>,
}

/// Everything a use case may need, built once at start-up and shared.
#[derive(Clone)]
pub struct Gatehouse {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    mailer: Mailer,
    sms: SmsSender,
    clock: Arc<dyn Clock>,
    hashing: HashingPool,
    settings: Settings,
    keys: MasterKey,
    /// The base of links in e-mails: the configured public URL, else the listening address
    /// once the server knows it. Never taken from a request's Host header, which an
    /// attacker chooses (reset-link poisoning).
    link_base: std::sync::OnceLock<String>,
    /// A hash no password matches, with real parameters: unknown addresses are checked
    /// against it so that they take as long as known ones (S46, DESIGN.md §1).
    dummy_hash: PasswordHashString,
    /// The passkey relying party (S58), built at first use from the public URL.
    webauthn: std::sync::OnceLock<Option<webauthn_rs::Webauthn>>,
    /// Decrypted ID-token signing keys by `kid`: immutable once written, so safe to cache.
    signing_keys:
        std::sync::Mutex<std::collections::HashMap<String, Arc<gatehouse_core::jose::SigningKey>>>,
    /// The JWKS document as served in this second of the clock (`oidc::ReadThisSecond`).
    jwks_this_second: oidc::ReadThisSecond<String>,
    /// Reads the token endpoint and introspection repeat many times a second, kept for the
    /// rest of the second they were read in (`oidc::ReadThisSecond`): clients by id, and the
    /// active signing key by algorithm.
    clients_this_second: oidc::ReadThisSecond<gatehouse_store::ClientRow>,
    active_keys_this_second: oidc::ReadThisSecond<gatehouse_store::SigningKeyRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not start the password hashing pool: {0}")]
    Threads(#[from] std::io::Error),
    #[error("could not prepare the timing-equaliser hash: {0}")]
    Hashing(#[from] gatehouse_core::password::HashingFailed),
}

impl Gatehouse {
    pub async fn build(
        store: Store,
        mailer: Mailer,
        sms: SmsSender,
        clock: Arc<dyn Clock>,
        keys: MasterKey,
        settings: Settings,
    ) -> Result<Self, StartError> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        // A queue of a few hundred milliseconds of work per core; beyond that, 503.
        let hashing = HashingPool::start(cores, cores * 16)?;
        hashing.calibrate();
        let dummy_hash = gatehouse_core::password::unmatchable_hash()?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                mailer,
                sms,
                clock,
                hashing,
                settings,
                keys,
                link_base: std::sync::OnceLock::new(),
                dummy_hash,
                webauthn: std::sync::OnceLock::new(),
                signing_keys: std::sync::Mutex::default(),
                jwks_this_second: oidc::ReadThisSecond::default(),
                clients_this_second: oidc::ReadThisSecond::default(),
                active_keys_this_second: oidc::ReadThisSecond::default(),
            }),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Tells the use cases the address the server listens on, for links in e-mails when no
    /// public URL is configured. Only the first call counts.
    pub fn use_listen_address(&self, address: std::net::SocketAddr) {
        let base = self
            .inner
            .settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{address}"));
        let _ = self
            .inner
            .link_base
            .set(base.trim_end_matches('/').to_string());
    }

    fn link_base(&self) -> String {
        self.inner
            .link_base
            .get()
            .cloned()
            .or_else(|| self.inner.settings.public_url.clone())
            .unwrap_or_else(|| "http://127.0.0.1:8080".into())
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// A new password's Argon2id hash, on the hashing pool; a full queue is `Busy` (503).
    pub(crate) async fn hash_password(
        &self,
        password: Password,
    ) -> Result<PasswordHashString, AppError> {
        Ok(self.inner.hashing.hash(password).await?)
    }

    /// The account registered under an address, if any: accounts are keyed by the
    /// normalised form that `Email` holds.
    pub(crate) async fn account_at(
        &self,
        email: &Email,
    ) -> Result<Option<AccountRow>, gatehouse_store::StoreError> {
        self.inner.store.find_account_by_email(email.as_str()).await
    }

    fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    /// Forgets what has expired or outlived its use; run periodically by the server (S57).
    /// Returns how many rows went.
    pub async fn housekeeping(&self) -> Result<u64, AppError> {
        let now = self.now();
        let store = &self.inner.store;
        let retention = self
            .inner
            .settings
            .event_retention_days
            .saturating_mul(DAY_SECS);
        let mut forgotten = store.delete_expired_flows(now).await?;
        forgotten += store.delete_expired_stop_links(now).await?;
        forgotten += self.apply_due_email_changes(now).await?;
        forgotten += store.delete_expired_oidc_records(now).await?;
        forgotten += store.delete_expired_registrations(now).await?;
        forgotten += store.delete_expired_passkey_ceremonies(now).await?;
        forgotten += self.prune_budgets(now).await?;
        forgotten += store
            .delete_known_browsers_unseen_since(now - KNOWN_BROWSER_RETENTION_DAYS * DAY_SECS)
            .await?;
        forgotten += store.delete_events_before(now - retention).await?;
        forgotten += store.delete_mail_outcomes_before(now - retention).await?;
        Ok(forgotten)
    }

    pub async fn health(&self) -> Result<(), AppError> {
        Ok(self.inner.store.ping().await?)
    }
}

/// Failures that no person caused: the database, the mail server, a full hashing queue.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("hashing queue full")]
    Busy,
    /// Made only through `From`, which counts it (`metrics::database_error`).
    #[error(transparent)]
    Store(gatehouse_store::StoreError),
    #[error(transparent)]
    Delivery(#[from] gatehouse_delivery::DeliveryError),
    #[error(transparent)]
    Hashing(hashing::HashingError),
    /// Its cause stays attached, so the log shows the whole chain.
    #[error("unexpected")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl AppError {
    /// A failure that should not happen (a key that does not open, a corrupt row).
    pub(crate) fn unexpected(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unexpected(Box::new(cause))
    }
}

/// A cause that is only a sentence: our own data contradicting itself (an unknown
/// algorithm in a key row, a session without its account).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Inconsistent(String);

impl Inconsistent {
    pub(crate) fn new(what: impl Into<String>) -> Self {
        Self(what.into())
    }
}

/// The one way a store failure becomes a failure of the use case, so every one is counted
/// for operators (`gatehouse_database_errors_total`). A `Conflict` that reaches here is a
/// refusal nobody expected, not a database fault, and is not counted.
impl From<gatehouse_store::StoreError> for AppError {
    fn from(error: gatehouse_store::StoreError) -> Self {
        if !matches!(error, gatehouse_store::StoreError::Conflict(_)) {
            crate::metrics::database_error();
        }
        Self::Store(error)
    }
}

impl From<hashing::HashingError> for AppError {
    fn from(error: hashing::HashingError) -> Self {
        match error {
            hashing::HashingError::Busy => Self::Busy,
            other => Self::Hashing(other),
        }
    }
}
