//! Recording security events (S51). Recording must never stop a sign-in: a failure to
//! write the event is logged and the use case goes on.

use crate::{ClientInfo, Gatehouse};
use gatehouse_core::ids::new_id;
use gatehouse_store::SecurityEvent;

/// What happened, in the words the event log uses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event {
    Password,
    CodeSent,
    Code,
    BackupCode,
    BackupCodeIssued,
    BackupCodeSaved,
    TrustedDevice,
    SessionStarted,
    SignedOut,
    AccountLocked,
    AccountCreated,
    AccountDisabled,
    AccountEnabled,
    PasswordChanged,
    AuthenticatorAdded,
    AuthenticatorRemoved,
    PasswordResetRequested,
    PasswordReset,
    SignUpCodeSent,
    PhoneAdded,
    PhoneRemoved,
    TextSent,
    EmailChanged,
    SecondFactorReset,
    ProductSignIn,
    TokenReplayed,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::CodeSent => "code_sent",
            Self::Code => "code",
            Self::BackupCode => "backup_code",
            Self::BackupCodeIssued => "backup_code_issued",
            Self::BackupCodeSaved => "backup_code_saved",
            Self::TrustedDevice => "trusted_device",
            Self::SessionStarted => "session_started",
            Self::SignedOut => "signed_out",
            Self::AccountLocked => "account_locked",
            Self::AccountCreated => "account_created",
            Self::AccountDisabled => "account_disabled",
            Self::AccountEnabled => "account_enabled",
            Self::PasswordChanged => "password_changed",
            Self::AuthenticatorAdded => "authenticator_added",
            Self::AuthenticatorRemoved => "authenticator_removed",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::SignUpCodeSent => "sign_up_code_sent",
            Self::PhoneAdded => "phone_added",
            Self::PhoneRemoved => "phone_removed",
            Self::TextSent => "text_sent",
            Self::EmailChanged => "email_changed",
            Self::SecondFactorReset => "second_factor_reset",
            Self::ProductSignIn => "product_sign_in",
            Self::TokenReplayed => "token_replayed",
        }
    }
}

pub(crate) struct Record<'a> {
    pub event: Event,
    pub result: &'a str,
    pub account_id: Option<&'a str>,
    pub email: Option<&'a str>,
    pub method: Option<&'a str>,
    pub client: &'a ClientInfo,
}

impl Gatehouse {
    pub(crate) async fn record(&self, record: Record<'_>) {
        let now = self.now();
        let event = SecurityEvent {
            id: new_id(now),
            occurred_at: now,
            account_id: record.account_id.map(str::to_string),
            email: record.email.map(str::to_string),
            event: record.event.name().to_string(),
            result: record.result.to_string(),
            method: record.method.map(str::to_string),
            client_address: record.client.address.clone(),
            user_agent: record.client.user_agent.clone(),
            node: self.inner.settings.node_name.clone(),
        };
        tracing::info!(
            event = %event.event, result = %event.result, account = ?event.account_id,
            method = ?event.method, client = ?event.client_address, "security event"
        );
        if let Err(error) = self.inner.store.insert_event(&event).await {
            tracing::error!(%error, "could not record a security event");
        }
    }
}
