//! Use-case tests with a clock that moves only when told to: expiry, cooldowns, lockout
//! and trust lifetimes, which the end-to-end tests cannot wait for. Real SQLite file, real
//! outbox mailer; only time is controlled.

// Test helpers may unwrap: a panic in a test is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod authenticator;
mod code_budgets;
mod harness;
mod lifetimes;
mod lockout;
mod oidc;
mod passkeys;
mod passwords;
mod recovery;
mod stop_and_review;
