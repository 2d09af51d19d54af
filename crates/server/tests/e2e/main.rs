//! End-to-end tests: the real `gatehouse` binary on a free port with its own database,
//! mail received by a real SMTP server on loopback, requests from a cookie-keeping client.
//! Each file is one part of the specification; test names say what a person or an attacker
//! observes.

// Test helpers may unwrap: a panic in a test is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account_page;
mod authenticator;
mod backup;
mod backup_code_review;
mod backup_codes;
mod cli;
mod crash;
mod deploy;
mod floods;
mod helpers;
mod limits;
mod nodes;
mod observability;
mod oidc_code_flow;
mod oidc_consent;
mod oidc_errors;
mod oidc_factors;
mod oidc_logout;
mod oidc_nodes;
mod oidc_prompt;
mod oidc_support;
mod oidc_tokens;
mod password_change;
mod password_reset;
mod postgres;
mod recovery;
mod request_ids;
mod security;
mod sign_in;
mod sign_up;
mod sms;
mod stop_sign_in;
mod throttling;
mod trusted_devices;
