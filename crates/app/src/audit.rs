//! Recording security events (S51), in a typed vocabulary: each kind of event carries the
//! outcomes it can have, so no code writes a result as a loose string and every reader
//! (the account page's activity list) must say what each one means.
//!
//! Recording must never stop a sign-in: a failure to write the event is logged and the use
//! case goes on. The stored names below are what operators query; they never change.

use crate::sessions::SignedIn;
use crate::{ClientInfo, Gatehouse};
use gatehouse_core::ids::new_id;
use gatehouse_core::{AccountId, Proof};
use gatehouse_store::SecurityEvent;

/// A guess at a secret: right, wrong, or refused before it was looked at (S48).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Accepted,
    Wrong,
    Refused,
}

/// A message that should leave: sent, failed at the provider, or refused by a limit (S9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    Failed,
    Refused,
}

/// What happened to trusted devices (S28, S29).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChange {
    Trusted,
    Revoked,
    AllRevoked,
}

/// Which sessions a sign-out ended (S33).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOut {
    ThisSession,
    OtherSessions,
    /// One other session, ended from the backup-code review's list.
    OneSession,
}

/// How a new backup code became active (S22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupCodeSaved {
    /// "I have saved this code for future use" during a sign-in.
    AtSignIn,
    /// A new code from the account page replaced the old one.
    Replaced,
}

/// What a sign-up start did with its mail (S46: the page is the same for all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignUpMail {
    CodeSent,
    /// The address has an account: its owner got a notice instead of a code.
    AddressTaken,
    Refused,
}

/// A product's hold on the account (S49).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductAccess {
    Granted,
    /// The person signed out of it on the account page.
    Revoked,
}

/// Whether a change asked for went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Made,
    Refused,
}

/// A step of a helpdesk recovery (issue 12, part 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryStep {
    /// `gatehouse user recover E`: the owner was sent the cancel link.
    Started,
    /// "Cancel this recovery", with the owner's link (S59).
    CancelledByOwner,
    /// `gatehouse user recover --cancel E`.
    CancelledByOperator,
    /// The wait was over and the operator issued the recovery link.
    LinkIssued,
    /// The recovery link was used: second factors and backup codes removed.
    Completed,
}

/// What happened, with its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Password(Attempt),
    CodeSent(Delivery),
    Code(Attempt),
    BackupCode(Attempt),
    BackupCodeIssued,
    BackupCodeSaved(BackupCodeSaved),
    TrustedDevice(DeviceChange),
    SessionStarted,
    SignedOut(SignOut),
    AccountLocked,
    AccountCreated,
    AccountDisabled,
    AccountEnabled,
    PasswordChanged(Change),
    AuthenticatorAdded,
    AuthenticatorRemoved,
    PasswordResetRequested,
    PasswordReset,
    SignUpCodeSent(SignUpMail),
    PhoneAdded,
    PhoneRemoved,
    TextSent(Delivery),
    EmailChanged,
    SecondFactorReset,
    ProductSignIn(ProductAccess),
    /// A code or refresh token was presented twice: its grant was revoked (S39, S44).
    TokenReplayed,
    Recovery(RecoveryStep),
    /// "Stop this sign-in" was pressed on the link of a sign-in code's e-mail (S59).
    SignInStopped,
    /// A change of e-mail address made within 7 days of a backup-code sign-in waits
    /// 24 hours; the old address was told.
    EmailChangeDelayed,
    /// The old address cancelled a waiting change of e-mail address (S59).
    EmailChangeCancelled,
    /// A passkey sign-in (S58): accepted, refused by its verification, or not looked at
    /// because the second-step budget is spent.
    Passkey(Attempt),
    PasskeyAdded,
    PasskeyRemoved,
    /// An assertion whose signature counter went backwards: a cloned authenticator (S58).
    PasskeyCloned,
}

/// What else an event names: the method used, or the product concerned.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Method<'a> {
    Proof(Proof),
    SignUp,
    AccountPage,
    Product {
        client_id: &'a str,
    },
    /// Which token was replayed (S39, S44).
    AuthorizationCode,
    RefreshToken,
}

impl Method<'_> {
    fn stored(self) -> String {
        match self {
            Self::Proof(proof) => proof.as_str().to_string(),
            Self::SignUp => "sign_up".into(),
            Self::AccountPage => "account_page".into(),
            Self::Product { client_id } => client_id.to_string(),
            Self::AuthorizationCode => "code".into(),
            Self::RefreshToken => "refresh_token".into(),
        }
    }
}

impl Attempt {
    fn stored(self) -> &'static str {
        match self {
            Self::Accepted => "success",
            Self::Wrong => "failure",
            Self::Refused => "refused",
        }
    }
}

impl Delivery {
    fn stored(self) -> &'static str {
        match self {
            Self::Sent => "success",
            Self::Failed => "failure",
            Self::Refused => "refused",
        }
    }
}

impl Event {
    /// The `event` and `result` columns.
    pub fn stored(self) -> (&'static str, &'static str) {
        const DONE: &str = "success";
        match self {
            Self::Password(attempt) => ("password", attempt.stored()),
            Self::CodeSent(delivery) => ("code_sent", delivery.stored()),
            Self::Code(attempt) => ("code", attempt.stored()),
            Self::BackupCode(attempt) => ("backup_code", attempt.stored()),
            Self::BackupCodeIssued => ("backup_code_issued", DONE),
            Self::BackupCodeSaved(how) => (
                "backup_code_saved",
                match how {
                    BackupCodeSaved::AtSignIn => DONE,
                    BackupCodeSaved::Replaced => "replaced",
                },
            ),
            Self::TrustedDevice(change) => (
                "trusted_device",
                match change {
                    DeviceChange::Trusted => "added",
                    DeviceChange::Revoked => "revoked",
                    DeviceChange::AllRevoked => "all_revoked",
                },
            ),
            Self::SessionStarted => ("session_started", DONE),
            Self::SignedOut(which) => (
                "signed_out",
                match which {
                    SignOut::ThisSession => DONE,
                    SignOut::OtherSessions => "others",
                    SignOut::OneSession => "one",
                },
            ),
            Self::AccountLocked => ("account_locked", "locked"),
            Self::AccountCreated => ("account_created", DONE),
            Self::AccountDisabled => ("account_disabled", DONE),
            Self::AccountEnabled => ("account_enabled", DONE),
            Self::PasswordChanged(change) => (
                "password_changed",
                match change {
                    Change::Made => DONE,
                    Change::Refused => "failure",
                },
            ),
            Self::AuthenticatorAdded => ("authenticator_added", DONE),
            Self::AuthenticatorRemoved => ("authenticator_removed", DONE),
            Self::PasswordResetRequested => ("password_reset_requested", "sent"),
            Self::PasswordReset => ("password_reset", DONE),
            Self::SignUpCodeSent(mail) => (
                "sign_up_code_sent",
                match mail {
                    SignUpMail::CodeSent => "sent",
                    SignUpMail::AddressTaken => "taken",
                    SignUpMail::Refused => "refused",
                },
            ),
            Self::PhoneAdded => ("phone_added", DONE),
            Self::PhoneRemoved => ("phone_removed", DONE),
            Self::TextSent(delivery) => ("text_sent", delivery.stored()),
            Self::EmailChanged => ("email_changed", DONE),
            Self::SecondFactorReset => ("second_factor_reset", DONE),
            Self::ProductSignIn(access) => (
                "product_sign_in",
                match access {
                    ProductAccess::Granted => DONE,
                    ProductAccess::Revoked => "revoked",
                },
            ),
            Self::TokenReplayed => ("token_replayed", "grant_revoked"),
            Self::Recovery(step) => (
                "account_recovery",
                match step {
                    RecoveryStep::Started => "started",
                    RecoveryStep::CancelledByOwner => "cancelled",
                    RecoveryStep::CancelledByOperator => "cancelled_by_operator",
                    RecoveryStep::LinkIssued => "link_issued",
                    RecoveryStep::Completed => DONE,
                },
            ),
            Self::SignInStopped => ("sign_in_stopped", DONE),
            Self::EmailChangeDelayed => ("email_changed", "waiting"),
            Self::EmailChangeCancelled => ("email_changed", "cancelled"),
            Self::Passkey(attempt) => ("passkey", attempt.stored()),
            Self::PasskeyAdded => ("passkey_added", DONE),
            Self::PasskeyRemoved => ("passkey_removed", DONE),
            Self::PasskeyCloned => ("passkey_cloned", "refused"),
        }
    }

    /// The event a stored row names, if this version of Gatehouse knows it.
    pub fn from_stored(event: &str, result: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|known| known.stored() == (event, result))
    }

    /// Every event with every outcome it can have: the stored vocabulary, read back by
    /// `from_stored`. The test below checks that it is complete for each kind's outcomes
    /// and that no two share a stored name.
    const ALL: [Self; 59] = [
        Self::Password(Attempt::Accepted),
        Self::Password(Attempt::Wrong),
        Self::Password(Attempt::Refused),
        Self::CodeSent(Delivery::Sent),
        Self::CodeSent(Delivery::Failed),
        Self::CodeSent(Delivery::Refused),
        Self::Code(Attempt::Accepted),
        Self::Code(Attempt::Wrong),
        Self::Code(Attempt::Refused),
        Self::BackupCode(Attempt::Accepted),
        Self::BackupCode(Attempt::Wrong),
        Self::BackupCode(Attempt::Refused),
        Self::BackupCodeIssued,
        Self::BackupCodeSaved(BackupCodeSaved::AtSignIn),
        Self::BackupCodeSaved(BackupCodeSaved::Replaced),
        Self::TrustedDevice(DeviceChange::Trusted),
        Self::TrustedDevice(DeviceChange::Revoked),
        Self::TrustedDevice(DeviceChange::AllRevoked),
        Self::SessionStarted,
        Self::SignedOut(SignOut::ThisSession),
        Self::SignedOut(SignOut::OtherSessions),
        Self::SignedOut(SignOut::OneSession),
        Self::AccountLocked,
        Self::AccountCreated,
        Self::AccountDisabled,
        Self::AccountEnabled,
        Self::PasswordChanged(Change::Made),
        Self::PasswordChanged(Change::Refused),
        Self::AuthenticatorAdded,
        Self::AuthenticatorRemoved,
        Self::PasswordResetRequested,
        Self::PasswordReset,
        Self::SignUpCodeSent(SignUpMail::CodeSent),
        Self::SignUpCodeSent(SignUpMail::AddressTaken),
        Self::SignUpCodeSent(SignUpMail::Refused),
        Self::PhoneAdded,
        Self::PhoneRemoved,
        Self::TextSent(Delivery::Sent),
        Self::TextSent(Delivery::Failed),
        Self::TextSent(Delivery::Refused),
        Self::EmailChanged,
        Self::SecondFactorReset,
        Self::ProductSignIn(ProductAccess::Granted),
        Self::ProductSignIn(ProductAccess::Revoked),
        Self::TokenReplayed,
        Self::Recovery(RecoveryStep::Started),
        Self::Recovery(RecoveryStep::CancelledByOwner),
        Self::Recovery(RecoveryStep::CancelledByOperator),
        Self::Recovery(RecoveryStep::LinkIssued),
        Self::Recovery(RecoveryStep::Completed),
        Self::SignInStopped,
        Self::EmailChangeDelayed,
        Self::EmailChangeCancelled,
        Self::Passkey(Attempt::Accepted),
        Self::Passkey(Attempt::Wrong),
        Self::Passkey(Attempt::Refused),
        Self::PasskeyAdded,
        Self::PasskeyRemoved,
        Self::PasskeyCloned,
    ];
}

/// One event to record.
pub(crate) struct Record<'a> {
    pub event: Event,
    pub account_id: Option<&'a AccountId>,
    pub email: Option<&'a str>,
    pub method: Option<Method<'a>>,
    pub client: &'a ClientInfo,
}

/// An event made ready to be stored, and announced (metrics, the log) only once it is:
/// a step stores its events in its own commit (`FlowCommit::events`), so that a step and
/// its record are durable together.
pub(crate) struct Recorded {
    event: Event,
    row: SecurityEvent,
}

impl Recorded {
    pub(crate) fn row(&self) -> &SecurityEvent {
        &self.row
    }

    /// Counts and logs the event; call it once the row is stored.
    pub(crate) fn announce(&self) {
        crate::metrics::security_event(self.event);
        let row = &self.row;
        tracing::info!(
            event = %row.event, result = %row.result, account = ?row.account_id,
            method = ?row.method, client = ?row.client_address, "security event"
        );
    }
}

impl Gatehouse {
    /// The event as it will be stored, stamped now.
    pub(crate) fn prepare_record(&self, record: Record<'_>) -> Recorded {
        let now = self.now();
        let (event, result) = record.event.stored();
        Recorded {
            event: record.event,
            row: SecurityEvent {
                id: new_id(now),
                occurred_at: now,
                account_id: record.account_id.cloned(),
                email: record.email.map(str::to_string),
                event: event.to_string(),
                result: result.to_string(),
                method: record.method.map(Method::stored),
                client_address: record.client.address.clone(),
                user_agent: record.client.user_agent.clone(),
                node: self.inner.settings.node_name.clone(),
                request_id: record.client.request_id.clone(),
            },
        }
    }

    /// Records an event on its own (S51). A failure to store it is logged and counted,
    /// never shown to the person.
    pub(crate) async fn record(&self, record: Record<'_>) {
        let recorded = self.prepare_record(record);
        recorded.announce();
        if let Err(error) = self.inner.store.insert_event(recorded.row()).await {
            crate::metrics::database_error();
            tracing::error!(%error, "could not record a security event");
        }
    }

    /// Records an event of the person behind a session, for their account and address.
    pub(crate) async fn record_for(
        &self,
        session: &SignedIn,
        event: Event,
        method: Option<Method<'_>>,
        client: &ClientInfo,
    ) {
        self.record(Record {
            event,
            account_id: Some(&session.account_id),
            email: Some(&session.email),
            method,
            client,
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_reads_back_as_itself_and_no_two_share_a_stored_name() {
        for (i, event) in Event::ALL.iter().enumerate() {
            let (name, result) = event.stored();
            assert_eq!(Event::from_stored(name, result), Some(*event), "{event:?}");
            for other in &Event::ALL[i + 1..] {
                if other != event {
                    assert_ne!(other.stored(), event.stored(), "{event:?} ~ {other:?}");
                }
            }
        }
    }

    #[test]
    fn a_row_written_by_another_version_is_not_guessed_at() {
        assert_eq!(Event::from_stored("password", "maybe"), None);
        assert_eq!(Event::from_stored("teleported", "success"), None);
    }
}
