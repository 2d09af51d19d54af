//! Changing the account's e-mail address: needs a recent sign-in (S34), is verified by a
//! code sent to the new address, and the old address is told (S52). A new address that
//! belongs to another account gets the same pages but can never complete (S46). The change
//! revokes the trusted devices and the unused reset links in its own transaction (S29).
//!
//! Within 7 days of a sign-in with a backup code (issue 12), a verified change waits
//! 24 hours: the old address is told at once with a link whose page cancels it (S59), so
//! someone holding a stolen backup code and the password cannot quietly take the account.
//! The housekeeping task applies a waiting change once it is due (`apply_due_email_changes`):
//! until then the account keeps its address for everything, sign-in included.

use crate::audit::{Event, Record};
use crate::budget::{Budget, CodeGuess};
use crate::sessions::FreshSession;
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::display::format_utc;
use gatehouse_core::flow::CODE_LIFETIME_SECS;
use gatehouse_core::{AccountId, Email, OtpCode, Token};
use gatehouse_delivery::{
    email_change_cancelled_notice, email_change_code, email_change_waiting_notice,
    email_changed_notice, OutgoingMail,
};
use gatehouse_store::{DelayedEmailChange, StoreError};

/// For this long after a backup code replaced the second step, a new address waits.
pub const BACKUP_CODE_REVIEW_SECS: i64 = 7 * 24 * 60 * 60;
/// How long it waits.
pub const EMAIL_CHANGE_DELAY_SECS: i64 = 24 * 60 * 60;

/// How a confirmed change of address turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailChangeOutcome {
    /// The new address is the account's now.
    Changed,
    /// It becomes the account's at `effective_at`, unless the old address cancels it.
    Waiting { effective_at: i64 },
}

/// A waiting change, as the account page and the cancel page show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingEmailChange {
    pub masked_new_email: String,
    pub effective_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum CancelEmailChangeError {
    /// Unknown or malformed, or the change was cancelled or applied already.
    #[error("nothing to cancel")]
    NothingToCancel,
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<StoreError> for CancelEmailChangeError {
    fn from(error: StoreError) -> Self {
        Self::App(AppError::from(error))
    }
}

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
    ) -> Result<EmailChangeOutcome, EmailChangeError> {
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
        let backup_code_used_at = self
            .inner
            .store
            .find_backup_code_used_at(&session.account_id)
            .await?;
        if backup_code_used_at.is_some_and(|at| now - at < BACKUP_CODE_REVIEW_SECS) {
            self.reset(&budget).await?;
            let effective_at = self
                .delay_email_change(session, &row.new_email, now, client)
                .await?;
            return Ok(EmailChangeOutcome::Waiting { effective_at });
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
        Ok(EmailChangeOutcome::Changed)
    }

    /// Stores the verified change as waiting 24 hours and tells the old address at once,
    /// with the link that cancels it (S52, S59).
    async fn delay_email_change(
        &self,
        session: &FreshSession,
        new_email: &str,
        now: i64,
        client: &ClientInfo,
    ) -> Result<i64, EmailChangeError> {
        let effective_at = now + EMAIL_CHANGE_DELAY_SECS;
        let token = Token::generate();
        self.inner
            .store
            .insert_delayed_email_change(
                &session.account_id,
                new_email,
                &token.hash().0,
                now,
                effective_at,
            )
            .await?;
        self.record(Record {
            event: Event::EmailChangeDelayed,
            account_id: Some(&session.account_id),
            email: Some(new_email),
            method: None,
            client,
        })
        .await;
        if let Ok(old) = Email::parse(&session.email) {
            let link = format!(
                "{}/email-change/cancel?token={}",
                self.link_base(),
                token.as_str()
            );
            let notice =
                email_change_waiting_notice(&old, new_email, &format_utc(effective_at), &link);
            self.mail_notice(
                &notice,
                "could not tell the old address of a waiting change",
            )
            .await;
        }
        Ok(effective_at)
    }

    /// The change waiting for this account, if any, for the account page.
    pub async fn waiting_email_change(
        &self,
        account_id: &AccountId,
    ) -> Result<Option<WaitingEmailChange>, AppError> {
        let found = self
            .inner
            .store
            .find_delayed_email_change(account_id)
            .await?;
        Ok(found.map(|change| waiting(&change)))
    }

    /// The cancel link's page: what it would cancel. Reads only (S59).
    pub async fn email_change_to_cancel(
        &self,
        token: &str,
    ) -> Result<WaitingEmailChange, CancelEmailChangeError> {
        let token = Token::parse(token).ok_or(CancelEmailChangeError::NothingToCancel)?;
        let found = self
            .inner
            .store
            .find_delayed_email_change_by_cancel_token(&token.hash().0)
            .await?
            .ok_or(CancelEmailChangeError::NothingToCancel)?;
        Ok(waiting(&found))
    }

    /// "Cancel this change": the waiting change goes, once (S59); the old address, still
    /// the account's, is told.
    pub async fn cancel_email_change(
        &self,
        token: &str,
        client: &ClientInfo,
    ) -> Result<(), CancelEmailChangeError> {
        let token = Token::parse(token).ok_or(CancelEmailChangeError::NothingToCancel)?;
        let cancelled = self
            .inner
            .store
            .cancel_delayed_email_change(&token.hash().0)
            .await?
            .ok_or(CancelEmailChangeError::NothingToCancel)?;
        self.record(Record {
            event: Event::EmailChangeCancelled,
            account_id: Some(&cancelled.account_id),
            email: Some(&cancelled.new_email),
            method: None,
            client,
        })
        .await;
        if let Ok(old) = Email::parse(&cancelled.old_email) {
            let notice = email_change_cancelled_notice(&old, &cancelled.new_email);
            self.mail_notice(&notice, "could not confirm a cancelled change")
                .await;
        }
        Ok(())
    }

    /// Housekeeping: every waiting change whose 24 hours are over takes effect, each in its
    /// own transaction with everything an e-mail change ends (S29); the old address is told
    /// as for any change (S52). One whose address another account took meanwhile is dropped.
    pub(crate) async fn apply_due_email_changes(&self, now: i64) -> Result<u64, AppError> {
        let mut applied = 0;
        for change in self.inner.store.due_delayed_email_changes(now).await? {
            match self
                .inner
                .store
                .apply_delayed_email_change(&change, now)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(StoreError::Conflict(_)) => {
                    self.inner
                        .store
                        .drop_delayed_email_change(&change.account_id)
                        .await?;
                    continue;
                }
                Err(other) => return Err(other.into()),
            }
            applied += 1;
            self.record(Record {
                event: Event::EmailChanged,
                account_id: Some(&change.account_id),
                email: Some(&change.new_email),
                method: None,
                client: &ClientInfo::default(),
            })
            .await;
            if let Ok(old) = Email::parse(&change.old_email) {
                let notice = email_changed_notice(&old, &change.new_email);
                self.mail_notice(&notice, "could not tell the old address of the change")
                    .await;
            }
        }
        Ok(applied)
    }

    async fn mail_notice(&self, mail: &OutgoingMail, failed: &'static str) {
        if let Err(error) = self.send_mail(mail).await {
            tracing::error!(%error, "{failed}");
        }
    }
}

fn waiting(change: &DelayedEmailChange) -> WaitingEmailChange {
    WaitingEmailChange {
        masked_new_email: Email::parse(&change.new_email)
            .map(|e| e.masked())
            .unwrap_or_default(),
        effective_at: change.effective_at,
    }
}
