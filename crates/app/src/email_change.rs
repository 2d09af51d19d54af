//! Changing the account's e-mail address: needs a recent sign-in (S34), is verified by a
//! code sent to the new address, and the old address is told (S52). A new address that
//! belongs to another account gets the same pages but can never complete (S46). The change
//! revokes the trusted devices and the unused reset links in its own transaction (S29).

use crate::audit::{Event, Record};
use crate::budget::{Budget, CodeGuess};
use crate::sessions::FreshSession;
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::flow::CODE_LIFETIME_SECS;
use gatehouse_core::{AccountId, Email, OtpCode};
use gatehouse_delivery::{email_change_code, email_changed_notice};

#[derive(Debug, thiserror::Error)]
pub enum EmailChangeError {
    #[error("invalid e-mail address")]
    InvalidEmail,
    #[error("the new address is the current one")]
    Unchanged,
    #[error("no e-mail change in progress")]
    NotStarted,
    #[error("malformed code")]
    MalformedCode,
    #[error("wrong code")]
    WrongCode,
    #[error("too many wrong codes")]
    TooManyAttempts,
    #[error(transparent)]
    App(#[from] AppError),
}

conflict_means!(EmailChangeError, WrongCode);

fn context(account_id: &AccountId) -> String {
    format!("email-change:{account_id}")
}

impl Gatehouse {
    /// Sends a code to the new address (or, when it is taken or the hourly budget of codes
    /// is spent, nothing it could use).
    pub async fn start_email_change(
        &self,
        session: &FreshSession,
        new_email: &str,
    ) -> Result<(), EmailChangeError> {
        let new_email = Email::parse(new_email).map_err(|_| EmailChangeError::InvalidEmail)?;
        if new_email.as_str() == session.email {
            return Err(EmailChangeError::Unchanged);
        }
        let now = self.now();
        // The window is asked first: a refused start must not hand out a fresh code with a
        // fresh row of five guesses.
        let limited = !self.take_code_allowance(&session.account_id).await?;
        let taken = self.account_at(&new_email).await?.is_some();
        let code = OtpCode::generate();
        let code_hash = code.keyed_hash(
            &self.inner.keys.code_mac_key(),
            &context(&session.account_id),
        );
        // A taken address, or a start the window refused, gets a change that can never
        // complete: the same pages, nothing usable (S46).
        self.inner
            .store
            .insert_email_change(
                &session.account_id,
                new_email.as_str(),
                &code_hash,
                taken || limited,
                now + CODE_LIFETIME_SECS,
            )
            .await?;
        if !taken && !limited {
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(error) = this
                    .send_mail(&email_change_code(
                        &new_email,
                        &code,
                        CODE_LIFETIME_SECS / 60,
                    ))
                    .await
                {
                    tracing::error!(%error, "could not send an e-mail change code");
                }
            });
        }
        Ok(())
    }

    /// The masked new address waiting for its code.
    pub async fn pending_email_change(
        &self,
        session: &FreshSession,
    ) -> Result<String, EmailChangeError> {
        let row = self
            .inner
            .store
            .find_email_change(&session.account_id, self.now())
            .await?
            .ok_or(EmailChangeError::NotStarted)?;
        Ok(Email::parse(&row.new_email)
            .map(|e| e.masked())
            .unwrap_or_default())
    }

    pub async fn confirm_email_change(
        &self,
        session: &FreshSession,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), EmailChangeError> {
        let code = OtpCode::parse(code).map_err(|_| EmailChangeError::MalformedCode)?;
        let now = self.now();
        let row = self
            .inner
            .store
            .find_email_change(&session.account_id, now)
            .await?
            .ok_or(EmailChangeError::NotStarted)?;
        // Five guesses per code are not enough: starting again makes a new code. Every guess
        // also takes a unit of the account's second-step budget, which only a success
        // resets, like the sign-in's codes (S10, S19, S48).
        let budget = Budget::second_step(&session.account_id);
        let claim_row = self
            .inner
            .store
            .claim_email_change_attempt(&session.account_id, row.attempts);
        let guess = self
            .guess_code(
                &budget,
                row.attempts,
                claim_row,
                &code,
                &context(&session.account_id),
                &row.code_hash,
            )
            .await?;
        match guess {
            CodeGuess::Refused => return Err(EmailChangeError::TooManyAttempts),
            // A taken address never completes, whatever the code (S46).
            CodeGuess::Right if !row.taken => {}
            CodeGuess::Right | CodeGuess::Raced | CodeGuess::Wrong => {
                return Err(EmailChangeError::WrongCode)
            }
        }
        self.inner
            .store
            .complete_email_change(&session.account_id, &row.new_email, now)
            .await?;
        self.reset(&budget).await?;
        self.record(Record {
            event: Event::EmailChanged,
            account_id: Some(&session.account_id),
            email: Some(&row.new_email),
            method: None,
            client,
        })
        .await;
        if let Ok(old) = Email::parse(&session.email) {
            if let Err(error) = self
                .send_mail(&email_changed_notice(&old, &row.new_email))
                .await
            {
                tracing::error!(%error, "could not tell the old address of the change");
            }
        }
        Ok(())
    }
}
