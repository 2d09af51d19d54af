//! Account administration, as the CLI offers it: add, list, show, disable, enable, and the
//! emergency second-factor reset (the helpdesk recovery with a notice is `recovery`).

use crate::audit::{DeviceChange, Event, Record};
use crate::budget::Budget;
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::{AccountId, Email, Password, PasswordError};
use gatehouse_delivery::{authenticator_removed_notice, phone_changed_notice, OutgoingMail};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("invalid email address: {0}")]
    InvalidEmail(String),
    #[error("unacceptable password: {0}")]
    WeakPassword(#[from] PasswordError),
    #[error("an account with this email already exists")]
    AlreadyExists,
    #[error("no account with this email")]
    NotFound,
    #[error(transparent)]
    App(#[from] AppError),
}

conflict_means!(AccountError, AlreadyExists);

/// What `user list` and `user show` print.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccountSummary {
    pub id: AccountId,
    pub email: String,
    pub disabled: bool,
    pub created_at: i64,
    pub active_backup_codes: u32,
    pub live_sessions: u32,
    /// Consecutive failed password attempts; 100 means locked (S47).
    pub failed_password_attempts: u32,
    /// A helpdesk recovery started and neither cancelled nor completed (issue 12).
    pub pending_recovery: Option<crate::recovery::PendingRecovery>,
}

/// An address as the operator typed it; the refusal says why, for the CLI to print.
fn parse_email(text: &str) -> Result<Email, AccountError> {
    Email::parse(text).map_err(|e| AccountError::InvalidEmail(e.to_string()))
}

/// The CLI acts as the operator, from no network address.
fn operator() -> ClientInfo {
    ClientInfo {
        address: None,
        user_agent: Some("gatehouse-cli".into()),
        request_id: None,
    }
}

impl Gatehouse {
    pub async fn add_account(
        &self,
        email: &str,
        password: &str,
    ) -> Result<AccountSummary, AccountError> {
        let email = parse_email(email)?;
        let password = Password::parse_new(password, &email)?;
        if self.account_at(&email).await?.is_some() {
            return Err(AccountError::AlreadyExists);
        }
        let hash = self.hash_password(password).await?;
        let now = self.now();
        let id = AccountId::generate(now);
        self.inner
            .store
            .insert_account(&id, email.as_str(), &hash.0, now)
            .await?;
        self.record(Record {
            event: Event::AccountCreated,
            account_id: Some(&id),
            email: Some(email.as_str()),
            method: None,
            client: &operator(),
        })
        .await;
        self.show_account(email.as_str()).await
    }

    pub async fn list_accounts(&self) -> Result<Vec<AccountSummary>, AccountError> {
        let mut out = Vec::new();
        for row in self.inner.store.list_accounts().await? {
            out.push(self.summarise(row).await?);
        }
        Ok(out)
    }

    pub async fn show_account(&self, email: &str) -> Result<AccountSummary, AccountError> {
        let row = self.find_by_email(email).await?;
        self.summarise(row).await
    }

    /// S33, S29: disabling ends every session, trusted device and sign-in in progress.
    pub async fn disable_account(&self, email: &str) -> Result<AccountSummary, AccountError> {
        let row = self.find_by_email(email).await?;
        self.inner
            .store
            .disable_account(&row.id, self.now())
            .await?;
        self.admin_event(Event::AccountDisabled, &row.id, &row.email)
            .await;
        self.show_account(&row.email).await
    }

    /// Enabling also clears the failure counters: it is how a locked account is recovered.
    pub async fn enable_account(&self, email: &str) -> Result<AccountSummary, AccountError> {
        let row = self.find_by_email(email).await?;
        let keys = [
            Budget::account(&row.email).key().to_string(),
            Budget::second_step(&row.id).key().to_string(),
        ];
        self.inner
            .store
            .enable_account(&row.id, &keys, self.now())
            .await?;
        self.admin_event(Event::AccountEnabled, &row.id, &row.email)
            .await;
        self.show_account(&row.email).await
    }

    /// The emergency path, with no notice period (`recovery` is the one with a notice and a
    /// wait). For someone who lost both their second factor and their backup code: removes the
    /// authenticator app and the phone and revokes every trusted device, in one transaction
    /// (S53), so the next sign-in e-mails a code again. The event and the owner's notices
    /// name what was actually removed (S51, S52).
    pub async fn reset_second_factor(&self, email: &str) -> Result<AccountSummary, AccountError> {
        let row = self.find_by_email(email).await?;
        let removed = self
            .inner
            .store
            .remove_second_factors(&row.id, self.now())
            .await?;
        let event = match (removed.authenticator, removed.phone) {
            (true, true) => Event::SecondFactorReset,
            (true, false) => Event::AuthenticatorRemoved,
            (false, true) => Event::PhoneRemoved,
            // Nothing was in use; the trusted devices were still revoked.
            (false, false) => Event::TrustedDevice(DeviceChange::AllRevoked),
        };
        self.record(Record {
            event,
            account_id: Some(&row.id),
            email: Some(&row.email),
            method: None,
            client: &operator(),
        })
        .await;
        if let Ok(address) = Email::parse(&row.email) {
            let mut notices: Vec<OutgoingMail> = Vec::new();
            if removed.authenticator {
                notices.push(authenticator_removed_notice(&address));
            }
            if removed.phone {
                notices.push(phone_changed_notice(&address, false));
            }
            for notice in notices {
                if let Err(error) = self.send_mail(&notice).await {
                    tracing::error!(%error, "could not send the second-factor reset notice");
                }
            }
        }
        self.show_account(&row.email).await
    }

    async fn find_by_email(
        &self,
        email: &str,
    ) -> Result<gatehouse_store::AccountRow, AccountError> {
        self.account_at(&parse_email(email)?)
            .await?
            .ok_or(AccountError::NotFound)
    }

    async fn summarise(
        &self,
        row: gatehouse_store::AccountRow,
    ) -> Result<AccountSummary, AccountError> {
        let store = &self.inner.store;
        Ok(AccountSummary {
            active_backup_codes: store.count_active_backup_codes(&row.id).await?,
            live_sessions: store
                .count_live_sessions(&row.id, self.inner.settings.session_idle_secs, self.now())
                .await?,
            failed_password_attempts: self.failures(&Budget::account(&row.email)).await?,
            pending_recovery: self.pending_recovery(&row.id).await?,
            disabled: row.disabled_at.is_some(),
            id: row.id,
            email: row.email,
            created_at: row.created_at,
        })
    }

    async fn admin_event(&self, event: Event, account_id: &AccountId, email: &str) {
        self.record(Record {
            event,
            account_id: Some(account_id),
            email: Some(email),
            method: None,
            client: &operator(),
        })
        .await;
    }
}
