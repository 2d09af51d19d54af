//! "Forgot password?": a single-use link valid 60 minutes, stored hashed, e-mailed to the
//! account's address. Asking answers the same whether or not the address has an account
//! (S46). Using the link sets a new password under the rules of S1-S3 and ends every
//! session and trusted device (S6); the next sign-in still asks for the second step.

use crate::audit::{Event, Record};
use crate::budget::{Budget, Window};
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::ids::new_id;
use gatehouse_core::{Email, Password, PasswordError, Token};
use gatehouse_delivery::{password_reset_link, password_reset_notice};
use gatehouse_store::AccountRow;

pub const RESET_LIFETIME_SECS: i64 = 60 * 60;
/// Reset mails per address per hour (S9's "no mail bombing" applies to links too).
const RESETS_PER_HOUR: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("invalid e-mail address")]
    InvalidEmail,
    #[error("reset link unknown, expired or used")]
    InvalidLink,
    #[error("new password refused")]
    WeakPassword(#[from] PasswordError),
    #[error(transparent)]
    App(#[from] AppError),
}

conflict_means!(ResetError, InvalidLink);

/// S57: reset requests one client address may make per hour, for any addresses.
const RESETS_PER_CLIENT_PER_HOUR: u32 = 30;

impl Gatehouse {
    /// Sends a reset link if the address has an active account; otherwise does nothing
    /// visible. Either way the caller shows the same page.
    pub async fn request_password_reset(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<(), ResetError> {
        let email = Email::parse(email).map_err(|_| ResetError::InvalidEmail)?;
        let now = self.now();
        // S57: per address asked for, and per client address asking, whatever it names.
        let from_here = match &client.address {
            Some(address) => {
                self.take(&Window::resets_from(address, RESETS_PER_CLIENT_PER_HOUR))
                    .await?
            }
            None => true,
        };
        let allowed = from_here
            && self
                .take(&Window::resets(email.as_str(), RESETS_PER_HOUR))
                .await?;
        let account = self.account_at(&email).await?;
        let Some(account) = account.filter(|a| a.disabled_at.is_none() && allowed) else {
            return Ok(());
        };
        // Everything an existing account adds happens in the background, so the answer
        // comes after the same work whether or not the address has an account (S46).
        let this = self.clone();
        let client = client.clone();
        tokio::spawn(async move {
            if let Err(error) = this.send_reset_link(&account, &email, now, &client).await {
                tracing::error!(%error, "could not issue a password reset link");
            }
        });
        Ok(())
    }

    /// Stores a new link for the account, records it and mails it; the link is stored
    /// before it is sent, so it works as soon as it arrives.
    async fn send_reset_link(
        &self,
        account: &AccountRow,
        email: &Email,
        now: i64,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        let token = Token::generate();
        self.inner
            .store
            .insert_password_reset(
                &new_id(now),
                &token.hash().0,
                &account.id,
                now,
                now + RESET_LIFETIME_SECS,
            )
            .await?;
        let link = format!(
            "{}/reset-password?token={}",
            self.link_base(),
            token.as_str()
        );
        self.record(Record {
            event: Event::PasswordResetRequested,
            account_id: Some(&account.id),
            email: Some(&account.email),
            method: None,
            client,
        })
        .await;
        let mail = password_reset_link(email, &link, RESET_LIFETIME_SECS / 60);
        self.send_mail(&mail).await?;
        Ok(())
    }

    /// The masked address a live link belongs to, for the "Choose a new password" page.
    pub async fn password_reset_target(&self, token: &str) -> Result<String, ResetError> {
        let token = Token::parse(token).ok_or(ResetError::InvalidLink)?;
        let (_, email) = self
            .inner
            .store
            .find_live_password_reset(&token.hash().0, self.now())
            .await?
            .ok_or(ResetError::InvalidLink)?;
        Ok(Email::parse(&email).map(|e| e.masked()).unwrap_or_default())
    }

    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        client: &ClientInfo,
    ) -> Result<(), ResetError> {
        let token = Token::parse(token).ok_or(ResetError::InvalidLink)?;
        let now = self.now();
        let (account_id, email) = self
            .inner
            .store
            .find_live_password_reset(&token.hash().0, now)
            .await?
            .ok_or(ResetError::InvalidLink)?;
        let email = Email::parse(&email).map_err(|_| ResetError::InvalidLink)?;
        let password = Password::parse_new(new_password, &email)?;
        let hash = self.hash_password(password).await?;
        self.inner
            .store
            .reset_password(&token.hash().0, &hash.0, self.now())
            .await?;
        // A reset proves control of the mailbox: the lockout counters start again.
        self.reset(&Budget::account(email.as_str())).await?;
        self.record(Record {
            event: Event::PasswordReset,
            account_id: Some(&account_id),
            email: Some(email.as_str()),
            method: None,
            client,
        })
        .await;
        if let Err(error) = self.send_mail(&password_reset_notice(&email)).await {
            tracing::error!(%error, "could not send the password-reset notice");
        }
        Ok(())
    }
}
