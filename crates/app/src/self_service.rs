//! What a signed-in person sees and does about their own account: trusted devices (S29),
//! sessions (S33), the products signed in through Gatehouse, and recent security events
//! (S51). Revoking a device asks for a recent
//! sign-in (S34); ending sessions and reading the log do not.

use crate::audit::{BackupCodeSaved, DeviceChange, Event, Method, ProductAccess, SignOut};
use crate::sessions::{FreshSession, SignedIn};
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::display::describe_user_agent;
use gatehouse_core::ids::new_id;
use gatehouse_core::BackupCode;
use gatehouse_store::NewBackupCode;

/// How many events the account page shows.
const RECENT_EVENTS: u32 = 10;

#[derive(Debug, Clone)]
pub struct DeviceEntry {
    pub id: String,
    pub browser: String,
    pub trusted_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct SessionEntry {
    pub id: String,
    pub browser: String,
    pub address: Option<String>,
    pub signed_in_at: i64,
    pub last_seen_at: i64,
    pub current: bool,
}

#[derive(Debug, Clone)]
pub struct ActivityEntry {
    pub at: i64,
    pub what: Activity,
    pub browser: String,
    pub address: Option<String>,
}

/// A recorded event as this version of Gatehouse reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    Known(Event),
    /// Written by another version (a newer node during an upgrade): shown by its stored
    /// names rather than hidden, since it is the owner's own security record.
    Unrecognised {
        event: String,
        result: String,
    },
}

/// A product that holds live tokens of the account.
#[derive(Debug, Clone)]
pub struct ProductEntry {
    pub client_id: String,
    pub name: String,
    pub last_signed_in_at: i64,
    /// It holds a refresh token: it can act while the person is away.
    pub offline: bool,
}

/// Everything the account page lists.
#[derive(Debug, Clone)]
pub struct AccountOverview {
    pub session: SignedIn,
    pub has_authenticator: bool,
    pub active_backup_codes: u32,
    /// Restored from a backup and no new backup code saved since (S54): a code used after
    /// the backup point may work once more.
    pub restored_from_backup: bool,
    pub phone: Option<crate::phone::PhoneSummary>,
    /// A new e-mail address waiting its 24 hours (issue 12).
    pub waiting_email_change: Option<crate::email_change::WaitingEmailChange>,
    pub devices: Vec<DeviceEntry>,
    pub sessions: Vec<SessionEntry>,
    pub products: Vec<ProductEntry>,
    pub activity: Vec<ActivityEntry>,
    /// What could lock this person out (issue 12, part 4), for the page's nudges.
    pub risks: Vec<crate::risk::Risk>,
    /// The account's passkeys (S58), oldest first.
    pub passkeys: Vec<crate::passkeys::PasskeySummary>,
}

#[derive(Debug, thiserror::Error)]
pub enum SelfServiceError {
    #[error("no such trusted device")]
    UnknownDevice,
    #[error("no live sign-in of that product")]
    UnknownProduct,
    #[error("no pending backup code for this session")]
    NoPendingBackupCode,
    #[error("no such other session")]
    UnknownSession,
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<gatehouse_store::StoreError> for SelfServiceError {
    fn from(error: gatehouse_store::StoreError) -> Self {
        Self::App(AppError::from(error))
    }
}

impl Gatehouse {
    pub async fn account_overview(&self, session: &SignedIn) -> Result<AccountOverview, AppError> {
        let now = self.now();
        let store = &self.inner.store;
        let devices = store
            .list_trusted_devices(&session.account_id, now)
            .await?
            .into_iter()
            .map(|d| DeviceEntry {
                browser: describe_user_agent(d.user_agent.as_deref()),
                id: d.id,
                trusted_at: d.created_at,
                last_used_at: d.last_used_at,
                expires_at: d.expires_at,
            })
            .collect();
        let sessions = store
            .list_live_sessions(
                &session.account_id,
                self.inner.settings.session_idle_secs,
                now,
            )
            .await?
            .into_iter()
            .map(|s| SessionEntry {
                id: s.id.clone(),
                browser: describe_user_agent(s.user_agent.as_deref()),
                address: s.client_address,
                signed_in_at: s.created_at,
                last_seen_at: s.last_seen_at,
                current: s.id == session.session_id,
            })
            .collect();
        let activity = store
            .list_events(&session.account_id, RECENT_EVENTS)
            .await?
            .into_iter()
            .map(|e| ActivityEntry {
                at: e.occurred_at,
                browser: describe_user_agent(e.user_agent.as_deref()),
                what: Event::from_stored(&e.event, &e.result).map_or(
                    Activity::Unrecognised {
                        event: e.event,
                        result: e.result,
                    },
                    Activity::Known,
                ),
                address: e.client_address,
            })
            .collect();
        let products = store
            .list_connected_products(&session.account_id, now)
            .await?
            .into_iter()
            .map(|p| ProductEntry {
                client_id: p.client_id,
                name: p.name,
                last_signed_in_at: p.last_signed_in_at,
                offline: p.offline,
            })
            .collect();
        let has_authenticator = self.has_authenticator(&session.account_id).await?;
        let active_backup_codes = store.count_active_backup_codes(&session.account_id).await?;
        let restored_from_backup = store.is_restored_account(&session.account_id).await?;
        let phone = self.phone_summary(&session.account_id).await?;
        let risks = self.account_risks(&session.account_id).await?;
        let waiting_email_change = self.waiting_email_change(&session.account_id).await?;
        let passkeys = self.list_passkeys(session).await?;
        Ok(AccountOverview {
            risks,
            passkeys,
            phone,
            waiting_email_change,
            session: session.clone(),
            has_authenticator,
            active_backup_codes,
            restored_from_backup,
            devices,
            sessions,
            products,
            activity,
        })
    }

    /// Ends every token a product holds for this account and withdraws the consent given to
    /// it: it must send the person through the sign-in again, and a third-party product is
    /// asked about again. Taking access away needs no recent sign-in, only a session.
    pub async fn sign_out_of_product(
        &self,
        session: &SignedIn,
        client_id: &str,
        client: &ClientInfo,
    ) -> Result<(), SelfServiceError> {
        let ended = self
            .inner
            .store
            .revoke_product_grants(&session.account_id, client_id, self.now())
            .await?;
        if ended == 0 {
            return Err(SelfServiceError::UnknownProduct);
        }
        self.record_for(
            session,
            Event::ProductSignIn(ProductAccess::Revoked),
            Some(Method::Product { client_id }),
            client,
        )
        .await;
        Ok(())
    }

    /// Revokes one trusted device, or all of them when `device_id` is `None` (S29, S34).
    pub async fn revoke_devices(
        &self,
        session: &FreshSession,
        device_id: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(), SelfServiceError> {
        let now = self.now();
        let revoked = match device_id {
            Some(id) => u64::from(
                self.inner
                    .store
                    .revoke_trusted_device(&session.account_id, id, now)
                    .await?,
            ),
            None => {
                self.inner
                    .store
                    .revoke_trusted_devices(&session.account_id, now)
                    .await?
            }
        };
        if device_id.is_some() && revoked == 0 {
            return Err(SelfServiceError::UnknownDevice);
        }
        let change = if device_id.is_some() {
            DeviceChange::Revoked
        } else {
            DeviceChange::AllRevoked
        };
        self.record_for(session, Event::TrustedDevice(change), None, client)
            .await;
        Ok(())
    }

    /// "Generate a new backup code": new pending codes, shown until confirmed; the old ones
    /// keep working until then (S22, S34).
    pub async fn start_new_backup_code(
        &self,
        session: &FreshSession,
        client: &ClientInfo,
    ) -> Result<(), SelfServiceError> {
        let now = self.now();
        let count = self.inner.settings.backup_codes_per_account.clamp(1, 16);
        let codes: Vec<(NewBackupCode, Vec<u8>)> = (0..count)
            .map(|_| {
                let code = BackupCode::generate();
                let id = new_id(now);
                let sealed = self
                    .inner
                    .keys
                    .sealing_key()
                    .seal(code.display().as_bytes(), &id);
                (
                    NewBackupCode {
                        id,
                        code_hash: code.hash(),
                        created_at: now,
                    },
                    sealed,
                )
            })
            .collect();
        self.inner
            .store
            .issue_pending_backup_codes(&session.account_id, &backup_key(session), &codes)
            .await?;
        self.record_for(
            session,
            Event::BackupCodeIssued,
            Some(Method::AccountPage),
            client,
        )
        .await;
        Ok(())
    }

    /// The account's address and the pending codes of this session, for display (never
    /// once they are confirmed).
    pub async fn pending_new_backup_codes(
        &self,
        session: &FreshSession,
    ) -> Result<(String, Vec<String>), SelfServiceError> {
        let sealed = self
            .inner
            .store
            .list_pending_backup_code_displays(&session.account_id, &backup_key(session))
            .await?;
        let codes: Vec<String> = sealed
            .iter()
            .filter_map(|(id, sealed)| self.inner.keys.sealing_key().open(sealed, id).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .collect();
        if codes.is_empty() {
            return Err(SelfServiceError::NoPendingBackupCode);
        }
        Ok((session.email.clone(), codes))
    }

    /// "I have saved this code for future use": the new codes replace the old ones.
    pub async fn confirm_new_backup_code(
        &self,
        session: &FreshSession,
        client: &ClientInfo,
    ) -> Result<(), SelfServiceError> {
        let activated = self
            .inner
            .store
            .activate_pending_backup_codes(&session.account_id, &backup_key(session), self.now())
            .await?;
        if activated == 0 {
            return Err(SelfServiceError::NoPendingBackupCode);
        }
        self.record_for(
            session,
            Event::BackupCodeSaved(BackupCodeSaved::Replaced),
            Some(Method::AccountPage),
            client,
        )
        .await;
        Ok(())
    }

    /// S33: signs out every other session of the account.
    pub async fn end_other_sessions(
        &self,
        session: &SignedIn,
        client: &ClientInfo,
    ) -> Result<u64, SelfServiceError> {
        let ended = self
            .inner
            .store
            .end_other_sessions(&session.account_id, &session.session_id, self.now())
            .await?;
        self.record_for(
            session,
            Event::SignedOut(SignOut::OtherSessions),
            None,
            client,
        )
        .await;
        Ok(ended)
    }
}

impl Gatehouse {
    /// The backup-code review (issue 12): after a sign-in with the backup code, what the
    /// account page lists (trusted devices, sessions, the last security events), so the
    /// person sees at once whether anyone else is in. `None` for a session that signed in
    /// another way: there is nothing to review.
    pub async fn backup_code_review(
        &self,
        session: &SignedIn,
    ) -> Result<Option<AccountOverview>, AppError> {
        if session.proof != gatehouse_core::Proof::BackupCode {
            return Ok(None);
        }
        self.account_overview(session).await.map(Some)
    }

    /// Signs out one other session of the account (S33), from the review's list. The
    /// session in use is not one of them: "Sign out" ends it.
    pub async fn end_one_session(
        &self,
        session: &SignedIn,
        session_id: &str,
        client: &ClientInfo,
    ) -> Result<(), SelfServiceError> {
        let ended = session_id != session.session_id
            && self
                .inner
                .store
                .end_session_of_account(&session.account_id, session_id, self.now())
                .await?;
        if !ended {
            return Err(SelfServiceError::UnknownSession);
        }
        self.record_for(session, Event::SignedOut(SignOut::OneSession), None, client)
            .await;
        Ok(())
    }
}

/// Pending codes from the account page belong to the session that asked for them.
fn backup_key(session: &SignedIn) -> String {
    format!("session:{}", session.session_id)
}
