//! Use-case tests with a clock that moves only when told to: expiry, cooldowns, lockout
//! and trust lifetimes, which the end-to-end tests cannot wait for. Real SQLite file, real
//! outbox mailer; only time is controlled.

mod harness;
mod lifetimes;
mod lockout;
