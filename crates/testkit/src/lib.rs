//! Test-only helpers: start the real `gatehouse` binary on a free port with a fresh
//! database, receive its mail on a real SMTP server on loopback, talk to it like a
//! browser that keeps cookies, and read its pages as a person would. Nothing here is a mock: the binary, its database and the
//! SMTP conversation are the real ones.
//!
//! Helpers panic on setup failures: in a test, a panic is a clear failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;
mod database;
pub mod html;
pub mod oidc;
mod server;
mod sms;
mod smtp;

pub use browser::{Browser, Page};
pub use database::TestDatabase;
pub use html::Html;
pub use oidc::{ClientAuth, OidcClient, OidcHttp, RegisteredClient};
pub use server::{run_cli, CliOutput, ServerOptions, TestServer};
pub use sms::{ReceivedText, SmsProviderSink};
pub use smtp::{ReceivedMail, SmtpSink};
