//! The Gatehouse domain, pure: value types that can only hold valid values, the sign-in
//! flow as a state machine, the policies that bound it, and the hashing helpers for secrets.
//!
//! This crate must never do I/O, spawn tasks or read the clock: every function that depends
//! on time takes `now` (UTC unix seconds) as an argument, so that expiry, lockout and
//! backoff are tested without sleeping. Randomness comes from the OS source (`OsRng`).

pub mod backup_code;
pub mod display;
pub mod email;
pub mod flow;
pub mod ids;
pub mod jose;
pub mod keys;
pub mod oidc;
pub mod otp;
pub mod password;
pub mod phone;
pub mod return_to;
pub mod secret;
pub mod throttle;
pub mod token;
pub mod totp;

pub use backup_code::{BackupCode, BackupCodeStatus};
pub use email::Email;
pub use flow::{EndReason, FlowError, FlowEvent, FlowStep, Proof, SecondStepMethod, SignInFlow};
pub use ids::AccountId;
pub use keys::{MasterKey, SealingKey};
pub use otp::OtpCode;
pub use password::{Password, PasswordError};
pub use phone::PhoneNumber;
pub use return_to::ReturnTo;
pub use secret::Secret;
pub use throttle::{Admission, FailureRecord, LockoutPolicy};
pub use token::{Token, TokenHash};

/// UTC unix seconds: the only representation of time in Gatehouse (DESIGN.md §3).
pub type UnixTime = i64;
