//! Changing the password (S6): it needs a recent sign-in (S34, `FreshSession`) and the
//! current password, guesses at which count against the account like any other password
//! guess (S47); the new one must pass the rules of S1-S3, and everything else the account
//! holds (other sessions, trusted devices, sign-ins in progress) ends in the same
//! transaction. The owner is told.

use crate::audit::{Change, Event, Record};
use crate::sessions::FreshSession;
use crate::{AppError, ClientInfo, Gatehouse, Inconsistent};
use gatehouse_core::password::PasswordHashString;
use gatehouse_core::{Email, Password, PasswordError};
use gatehouse_delivery::password_changed_notice;

#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    #[error("wrong current password")]
    WrongCurrentPassword,
    #[error("new password refused")]
    WeakPassword(#[from] PasswordError),
    #[error("new password same as the current one")]
    Unchanged,
    #[error("password changed elsewhere meanwhile")]
    Conflict,
    #[error(transparent)]
    App(#[from] AppError),
}

conflict_means!(PasswordChangeError, Conflict);

impl Gatehouse {
    pub async fn change_password(
        &self,
        session: &FreshSession,
        current: &str,
        new: &str,
        client: &ClientInfo,
    ) -> Result<(), PasswordChangeError> {
        // A live session's account exists (accounts are disabled, never deleted) and holds
        // a valid address: anything else is a broken database, not a person's mistake.
        let account = self
            .inner
            .store
            .find_account(&session.account_id)
            .await?
            .ok_or_else(|| {
                AppError::unexpected(Inconsistent::new("a session without its account"))
            })?;
        let email = Email::parse(&account.email).map_err(AppError::unexpected)?;
        let new = Password::parse_new(new, &email)?;

        // The current password is a guess like any other: claimed before it is checked, on
        // the same account and address budgets as the sign-in (S47), and a failure counts
        // towards the lock and its notice like one (S52).
        let claim = self
            .claim_password_attempt(&account.email, None, client)
            .await?;
        let current = Password::parse(current).ok();
        let current_ok = match (&current, claim.admitted()) {
            (Some(current), true) => {
                let stored = PasswordHashString(account.password_hash.clone());
                match self.inner.hashing.verify(current.clone(), stored).await {
                    Ok(matches) => matches,
                    Err(error) => {
                        // S55: turned away by a full queue, the guess was never checked.
                        self.give_back(&claim).await?;
                        return Err(AppError::from(error).into());
                    }
                }
            }
            _ => false,
        };
        let Some(current) = current.filter(|_| current_ok) else {
            self.password_failed(&account.email, Some(&account.id), &claim, client)
                .await?;
            self.record(Record {
                event: Event::PasswordChanged(Change::Refused),
                account_id: Some(&account.id),
                email: Some(&account.email),
                method: None,
                client,
            })
            .await;
            return Err(PasswordChangeError::WrongCurrentPassword);
        };
        self.password_succeeded(&account.email, &claim).await?;
        if new.same_as(&current) {
            return Err(PasswordChangeError::Unchanged);
        }
        let hash = self.hash_password(new).await?;
        self.inner
            .store
            .change_password(
                &account.id,
                &account.password_hash,
                &hash.0,
                &session.session_id,
                self.now(),
            )
            .await?;
        self.record(Record {
            event: Event::PasswordChanged(Change::Made),
            account_id: Some(&account.id),
            email: Some(&account.email),
            method: None,
            client,
        })
        .await;
        if let Err(error) = self.send_mail(&password_changed_notice(&email)).await {
            tracing::error!(%error, "could not send the password-changed notice");
        }
        Ok(())
    }
}
