//! Authenticator apps (TOTP): enrolment from the account page and the check at sign-in
//! (S14-S19).
//!
//! Enrolment needs a sign-in from the last few minutes (S18, S34), counts only after a
//! correct code (S18), and both adding and removing revoke every trusted device (S29) and
//! tell the owner (S52). The secret is sealed under the master key (S15) and is shown only
//! while the enrolment is pending.

use crate::audit::{Event, Method};
use crate::budget::{Budget, Claim};
use crate::sessions::{FreshSession, SignedIn};
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::totp::{self, TotpSecret};
use gatehouse_core::{AccountId, Email, OtpCode, Proof};
use gatehouse_delivery::{authenticator_added_notice, authenticator_removed_notice, OutgoingMail};

/// The issuer apps show next to the account.
const ISSUER: &str = "Gatehouse";

#[derive(Debug, thiserror::Error)]
pub enum AuthenticatorError {
    #[error("an authenticator app is already set up")]
    AlreadySetUp,
    #[error("no authenticator enrolment in progress")]
    NotStarted,
    #[error("wrong authenticator code")]
    WrongCode,
    #[error("second-step budget spent")]
    TooManyAttempts,
    #[error(transparent)]
    App(#[from] AppError),
}

conflict_means!(AuthenticatorError, AlreadySetUp);

/// What the enrolment page shows.
#[derive(Debug, Clone)]
pub struct PendingAuthenticator {
    /// For manual entry, in groups of four.
    pub secret: String,
    /// For the QR code.
    pub uri: String,
}

fn sealing_context(account_id: &AccountId) -> String {
    format!("totp:{account_id}")
}

impl Gatehouse {
    /// Whether the account has a confirmed authenticator app.
    pub async fn has_authenticator(&self, account_id: &AccountId) -> Result<bool, AppError> {
        Ok(matches!(
            self.inner.store.find_totp(account_id).await?,
            Some(totp) if totp.confirmed_at.is_some()
        ))
    }

    /// "Set up an authenticator app": a new secret, pending until a correct code.
    pub async fn start_authenticator(
        &self,
        session: &FreshSession,
    ) -> Result<(), AuthenticatorError> {
        if self.has_authenticator(&session.account_id).await? {
            return Err(AuthenticatorError::AlreadySetUp);
        }
        let secret = TotpSecret::generate();
        let sealed = self
            .inner
            .keys
            .sealing_key()
            .seal(secret.as_bytes(), &sealing_context(&session.account_id));
        self.inner
            .store
            .insert_pending_totp(&session.account_id, &sealed, self.now())
            .await?;
        Ok(())
    }

    /// The pending secret, for the enrolment page.
    pub async fn pending_authenticator(
        &self,
        session: &FreshSession,
    ) -> Result<PendingAuthenticator, AuthenticatorError> {
        let (secret, _) = self.pending_secret(&session.account_id).await?;
        Ok(PendingAuthenticator {
            secret: secret.to_base32_grouped(),
            uri: secret.otpauth_uri(ISSUER, &session.email),
        })
    }

    /// Finishes the enrolment with a code from the app (S18). Wrong codes count against the
    /// account's second-step budget (S19); a code that is not six digits is refused before
    /// any check is counted, as at sign-in (both parse with `OtpCode::parse`).
    pub async fn confirm_authenticator(
        &self,
        session: &FreshSession,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthenticatorError> {
        let (secret, sealed) = self.pending_secret(&session.account_id).await?;
        let code = OtpCode::parse(code).map_err(|_| AuthenticatorError::WrongCode)?;
        // Enrolment guesses share the account's second-step budget (S19).
        let budget = Budget::second_step(&session.account_id);
        if self.claim(&budget).await? == Claim::Refused {
            return Err(AuthenticatorError::TooManyAttempts);
        }
        let now = self.now();
        let Some(step) = totp::verify(&secret, &code, now, None) else {
            return Err(AuthenticatorError::WrongCode);
        };
        // Confirms the very secret the code was checked against: an enrolment restarted in
        // another window meanwhile has a secret no code has proved yet.
        if !self
            .inner
            .store
            .confirm_totp(&session.account_id, &sealed, step, now)
            .await?
        {
            return Err(AuthenticatorError::NotStarted);
        }
        self.reset(&budget).await?;
        self.authenticator_changed(
            session,
            Event::AuthenticatorAdded,
            client,
            authenticator_added_notice,
        )
        .await;
        Ok(())
    }

    /// Removes the app; sign-ins go back to e-mailed codes.
    pub async fn remove_authenticator(
        &self,
        session: &FreshSession,
        client: &ClientInfo,
    ) -> Result<(), AuthenticatorError> {
        if !self
            .inner
            .store
            .delete_totp(&session.account_id, self.now())
            .await?
        {
            return Err(AuthenticatorError::NotStarted);
        }
        self.authenticator_changed(
            session,
            Event::AuthenticatorRemoved,
            client,
            authenticator_removed_notice,
        )
        .await;
        Ok(())
    }

    /// The sign-in check: the step a correct code matched, or `None` (S16, S17). The caller
    /// uses the step up atomically with the rest of the sign-in.
    pub(crate) async fn check_authenticator_code(
        &self,
        account_id: &AccountId,
        code: &OtpCode,
        now: i64,
    ) -> Result<Option<i64>, AppError> {
        let Some(row) = self.inner.store.find_totp(account_id).await? else {
            return Ok(None);
        };
        if row.confirmed_at.is_none() {
            return Ok(None);
        }
        let Some(secret) = self.open_secret(&row.secret_sealed, account_id) else {
            return Ok(None);
        };
        Ok(totp::verify(&secret, code, now, row.last_used_step))
    }

    /// The enrolment in progress: its secret, and the sealed form it is stored in (which
    /// pins the confirmation to this secret).
    async fn pending_secret(
        &self,
        account_id: &AccountId,
    ) -> Result<(TotpSecret, Vec<u8>), AuthenticatorError> {
        match self.inner.store.find_totp(account_id).await? {
            Some(row) if row.confirmed_at.is_none() => self
                .open_secret(&row.secret_sealed, account_id)
                .map(|secret| (secret, row.secret_sealed))
                .ok_or(AuthenticatorError::NotStarted),
            Some(_) => Err(AuthenticatorError::AlreadySetUp),
            None => Err(AuthenticatorError::NotStarted),
        }
    }

    fn open_secret(&self, sealed: &[u8], account_id: &AccountId) -> Option<TotpSecret> {
        match self
            .inner
            .keys
            .sealing_key()
            .open(sealed, &sealing_context(account_id))
        {
            Ok(bytes) => Some(TotpSecret::from_bytes(bytes)),
            Err(error) => {
                tracing::error!(%error, "an authenticator secret could not be opened");
                None
            }
        }
    }

    async fn authenticator_changed(
        &self,
        session: &SignedIn,
        event: Event,
        client: &ClientInfo,
        notice: fn(&Email) -> OutgoingMail,
    ) {
        self.record_for(session, event, Some(Method::Proof(Proof::Totp)), client)
            .await;
        if let Ok(email) = Email::parse(&session.email) {
            if let Err(error) = self.send_mail(&notice(&email)).await {
                tracing::error!(%error, "could not send an authenticator notice");
            }
        }
    }
}
