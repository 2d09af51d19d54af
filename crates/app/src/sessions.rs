//! Signed-in sessions: looking one up from its cookie, proving it recent enough for a
//! security change (S34, `FreshSession`), and ending it (S32, S33).

use crate::audit::{Event, Record, SignOut};
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::{AccountId, Proof, Token};

/// The person behind a live session. Only this crate builds one (`non_exhaustive`): a use
/// case that takes `&SignedIn` runs for a session that was looked up, never for one made up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SignedIn {
    pub session_id: String,
    pub account_id: AccountId,
    pub email: String,
    pub proof: Proof,
    pub signed_in_at: i64,
}

/// A live session that signed in within `fresh_sign_in_secs` (S34). Only `fresh_session`
/// makes one, so the use cases that change how someone signs in, which take it, cannot run
/// for an older sign-in whatever the caller does.
#[derive(Debug, Clone)]
pub struct FreshSession(SignedIn);

impl std::ops::Deref for FreshSession {
    type Target = SignedIn;

    fn deref(&self) -> &SignedIn {
        &self.0
    }
}

/// Why a cookie gives no session for the request.
#[derive(Debug, thiserror::Error)]
pub enum SessionRefusal {
    #[error("not signed in")]
    NotSignedIn,
    /// S34: signed in, but too long ago for a security change.
    #[error("sign-in too old for this change")]
    TooOld,
    #[error(transparent)]
    App(#[from] AppError),
}

impl Gatehouse {
    /// The session behind `session_cookie` if it signed in within the last few minutes
    /// (S34): changes to how one signs in ask for a recent sign-in.
    pub async fn fresh_session(
        &self,
        session_cookie: &str,
    ) -> Result<FreshSession, SessionRefusal> {
        let session = self
            .find_session(session_cookie)
            .await?
            .ok_or(SessionRefusal::NotSignedIn)?;
        if self.now() - session.signed_in_at > self.inner.settings.fresh_sign_in_secs {
            return Err(SessionRefusal::TooOld);
        }
        Ok(FreshSession(session))
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
