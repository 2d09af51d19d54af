//! Helpdesk recovery with a notice and a wait (issue 12, part 3), for someone who lost both
//! their second factor and their backup code:
//!
//! 1. `gatehouse user recover E` starts it, and the owner's address is told at once, with a
//!    link to a page whose button "Cancel this recovery" stops it (S52, S59). If that notice
//!    cannot be sent, nothing is started: a recovery the owner could not hear of must not
//!    run.
//! 2. After the waiting period (`Settings::recovery_wait_secs`, 72 hours by default),
//!    `user recover --link E` issues a single-use recovery link, valid 24 hours, printed for
//!    the operator to hand over in person (the owner is told it was issued), or mailed to the
//!    address with `--send`. A newer link replaces an older one.
//! 3. The link's page, "Recover your account", has a button that (POST, CSRF) removes the
//!    authenticator app and phone, spends every backup code and ends every session and
//!    trusted device, in one transaction (S53). The link never signs anyone in: like a
//!    backup code it replaces only the second step, never the password (S24). The next
//!    sign-in asks for the password and an e-mailed code and then shows a new backup code;
//!    the account page offers a new authenticator app.
//!
//! `user recover --cancel E` stops a pending recovery from the CLI. `user reset-second-factor`
//! stays, for emergencies, as the path without a notice period. Every step is a security
//! event (S51) and the owner is told of each (S52).

use crate::audit::{Event, Record, RecoveryStep};
use crate::budget::Budget;
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::ids::new_id;
use gatehouse_core::{AccountId, Email, Token};
use gatehouse_delivery::{
    recovery_cancelled_notice, recovery_completed_notice, recovery_link,
    recovery_link_issued_notice, recovery_started_notice, OutgoingMail,
};
use gatehouse_store::{AccountRow, CancelledBy, RecoveryRow};

/// How long a recovery link works once issued.
pub const RECOVERY_LINK_LIFETIME_SECS: i64 = 24 * 60 * 60;

/// The operator's recovery commands, refused with a reason the CLI prints.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("invalid email address: {0}")]
    InvalidEmail(String),
    #[error("no account with this email")]
    NotFound,
    #[error("the account is disabled (enable it first)")]
    Disabled,
    #[error("a recovery of this account is already pending (its link can be issued from {})", gatehouse_core::display::format_utc(*.ready_at))]
    AlreadyPending { ready_at: i64 },
    #[error(
        "no recovery of this account is pending (start one with `gatehouse user recover EMAIL`)"
    )]
    NonePending,
    #[error("the waiting period is not over: the recovery link can be issued from {}", gatehouse_core::display::format_utc(*.ready_at))]
    NotReady { ready_at: i64 },
    #[error("could not send the notice to the account's address, so no recovery was started: {0}")]
    NoticeNotSent(gatehouse_delivery::DeliveryError),
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<gatehouse_store::StoreError> for RecoveryError {
    fn from(error: gatehouse_store::StoreError) -> Self {
        Self::App(AppError::from(error))
    }
}

/// What the cancel and recovery pages can meet.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryLinkError {
    /// Unknown, used, replaced, cancelled or expired: the page cannot help.
    #[error("recovery link unknown, used or expired")]
    InvalidLink,
    #[error(transparent)]
    App(#[from] AppError),
}

conflict_means!(RecoveryLinkError, InvalidLink);

/// A pending recovery, as `user show` and `user recover` print it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingRecovery {
    pub started_at: i64,
    /// From when the recovery link can be issued.
    pub ready_at: i64,
    /// When the newest recovery link stops working; `None` before one was issued.
    pub link_expires_at: Option<i64>,
}

impl From<&RecoveryRow> for PendingRecovery {
    fn from(row: &RecoveryRow) -> Self {
        Self {
            started_at: row.started_at,
            ready_at: row.ready_at,
            link_expires_at: row.link_expires_at,
        }
    }
}

/// How the operator wants the recovery link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkDelivery {
    /// Printed, to hand over in person; the owner's address is told it was issued.
    Print,
    /// Mailed to the account's address.
    Mail,
}

/// A recovery link just issued: `link` is set when it is to be printed.
#[derive(Debug, Clone)]
pub struct IssuedLink {
    pub email: String,
    pub link: Option<String>,
    pub expires_at: i64,
}

/// What the cancel and recovery pages show about the recovery their link belongs to.
#[derive(Debug, Clone)]
pub struct RecoveryTarget {
    pub masked_email: String,
    pub started_at: i64,
    pub ready_at: i64,
}

impl From<&RecoveryRow> for RecoveryTarget {
    fn from(row: &RecoveryRow) -> Self {
        Self {
            masked_email: Email::parse(&row.email)
                .map(|e| e.masked())
                .unwrap_or_default(),
            started_at: row.started_at,
            ready_at: row.ready_at,
        }
    }
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
    /// `gatehouse user recover E`: starts a recovery and tells the owner at once.
    pub async fn start_recovery(&self, email: &str) -> Result<PendingRecovery, RecoveryError> {
        let (account, address) = self.recovery_account(email).await?;
        if account.disabled_at.is_some() {
            return Err(RecoveryError::Disabled);
        }
        if let Some(pending) = self.inner.store.find_pending_recovery(&account.id).await? {
            if pending.notified {
                return Err(RecoveryError::AlreadyPending {
                    ready_at: pending.ready_at,
                });
            }
            // Started, but its notice never left (S53): nobody was told, so it never counted.
            self.inner
                .store
                .delete_unannounced_recovery(&pending.id)
                .await?;
        }
        let now = self.now();
        let wait = self.inner.settings.recovery_wait_secs;
        let id = new_id(now);
        let cancel = Token::generate();
        match self
            .inner
            .store
            .insert_recovery(&id, &account.id, &cancel.hash().0, now, now + wait)
            .await
        {
            Ok(()) => {}
            // Another operator started one between the check and the insert.
            Err(gatehouse_store::StoreError::Conflict(_)) => {
                let ready_at = self
                    .inner
                    .store
                    .find_pending_recovery(&account.id)
                    .await?
                    .map_or(now + wait, |r| r.ready_at);
                return Err(RecoveryError::AlreadyPending { ready_at });
            }
            Err(other) => return Err(other.into()),
        }
        let link = format!(
            "{}/recovery/cancel?token={}",
            self.link_base(),
            cancel.as_str()
        );
        let notice = recovery_started_notice(&address, &link, wait / 3600);
        if let Err(error) = self.send_mail(&notice).await {
            self.inner.store.delete_unannounced_recovery(&id).await?;
            return Err(RecoveryError::NoticeNotSent(error));
        }
        self.inner.store.mark_recovery_notified(&id, now).await?;
        self.recovery_event(
            RecoveryStep::Started,
            &account.id,
            &account.email,
            &operator(),
        )
        .await;
        let pending = self
            .inner
            .store
            .find_pending_recovery(&account.id)
            .await?
            .ok_or(RecoveryError::NonePending)?;
        Ok(PendingRecovery::from(&pending))
    }

    /// `gatehouse user recover --cancel E`.
    pub async fn cancel_recovery_as_operator(
        &self,
        email: &str,
    ) -> Result<PendingRecovery, RecoveryError> {
        let (account, address) = self.recovery_account(email).await?;
        let cancelled = self
            .inner
            .store
            .cancel_pending_recovery(&account.id, CancelledBy::Operator, self.now())
            .await?
            .ok_or(RecoveryError::NonePending)?;
        self.recovery_event(
            RecoveryStep::CancelledByOperator,
            &account.id,
            &account.email,
            &operator(),
        )
        .await;
        self.send_recovery_notice(&recovery_cancelled_notice(&address))
            .await;
        Ok(PendingRecovery::from(&cancelled))
    }

    /// `gatehouse user recover --link E [--send]`: once the wait is over, a new single-use
    /// recovery link (replacing any earlier one).
    pub async fn issue_recovery_link(
        &self,
        email: &str,
        delivery: LinkDelivery,
    ) -> Result<IssuedLink, RecoveryError> {
        let (account, address) = self.recovery_account(email).await?;
        if account.disabled_at.is_some() {
            return Err(RecoveryError::Disabled);
        }
        let now = self.now();
        let pending = self
            .inner
            .store
            .find_pending_recovery(&account.id)
            .await?
            .ok_or(RecoveryError::NonePending)?;
        if !pending.notified {
            return Err(RecoveryError::NonePending);
        }
        if now < pending.ready_at {
            return Err(RecoveryError::NotReady {
                ready_at: pending.ready_at,
            });
        }
        let token = Token::generate();
        let expires_at = now + RECOVERY_LINK_LIFETIME_SECS;
        if !self
            .inner
            .store
            .set_recovery_link(&pending.id, &token.hash().0, expires_at, now)
            .await?
        {
            // Cancelled or completed between the read and the write.
            return Err(RecoveryError::NonePending);
        }
        let link = format!("{}/recover?token={}", self.link_base(), token.as_str());
        self.recovery_event(
            RecoveryStep::LinkIssued,
            &account.id,
            &account.email,
            &operator(),
        )
        .await;
        let printed = match delivery {
            LinkDelivery::Mail => {
                let mail = recovery_link(&address, &link, RECOVERY_LINK_LIFETIME_SECS / 3600);
                self.send_mail(&mail).await.map_err(AppError::from)?;
                None
            }
            LinkDelivery::Print => {
                self.send_recovery_notice(&recovery_link_issued_notice(&address))
                    .await;
                Some(link)
            }
        };
        Ok(IssuedLink {
            email: account.email,
            link: printed,
            expires_at,
        })
    }

    /// The pending recovery of an account, for `user show`.
    pub async fn pending_recovery(
        &self,
        account_id: &AccountId,
    ) -> Result<Option<PendingRecovery>, AppError> {
        Ok(self
            .inner
            .store
            .find_pending_recovery(account_id)
            .await?
            .as_ref()
            .map(PendingRecovery::from))
    }

    /// The cancel page (GET changes nothing, S59): which recovery the link would stop.
    pub async fn recovery_cancel_target(
        &self,
        token: &str,
    ) -> Result<RecoveryTarget, RecoveryLinkError> {
        let token = Token::parse(token).ok_or(RecoveryLinkError::InvalidLink)?;
        let row = self
            .inner
            .store
            .find_recovery_by_cancel_token(&token.hash().0)
            .await?
            .ok_or(RecoveryLinkError::InvalidLink)?;
        Ok(RecoveryTarget::from(&row))
    }

    /// "Cancel this recovery" (POST with CSRF, S59): stops the recovery the link is bound
    /// to, once.
    pub async fn cancel_recovery(
        &self,
        token: &str,
        client: &ClientInfo,
    ) -> Result<(), RecoveryLinkError> {
        let token = Token::parse(token).ok_or(RecoveryLinkError::InvalidLink)?;
        let row = self
            .inner
            .store
            .cancel_recovery_by_token(&token.hash().0, self.now())
            .await?
            .ok_or(RecoveryLinkError::InvalidLink)?;
        self.recovery_event(
            RecoveryStep::CancelledByOwner,
            &row.account_id,
            &row.email,
            client,
        )
        .await;
        if let Ok(address) = Email::parse(&row.email) {
            self.send_recovery_notice(&recovery_cancelled_notice(&address))
                .await;
        }
        Ok(())
    }

    /// The recovery page (GET changes nothing): which account the link recovers.
    pub async fn recovery_target(&self, token: &str) -> Result<RecoveryTarget, RecoveryLinkError> {
        let token = Token::parse(token).ok_or(RecoveryLinkError::InvalidLink)?;
        let row = self
            .inner
            .store
            .find_recovery_by_link(&token.hash().0, self.now())
            .await?
            .ok_or(RecoveryLinkError::InvalidLink)?;
        Ok(RecoveryTarget::from(&row))
    }

    /// The recovery page's button: uses the link (once) and resets how the account signs
    /// in, in one transaction (`Store::complete_recovery`). The second-step budget starts
    /// again: the failures were guesses at the factor that is gone.
    pub async fn complete_recovery(
        &self,
        token: &str,
        client: &ClientInfo,
    ) -> Result<(), RecoveryLinkError> {
        let token = Token::parse(token).ok_or(RecoveryLinkError::InvalidLink)?;
        let (row, _removed) = self
            .inner
            .store
            .complete_recovery(&token.hash().0, self.now())
            .await?;
        self.reset(&Budget::second_step(&row.account_id)).await?;
        self.recovery_event(RecoveryStep::Completed, &row.account_id, &row.email, client)
            .await;
        if let Ok(address) = Email::parse(&row.email) {
            self.send_recovery_notice(&recovery_completed_notice(&address))
                .await;
        }
        Ok(())
    }

    async fn recovery_account(&self, email: &str) -> Result<(AccountRow, Email), RecoveryError> {
        let address =
            Email::parse(email).map_err(|e| RecoveryError::InvalidEmail(e.to_string()))?;
        let account = self
            .account_at(&address)
            .await?
            .ok_or(RecoveryError::NotFound)?;
        Ok((account, address))
    }

    async fn recovery_event(
        &self,
        step: RecoveryStep,
        account_id: &AccountId,
        email: &str,
        client: &ClientInfo,
    ) {
        self.record(Record {
            event: Event::Recovery(step),
            account_id: Some(account_id),
            email: Some(email),
            method: None,
            client,
        })
        .await;
    }

    /// A notice that must not undo what was done if it cannot be sent: logged.
    async fn send_recovery_notice(&self, notice: &OutgoingMail) {
        if let Err(error) = self.send_mail(notice).await {
            tracing::error!(%error, subject = %notice.subject, "could not send a recovery notice");
        }
    }
}
