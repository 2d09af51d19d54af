//! "Wasn't you? Stop this sign-in." (issue 12, S59): every e-mail with a sign-in code
//! carries a link; opening it only shows a button (mail scanners open links), and the
//! button ends that sign-in at once: its code stops working and the browser that started
//! it must start over. It is a security event (S51) and counts like a failure against the
//! client address the sign-in came from (`budget::count_stopped_sign_in`).
//!
//! The pages never name the account or its address: a link is 256 random bits, and one
//! that does not work says only that (S46).

use crate::audit::{Event, Record};
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::Token;
use gatehouse_store::{StopLinkState, StopRefused};

#[derive(Debug, thiserror::Error)]
pub enum StopError {
    /// Unknown, malformed or past its lifetime (as long as its code).
    #[error("stop link unknown or expired")]
    InvalidLink,
    /// The button was pressed already: that sign-in is stopped.
    #[error("that sign-in was already stopped")]
    AlreadyStopped,
    /// The sign-in finished, ended or expired: there is nothing to stop, and nothing changed.
    #[error("that sign-in is no longer in progress")]
    SignInOver,
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<gatehouse_store::StoreError> for StopError {
    fn from(error: gatehouse_store::StoreError) -> Self {
        Self::App(AppError::from(error))
    }
}

impl Gatehouse {
    /// Whether the link's sign-in can be stopped now. Reads only (S59).
    pub async fn stop_link_state(&self, token: &str) -> Result<(), StopError> {
        let token = Token::parse(token).ok_or(StopError::InvalidLink)?;
        match self
            .inner
            .store
            .find_stop_link_state(&token.hash().0, self.now())
            .await?
        {
            StopLinkState::Stoppable => Ok(()),
            StopLinkState::Invalid => Err(StopError::InvalidLink),
            StopLinkState::Used => Err(StopError::AlreadyStopped),
            StopLinkState::SignInOver => Err(StopError::SignInOver),
        }
    }

    /// "Stop this sign-in": uses the link and deletes its sign-in in one transaction, then
    /// records the event and counts the stop against the address the sign-in came from.
    pub async fn stop_sign_in(&self, token: &str, client: &ClientInfo) -> Result<(), StopError> {
        let token = Token::parse(token).ok_or(StopError::InvalidLink)?;
        let stopped = match self
            .inner
            .store
            .stop_sign_in(&token.hash().0, self.now())
            .await?
        {
            Ok(stopped) => stopped,
            Err(StopRefused::Invalid) => return Err(StopError::InvalidLink),
            Err(StopRefused::Used) => return Err(StopError::AlreadyStopped),
            Err(StopRefused::SignInOver) => return Err(StopError::SignInOver),
        };
        self.record(Record {
            event: Event::SignInStopped,
            account_id: Some(&stopped.account_id),
            email: Some(&stopped.email),
            method: None,
            client,
        })
        .await;
        self.count_stopped_sign_in(stopped.client_address.as_deref())
            .await?;
        Ok(())
    }
}
