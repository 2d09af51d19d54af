//! Every counted thing in one place: the attempt budgets that guesses spend before they are
//! checked (S10, S19, S25, S47, S48), and the hourly windows that limit how many messages a
//! person or an address can cause (S9, S57). Also the one order in which a guess at a
//! code kept on its own row (sign-up, e-mail change) is counted and checked.
//!
//! A budget is a row of `failure_counters` under a typed key; a guess first *claims* a unit
//! with a compare-and-set on the count it read, so parallel guesses cannot overspend it and
//! several nodes share it. Use cases name budgets with [`Budget`] and never build a key by
//! hand; `core::LockoutPolicy` decides, this module counts.

use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::flow::MAX_SECOND_STEP_ATTEMPTS;
use gatehouse_core::{AccountId, Admission, LockoutPolicy, OtpCode};
use gatehouse_store::{CounterChanges, StoreResult, WindowTake};
use std::future::Future;

/// A run of failures with nothing new for a month is forgotten by the housekeeping task
/// (S57): long past every delay, and the same for every key, known address or not (S46).
const FAILURE_RETENTION_SECS: i64 = 30 * 24 * 60 * 60;

/// No window is longer than a day (the service's texts per day); older rows have run out.
const LONGEST_WINDOW_SECS: i64 = 2 * 24 * 60 * 60;

/// How often a claim lost to a parallel one is tried again before the attempt is refused.
const CLAIM_RETRIES: usize = 4;

/// The outcome of claiming an attempt from a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    Granted,
    Refused,
}

/// How one guess at a code kept on its own row turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeGuess {
    /// The row's five guesses, or the budget, are spent: the code was not looked at.
    Refused,
    /// A parallel guess took the row's attempt first: this one was not looked at either.
    Raced,
    Wrong,
    Right,
}

/// What one password guess took from the budgets (S47, S56), so that a success or a guess
/// that was never checked can settle it.
#[derive(Debug, Clone)]
pub(crate) enum PasswordClaim {
    /// From a browser that signed in to the account before: its own budget only.
    KnownBrowser(Budget),
    /// From anywhere else: a unit of the client address's budget (when the address is
    /// known) and one of the account's.
    Elsewhere {
        address: Option<Budget>,
        account: Budget,
    },
    /// A budget refused: the guess must not be checked (S55).
    Refused,
}

impl PasswordClaim {
    pub(crate) fn admitted(&self) -> bool {
        !matches!(self, Self::Refused)
    }

    /// Whether the guess counted on the account's own budget, the one that locks.
    pub(crate) fn charged_the_account(&self) -> bool {
        matches!(self, Self::Elsewhere { .. })
    }
}

/// One attempt budget: its counter key and the policy that admits guesses against it.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    /// What it counts, for metrics: a fixed name, never anything of the key (S51).
    kind: &'static str,
    key: String,
    policy: LockoutPolicy,
}

impl Budget {
    /// Password guesses at an address, known or not, so the delay reveals nothing (S46, S47).
    pub(crate) fn account(normalised_email: &str) -> Self {
        Self {
            kind: "account",
            key: format!("account:{normalised_email}"),
            policy: LockoutPolicy::ACCOUNT,
        }
    }

    /// Password guesses from one client address (IPv6: its /64).
    pub(crate) fn client(address: &str) -> Self {
        Self {
            kind: "client",
            key: client_key(address),
            policy: LockoutPolicy::CLIENT_ADDRESS,
        }
    }

    /// Code, backup-code and enrolment guesses of one account, across sign-ins and nodes
    /// (S10, S19, S25); only a success resets it.
    pub(crate) fn second_step(account_id: &AccountId) -> Self {
        Self {
            kind: "second_step",
            key: format!("second-step:{account_id}"),
            policy: LockoutPolicy::SECOND_STEP,
        }
    }

    /// Password guesses from one browser that has signed in to the account before (S56):
    /// strangers' failures never spend it, and it never locks.
    pub(crate) fn known_browser(account_id: &AccountId, browser_id: &str) -> Self {
        Self {
            kind: "known_browser",
            key: format!("known-browser:{account_id}:{browser_id}"),
            policy: LockoutPolicy::KNOWN_BROWSER,
        }
    }

    /// Guesses at sign-up codes for one address, across all its registrations (S10, S48);
    /// only the account being created resets it.
    pub(crate) fn sign_up_guess(normalised_email: &str) -> Self {
        Self {
            kind: "sign_up_guess",
            key: format!("signup-guess:{normalised_email}"),
            policy: LockoutPolicy::SIGN_UP_GUESS,
        }
    }

    /// What the budget counts, as metrics name it.
    #[cfg(test)]
    pub(crate) fn kind(&self) -> &'static str {
        self.kind
    }

    /// The counter key, for the store's transactions that reset several budgets at once.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }
}

/// IPv6 clients are counted per /64, the block one subscriber usually gets; counting each
/// address would hand an attacker 2^64 budgets (S47).
pub(crate) fn client_key(address: &str) -> String {
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("client:{v4}"),
            None => {
                let s = v6.segments();
                format!("client:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        _ => format!("client:{address}"),
    }
}

/// An hourly (or daily) allowance of messages: a fixed window of `limit` takes.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    /// What it limits, for metrics: a fixed name, never anything of the key (S51).
    kind: &'static str,
    key: String,
    secs: i64,
    limit: u32,
}

impl Window {
    /// This window's unit, to be taken inside a transaction of the store's.
    pub(crate) fn take(&self) -> WindowTake<'_> {
        WindowTake {
            key: &self.key,
            window_secs: self.secs,
            limit: self.limit,
        }
    }

    /// Counts a refusal of this window in the metrics (`take_at` does it for its own).
    pub(crate) fn count_refusal(&self) {
        crate::metrics::throttle_refused(self.kind);
    }

    /// S9: codes per account per hour, whatever carries them (sign-in codes by mail or
    /// text, phone verification, e-mail change).
    pub(crate) fn codes(account_id: &AccountId, limit: u32) -> Self {
        Self::hourly("codes_per_account", format!("codes:{account_id}"), limit)
    }

    /// Sign-up mails per address per hour.
    pub(crate) fn sign_ups(normalised_email: &str, limit: u32) -> Self {
        Self::hourly("sign_ups", format!("signup:{normalised_email}"), limit)
    }

    /// New sign-ins started from one client address (S57): each is a row until it expires.
    pub(crate) fn sign_ins_from(address: &str, limit: u32) -> Self {
        Self::hourly(
            "sign_ins_per_client",
            format!("sign-ins-{}", client_key(address)),
            limit,
        )
    }

    /// Passkey sign-in ceremonies started from one client address per hour (S57): each is
    /// a row until it expires.
    pub(crate) fn passkey_ceremonies_from(address: &str, limit: u32) -> Self {
        Self::hourly(
            "passkey_ceremonies_per_client",
            format!("passkey-ceremonies-{}", client_key(address)),
            limit,
        )
    }

    /// Reset requests from one client address per hour (S57), whatever address they name.
    pub(crate) fn resets_from(address: &str, limit: u32) -> Self {
        Self::hourly(
            "resets_per_client",
            format!("resets-{}", client_key(address)),
            limit,
        )
    }

    /// Sign-ups started, and passwords hashed for them, from one client address per hour
    /// (S55, S57).
    pub(crate) fn sign_ups_from(address: &str, limit: u32) -> Self {
        Self::hourly(
            "sign_ups_per_client",
            format!("sign-ups-{}", client_key(address)),
            limit,
        )
    }

    /// Authorization codes issued to one session per hour (S57): each is a grant row.
    pub(crate) fn codes_for_session(session_id: &str, limit: u32) -> Self {
        Self::hourly(
            "codes_per_session",
            format!("session-codes:{session_id}"),
            limit,
        )
    }

    /// Reset links per address per hour (no mail bombing, S9).
    pub(crate) fn resets(normalised_email: &str, limit: u32) -> Self {
        Self::hourly("resets", format!("reset:{normalised_email}"), limit)
    }

    /// Authorization requests waiting for a sign-in, per client address (S57).
    pub(crate) fn authorization_requests(address: &str, secs: i64, limit: u32) -> Self {
        Self {
            kind: "authorization_requests",
            key: format!("authorize:{}", client_key(address)),
            secs,
            limit,
        }
    }

    /// Texts to one number per hour; the number is named by a keyed hash, never in clear.
    pub(crate) fn texts_to_number(number_key: String, limit: u32) -> Self {
        Self::hourly("texts_per_number", number_key, limit)
    }

    /// Texts caused from one client address per hour (IPv6: its /64, as in S47).
    pub(crate) fn texts_from(address: &str, limit: u32) -> Self {
        Self::hourly(
            "texts_per_client",
            format!("sms-{}", client_key(address)),
            limit,
        )
    }

    /// Texts for the whole service per UTC day.
    pub(crate) fn texts_per_day(now: i64, limit: u32) -> Self {
        Self {
            kind: "texts_per_day",
            key: format!("sms-day:{}", now.div_euclid(86_400)),
            secs: 86_400,
            limit,
        }
    }

    fn hourly(kind: &'static str, key: String, limit: u32) -> Self {
        Self {
            kind,
            key,
            secs: 3600,
            limit,
        }
    }
}

impl Gatehouse {
    /// Claims one attempt from a budget before the guess is evaluated (S48). Losing a race
    /// to a parallel claim is retried a few times, so two people behind one address signing
    /// in at the same moment are not refused; a policy refusal is final.
    pub(crate) async fn claim(&self, budget: &Budget) -> Result<Claim, AppError> {
        for _ in 0..CLAIM_RETRIES {
            let now = self.now();
            let seen = self.inner.store.find_failure_record(&budget.key).await?;
            if budget.policy.admit(seen, now) != Admission::Allowed {
                crate::metrics::throttle_refused(budget.kind);
                return Ok(Claim::Refused);
            }
            let restart = budget.policy.forget_if_stale(seen, now) != seen;
            if self
                .inner
                .store
                .claim_attempt(&budget.key, seen, restart, now)
                .await?
            {
                return Ok(Claim::Granted);
            }
        }
        crate::metrics::throttle_refused(budget.kind);
        Ok(Claim::Refused)
    }

    /// Whether the budget would admit a guess now, without claiming anything.
    async fn admits(&self, budget: &Budget) -> Result<bool, AppError> {
        let seen = self.inner.store.find_failure_record(&budget.key).await?;
        Ok(budget.policy.admit(seen, self.now()) == Admission::Allowed)
    }

    /// A success ends the budget's run of failures.
    pub(crate) async fn reset(&self, budget: &Budget) -> Result<(), AppError> {
        Ok(self.inner.store.reset_failures(&budget.key).await?)
    }

    /// Gives back a unit claimed for an attempt that turned out not to be a guess at this
    /// budget's secret.
    async fn refund(&self, budget: &Budget) -> Result<(), AppError> {
        Ok(self.inner.store.refund_attempt(&budget.key).await?)
    }

    /// Consecutive failures counted against a budget (100 on an account means locked).
    pub(crate) async fn failures(&self, budget: &Budget) -> Result<u32, AppError> {
        Ok(self
            .inner
            .store
            .find_failure_record(&budget.key)
            .await?
            .failures)
    }

    /// S47: whether the account's password or second-step budget reached its hard limit,
    /// so that only an operator (`user enable`) or a reset opens it again (the lock-out
    /// risk report's `locked`).
    pub(crate) async fn is_locked(
        &self,
        account_id: &AccountId,
        normalised_email: &str,
    ) -> Result<bool, AppError> {
        for budget in [
            Budget::account(normalised_email),
            Budget::second_step(account_id),
        ] {
            let limit = budget.policy.hard_limit.unwrap_or(u32::MAX);
            if self.failures(&budget).await? >= limit {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// S47, S56: claims one password guess before it is checked. From a browser that has
    /// signed in to the account before (`known_browser`, the row id), the guess spends that
    /// browser's own budget only. From anywhere else it takes one unit from the client
    /// address's budget, then one from the account's: when the account refuses, the address
    /// unit is given back, and when the address refuses the account is not touched, so a
    /// busy shared address slows people down but never pushes an account towards its lock.
    pub(crate) async fn claim_password_attempt(
        &self,
        normalised_email: &str,
        known_browser: Option<(&AccountId, &str)>,
        client: &ClientInfo,
    ) -> Result<PasswordClaim, AppError> {
        if let Some((account_id, browser_id)) = known_browser {
            let budget = Budget::known_browser(account_id, browser_id);
            return Ok(match self.claim(&budget).await? {
                Claim::Granted => PasswordClaim::KnownBrowser(budget),
                Claim::Refused => PasswordClaim::Refused,
            });
        }
        let account = Budget::account(normalised_email);
        // A locked or waiting account refuses whatever the address has left: asking first
        // (a read) keeps a flood at a locked account from writing anything (S55).
        if !self.admits(&account).await? {
            return Ok(PasswordClaim::Refused);
        }
        let address = client.address.as_deref().map(Budget::client);
        if let Some(address) = &address {
            if self.claim(address).await? == Claim::Refused {
                return Ok(PasswordClaim::Refused);
            }
        }
        match self.claim(&account).await? {
            Claim::Granted => Ok(PasswordClaim::Elsewhere { address, account }),
            Claim::Refused => {
                if let Some(address) = &address {
                    self.refund(address).await?;
                }
                Ok(PasswordClaim::Refused)
            }
        }
    }

    /// A right password: the account's run of failures ends (and the known browser's),
    /// and the address gets its unit back (S47). One transaction.
    pub(crate) async fn password_succeeded(
        &self,
        normalised_email: &str,
        claim: &PasswordClaim,
    ) -> Result<(), AppError> {
        let changes = password_success_counters(normalised_email, claim);
        Ok(self.inner.store.apply_counter_changes(&changes).await?)
    }

    /// S55: a guess that was claimed but never checked (the hashing queue was full) gives
    /// its units back, so a flood never pushes real people towards the lock.
    pub(crate) async fn give_back(&self, claim: &PasswordClaim) -> Result<(), AppError> {
        match claim {
            PasswordClaim::KnownBrowser(browser) => self.refund(browser).await,
            PasswordClaim::Elsewhere { address, account } => {
                self.refund(account).await?;
                match address {
                    Some(address) => self.refund(address).await,
                    None => Ok(()),
                }
            }
            PasswordClaim::Refused => Ok(()),
        }
    }

    /// Housekeeping (S57): failure counters untouched for a month go, except those that
    /// lock (they wait for an admin), and rate windows that have run out go.
    pub(crate) async fn prune_budgets(&self, now: i64) -> Result<u64, AppError> {
        let store = &self.inner.store;
        let locked_at = LockoutPolicy::ACCOUNT.hard_limit.unwrap_or(u32::MAX);
        let counters = store
            .prune_failure_counters(now - FAILURE_RETENTION_SECS, locked_at)
            .await?;
        let windows = store.prune_rate_windows(now - LONGEST_WINDOW_SECS).await?;
        Ok(counters + windows)
    }

    /// Takes one message from a window; `false` when the window is spent.
    pub(crate) async fn take(&self, window: &Window) -> Result<bool, AppError> {
        self.take_at(window, self.now()).await
    }

    /// The same, at the time the use case already read from its clock.
    pub(crate) async fn take_at(&self, window: &Window, now: i64) -> Result<bool, AppError> {
        let taken = self
            .inner
            .store
            .take_from_window(&window.key, window.secs, window.limit, now)
            .await?;
        if !taken {
            window.count_refusal();
        }
        Ok(taken)
    }

    /// One guess at a keyed code whose row counts its own attempts. Refused once the row's
    /// five are spent; otherwise counted in `budget` and then on the row (`claim_row`, a
    /// compare-and-set on the count read), and only then checked, so neither parallel
    /// guesses nor fresh rows buy more than the budget allows (S10, S48). `claim_row` runs
    /// only if the budget granted the guess.
    pub(crate) async fn guess_code(
        &self,
        budget: &Budget,
        attempts: u32,
        claim_row: impl Future<Output = StoreResult<bool>>,
        code: &OtpCode,
        context: &str,
        stored: &[u8],
    ) -> Result<CodeGuess, AppError> {
        if attempts >= MAX_SECOND_STEP_ATTEMPTS || self.claim(budget).await? == Claim::Refused {
            return Ok(CodeGuess::Refused);
        }
        if !claim_row.await? {
            return Ok(CodeGuess::Raced);
        }
        Ok(
            if code.matches(&self.inner.keys.code_mac_key(), context, stored) {
                CodeGuess::Right
            } else {
                CodeGuess::Wrong
            },
        )
    }

    /// S59, S47: a sign-in its owner stopped from the link in the code's e-mail counts
    /// like a failed password guess against the client address it came from: whoever is
    /// there knows the password, and their next tries slow down like a guesser's. A budget
    /// already spent stays so (the refusal is the point); the account's own budget is left
    /// alone, so a stop never pushes the owner towards the lock.
    pub(crate) async fn count_stopped_sign_in(
        &self,
        client_address: Option<&str>,
    ) -> Result<(), AppError> {
        if let Some(address) = client_address {
            self.claim(&Budget::client(address)).await?;
        }
        Ok(())
    }

    /// S9: one code from the account's hourly allowance.
    pub(crate) async fn take_code_allowance(
        &self,
        account_id: &AccountId,
    ) -> Result<bool, AppError> {
        let limit = self.inner.settings.codes_per_account_per_hour;
        self.take(&Window::codes(account_id, limit)).await
    }
}

/// What a right password does to the budgets its guess claimed (S47): the account's run
/// of failures ends (and the known browser's), and the address gets its unit back. A
/// sign-in carries it in its step's commit; a password change applies it on its own.
pub(crate) fn password_success_counters(
    normalised_email: &str,
    claim: &PasswordClaim,
) -> CounterChanges {
    let mut changes = CounterChanges {
        reset: vec![Budget::account(normalised_email).key],
        refund: Vec::new(),
    };
    match claim {
        PasswordClaim::KnownBrowser(browser) => changes.reset.push(browser.key.clone()),
        PasswordClaim::Elsewhere {
            address: Some(address),
            ..
        } => changes.refund.push(address.key.clone()),
        PasswordClaim::Elsewhere { address: None, .. } | PasswordClaim::Refused => {}
    }
    changes
}

/// What a right second step does to its budget across sign-ins (S10, S19): the run ends.
pub(crate) fn second_step_success_counters(account_id: &AccountId) -> CounterChanges {
    CounterChanges {
        reset: vec![Budget::second_step(account_id).key],
        refund: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{client_key, Budget};
    use gatehouse_core::AccountId;

    #[test]
    fn ipv6_clients_are_counted_per_64_block_and_ipv4_per_address() {
        assert_eq!(
            client_key("2001:db8:1:2:aaaa::1"),
            client_key("2001:db8:1:2:bbbb::2")
        );
        assert_ne!(client_key("2001:db8:1:2::1"), client_key("2001:db8:1:3::1"));
        assert_eq!(client_key("::ffff:192.0.2.7"), client_key("192.0.2.7"));
        assert_ne!(client_key("192.0.2.7"), client_key("192.0.2.8"));
    }

    #[test]
    fn each_budget_has_its_own_key_space() {
        // One text for every keyed budget: only the key's prefix keeps them apart.
        let Some(id) = AccountId::parse("00000000-0000-7000-8000-000000000001") else {
            panic!("a fixed valid id");
        };
        let keys = [
            Budget::account(id.as_str()).key().to_string(),
            Budget::sign_up_guess(id.as_str()).key().to_string(),
            Budget::second_step(&id).key().to_string(),
            Budget::client("192.0.2.7").key().to_string(),
            Budget::known_browser(&id, "b").key().to_string(),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
