//! Signed-in sessions: looking one up from its cookie and ending it (S32, S33).

use crate::audit::{Event, Record, SignOut};
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::Token;

/// The person behind a live session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session_id: String,
    pub account_id: String,
    pub email: String,
    pub proof: String,
    pub signed_in_at: i64,
}

/// Why a session may not make a security change now (S34).
#[derive(Debug, thiserror::Error)]
pub enum RecentSignIn {
    #[error("not signed in")]
    NotSignedIn,
    #[error("the sign-in is too old for this change")]
    TooOld,
    #[error(transparent)]
    App(#[from] AppError),
}

impl Gatehouse {
    /// The session behind `session_cookie` if it signed in within the last few minutes
    /// (S34): changes to how one signs in ask for a recent sign-in.
    pub(crate) async fn recent_session(
        &self,
        session_cookie: &str,
    ) -> Result<SignedIn, RecentSignIn> {
        let session = self
            .find_session(session_cookie)
            .await?
            .ok_or(RecentSignIn::NotSignedIn)?;
        if self.now() - session.signed_in_at > self.inner.settings.fresh_sign_in_secs {
            return Err(RecentSignIn::TooOld);
        }
        Ok(session)
    }

    /// The live session for a cookie value, if any. Unknown, ended, expired and idle
    /// sessions, and those of disabled accounts, are all simply "not signed in".
    pub async fn find_session(&self, session_cookie: &str) -> Result<Option<SignedIn>, AppError> {
        let Some(token) = Token::parse(session_cookie) else {
            return Ok(None);
        };
        let now = self.now();
        let idle = self.inner.settings.session_idle_secs;
        let session = self
            .inner
            .store
            .find_live_session(&token.hash().0, idle, now)
            .await?;
        Ok(session.map(|s| SignedIn {
            session_id: s.id,
            account_id: s.account_id,
            email: s.email,
            proof: s.proof,
            signed_in_at: s.created_at,
        }))
    }

    /// Ends the session on the server, not only in the browser (S33).
    pub async fn sign_out(
        &self,
        session_cookie: &str,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        let Some(token) = Token::parse(session_cookie) else {
            return Ok(());
        };
        if let Some(account_id) = self
            .inner
            .store
            .end_session(&token.hash().0, self.now())
            .await?
        {
            self.record(Record {
                event: Event::SignedOut(SignOut::ThisSession),
                account_id: Some(&account_id),
                email: None,
                method: None,
                client,
            })
            .await;
        }
        Ok(())
    }
}
