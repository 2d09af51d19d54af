//! Failure budgets with growing delays (S10, S19, S47).
//!
//! A budget is kept per key ("the account ann@example.com", "the client 192.0.2.1", "the
//! second step of account X") as a count of consecutive failures and the time of the last.
//! The first few failures are free; after that each attempt must wait twice as long as the
//! one before, up to a ceiling; at a hard limit the key is locked until an admin recovers
//! it. The store makes the count atomic (S48); this module only decides.

use crate::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures allowed before any delay applies.
    pub free_failures: u32,
    /// Delay after the first failure past the free ones; doubles with each further failure.
    pub base_delay_secs: i64,
    pub max_delay_secs: i64,
    /// Consecutive failures after which only recovery (an admin) reopens the key, or `None`
    /// for keys that only slow down (client addresses: locking one would lock out a NAT).
    pub hard_limit: Option<u32>,
    /// A key whose last failure is older than this starts again from zero, or `None` when
    /// only a success resets it (accounts: S47 counts consecutive failures).
    pub forget_after_secs: Option<i64>,
}

impl LockoutPolicy {
    /// Per account, on the normalised e-mail (S47): at most 100 consecutive failures.
    pub const ACCOUNT: Self = Self {
        free_failures: 5,
        base_delay_secs: 2,
        max_delay_secs: 15 * 60,
        hard_limit: Some(100),
        forget_after_secs: None,
    };

    /// Per account, for the second step (codes, backup codes; S10, S19, S25): the same
    /// overall budget, counted separately from password failures.
    pub const SECOND_STEP: Self = Self::ACCOUNT;

    /// Guesses at sign-up codes for one address (S10, S48): like the second step, but a run
    /// of failures is forgotten a day after the last, so an address nobody registers with
    /// does not keep a row, or a lock, forever (S57).
    pub const SIGN_UP_GUESS: Self = Self {
        forget_after_secs: Some(24 * 60 * 60),
        ..Self::SECOND_STEP
    };

    /// Per browser that has signed in to the account before (S56): its own small budget,
    /// apart from the account's. It slows down like the account's but never locks, so
    /// strangers' failures, which lock only unknown browsers, cannot shut the owner out; a
    /// guesser holding the owner's browser gets at most a few guesses an hour.
    pub const KNOWN_BROWSER: Self = Self {
        free_failures: 5,
        base_delay_secs: 2,
        max_delay_secs: 60 * 60,
        hard_limit: None,
        forget_after_secs: None,
    };

    /// Per client address (S47): slows a sprayer down, never locks a shared address out.
    pub const CLIENT_ADDRESS: Self = Self {
        free_failures: 20,
        base_delay_secs: 1,
        max_delay_secs: 5 * 60,
        hard_limit: None,
        forget_after_secs: Some(60 * 60),
    };

    /// How long after the n-th consecutive failure the next attempt must wait.
    pub fn delay_after(&self, failures: u32) -> i64 {
        if failures < self.free_failures {
            return 0;
        }
        let doublings = (failures - self.free_failures).min(30);
        self.base_delay_secs
            .saturating_mul(1_i64 << doublings)
            .min(self.max_delay_secs)
    }

    /// Whether an attempt may be evaluated now, given the key's record.
    pub fn admit(&self, record: FailureRecord, now: UnixTime) -> Admission {
        let record = self.forget_if_stale(record, now);
        if let Some(limit) = self.hard_limit {
            if record.failures >= limit {
                return Admission::Locked;
            }
        }
        let open_at = record.last_failure_at + self.delay_after(record.failures);
        if record.failures > 0 && now < open_at {
            Admission::Wait {
                retry_after_secs: open_at - now,
            }
        } else {
            Admission::Allowed
        }
    }

    /// The record as it counts now: stale failures are forgiven for keys that allow it.
    pub fn forget_if_stale(&self, record: FailureRecord, now: UnixTime) -> FailureRecord {
        match self.forget_after_secs {
            Some(window) if now - record.last_failure_at > window => FailureRecord::default(),
            _ => record,
        }
    }
}

/// A key's consecutive failures, as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureRecord {
    pub failures: u32,
    pub last_failure_at: UnixTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    Wait { retry_after_secs: i64 },
    Locked,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: UnixTime = 1_800_000_000;

    fn record(failures: u32, ago: i64) -> FailureRecord {
        FailureRecord {
            failures,
            last_failure_at: NOW - ago,
        }
    }

    #[test]
    fn the_first_failures_are_free() {
        let policy = LockoutPolicy::ACCOUNT;
        for failures in 0..policy.free_failures {
            assert_eq!(policy.admit(record(failures, 0), NOW), Admission::Allowed);
        }
    }

    #[test]
    fn delays_double_and_stop_at_the_ceiling() {
        let policy = LockoutPolicy::ACCOUNT;
        assert_eq!(policy.delay_after(5), 2);
        assert_eq!(policy.delay_after(6), 4);
        assert_eq!(policy.delay_after(7), 8);
        assert_eq!(policy.delay_after(40), 15 * 60);
        assert_eq!(
            policy.admit(record(6, 1), NOW),
            Admission::Wait {
                retry_after_secs: 3
            }
        );
        assert_eq!(policy.admit(record(6, 4), NOW), Admission::Allowed);
    }

    #[test]
    fn an_account_locks_at_one_hundred_consecutive_failures_and_stays_locked() {
        let policy = LockoutPolicy::ACCOUNT;
        assert_eq!(policy.admit(record(99, 86_400), NOW), Admission::Allowed);
        assert_eq!(
            policy.admit(record(100, 86_400 * 365), NOW),
            Admission::Locked
        );
    }

    #[test]
    fn a_client_address_slows_down_but_is_forgiven_after_an_hour() {
        let policy = LockoutPolicy::CLIENT_ADDRESS;
        assert!(matches!(
            policy.admit(record(500, 10), NOW),
            Admission::Wait { .. }
        ));
        assert_eq!(policy.admit(record(500, 3601), NOW), Admission::Allowed);
    }

    #[test]
    fn a_known_browser_slows_down_but_never_locks() {
        let policy = LockoutPolicy::KNOWN_BROWSER;
        assert_eq!(policy.admit(record(4, 0), NOW), Admission::Allowed);
        assert!(matches!(
            policy.admit(record(5, 0), NOW),
            Admission::Wait { .. }
        ));
        assert_eq!(policy.admit(record(500, 3601), NOW), Admission::Allowed);
    }

    #[test]
    fn sign_up_code_guesses_are_forgotten_a_day_after_the_last() {
        let policy = LockoutPolicy::SIGN_UP_GUESS;
        assert_eq!(policy.admit(record(100, 86_399), NOW), Admission::Locked);
        assert_eq!(policy.admit(record(100, 86_401), NOW), Admission::Allowed);
    }

    proptest! {
        /// Whatever the history, no more attempts are admitted before the lock than the
        /// hard limit, and a wait never exceeds the ceiling.
        #[test]
        fn admitted_attempts_never_exceed_the_budget(gaps in proptest::collection::vec(0i64..2_000, 1..400)) {
            let policy = LockoutPolicy::ACCOUNT;
            let mut now = NOW;
            let mut rec = FailureRecord::default();
            let mut admitted = 0u32;
            for gap in gaps {
                now += gap;
                match policy.admit(rec, now) {
                    Admission::Allowed => {
                        admitted += 1;
                        rec = FailureRecord { failures: rec.failures + 1, last_failure_at: now };
                    }
                    Admission::Wait { retry_after_secs } => {
                        prop_assert!(retry_after_secs <= policy.max_delay_secs);
                    }
                    Admission::Locked => {}
                }
            }
            prop_assert!(admitted <= 100);
        }
    }
}
