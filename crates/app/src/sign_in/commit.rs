//! The commit of a step: what it carries besides the flow's next columns (new pending
//! backup codes, S22; the session, S31; the security events, S51) and what follows once it
//! is durable (the events announced; the notice of a new device, S52).

use super::{Progress, SignInError};
use crate::audit::{Event, Method, Record, Recorded};
use crate::{ClientInfo, Gatehouse};
use gatehouse_core::display::{describe_user_agent, format_utc};
use gatehouse_core::ids::new_id;
use gatehouse_core::{AccountId, BackupCode, Email, FlowStep, SignInFlow, Token};
use gatehouse_delivery::{new_device_notice, OutgoingMail};
use gatehouse_store::{AccountGuard, FlowCommit, FlowRow, KnownBrowser, NewBackupCode, NewSession};

impl Gatehouse {
    /// Fills the commit with what the flow's new step needs: new pending backup codes when
    /// it must show them, the session when it is signed in.
    pub(super) fn advance(
        &self,
        row: &FlowRow,
        next: SignInFlow,
        mut next_row: FlowRow,
        commit: &mut FlowCommit,
        client: &ClientInfo,
    ) -> Result<Progress, SignInError> {
        let now = commit.now;
        if let (None, Some(account_id)) = (&commit.account_guard, next.account.clone()) {
            commit.account_guard = Some(AccountGuard {
                account_id,
                password_hash: None,
            });
        }
        let account_id = next.account.clone().ok_or(SignInError::NoSignIn)?;
        match next.step {
            FlowStep::SaveBackupCode { .. } => {
                // S22: generated only now, after both steps; pending until confirmed.
                let codes: Vec<BackupCode> =
                    (0..self.inner.settings.backup_codes_per_account.clamp(1, 16))
                        .map(|_| BackupCode::generate())
                        .collect();
                let shown: Vec<String> = codes.iter().map(BackupCode::display).collect();
                next_row.sealed_backup_codes = Some(
                    self.inner
                        .keys
                        .sealing_key()
                        .seal(shown.join("\n").as_bytes(), &row.id),
                );
                commit.new_pending_backup_codes = Some((
                    account_id,
                    codes
                        .iter()
                        .map(|code| NewBackupCode {
                            id: new_id(now),
                            code_hash: code.hash(),
                            created_at: now,
                        })
                        .collect(),
                ));
                commit.next = Some(next_row);
                Ok(Progress::Next(next.step))
            }
            FlowStep::SignedIn { proof } => {
                // S31: the session is a fresh token, issued only now; the flow is gone.
                let session = Token::generate();
                commit.session = Some(NewSession {
                    id: new_id(now),
                    token_hash: session.hash().0,
                    account_id: account_id.clone(),
                    proof,
                    created_at: now,
                    expires_at: now + self.inner.settings.session_absolute_secs,
                    user_agent: client.user_agent.clone(),
                    client_address: client.address.clone(),
                });
                // S56: the browser that gave the password becomes known to the account.
                commit.known_browser = next_row
                    .browser_hash
                    .as_deref()
                    .and_then(|hash| <[u8; 32]>::try_from(hash).ok())
                    .map(|browser_hash| KnownBrowser {
                        id: new_id(now),
                        browser_hash,
                        account_id: account_id.clone(),
                        seen_at: now,
                    });
                commit.next = None;
                Ok(Progress::SignedIn {
                    session,
                    return_to: row.return_to.clone(),
                    proof,
                })
            }
            FlowStep::Password | FlowStep::SecondStep | FlowStep::Ended { .. } => {
                commit.next = Some(next_row);
                Ok(Progress::Next(next.step))
            }
        }
    }

    /// The step's security events, in order (S51): its own (`done`, for the address the
    /// sign-in is for), then what its outcome adds (a session started, a backup code
    /// issued). They are stored in the step's commit, so a step is never durable without
    /// its record, nor its record without the step; and one commit is one fsync.
    pub(super) fn step_records(
        &self,
        done: &[(Event, Option<Method<'_>>)],
        email: &str,
        account_id: &AccountId,
        progress: &Progress,
        client: &ClientInfo,
        commit: &mut FlowCommit,
    ) -> Vec<Recorded> {
        let mut recorded: Vec<Recorded> = done
            .iter()
            .map(|(event, method)| {
                self.prepare_record(Record {
                    event: *event,
                    account_id: Some(account_id),
                    email: Some(email),
                    method: *method,
                    client,
                })
            })
            .collect();
        let outcome = match progress {
            Progress::SignedIn { .. } => Some(Event::SessionStarted),
            Progress::Next(FlowStep::SaveBackupCode { .. }) => Some(Event::BackupCodeIssued),
            Progress::Next(_) => None,
        };
        if let Some(event) = outcome {
            recorded.push(self.prepare_record(Record {
                event,
                account_id: Some(account_id),
                email: None,
                method: None,
                client,
            }));
        }
        commit.events = recorded.iter().map(|r| r.row().clone()).collect();
        recorded
    }

    /// What follows a step once its commit held: its events are announced (metrics, the
    /// log), and a new session from a new device is reported to the owner (S52).
    pub(super) async fn after_commit(
        &self,
        recorded: &[Recorded],
        progress: &Progress,
        account_id: &AccountId,
        client: &ClientInfo,
    ) {
        for record in recorded {
            record.announce();
        }
        if let Progress::SignedIn { session, .. } = progress {
            self.tell_about_new_device(account_id, session, client)
                .await;
        }
    }

    /// S52: a sign-in from a browser and system this account has not signed in with before
    /// (among its last 50 sessions) is reported to the owner. The very first sign-in is not.
    async fn tell_about_new_device(
        &self,
        account_id: &AccountId,
        session: &Token,
        client: &ClientInfo,
    ) {
        let Ok(earlier) = self
            .inner
            .store
            .earlier_session_user_agents(account_id, &session.hash().0, 50)
            .await
        else {
            return;
        };
        let this_device = describe_user_agent(client.user_agent.as_deref());
        let known = earlier
            .iter()
            .any(|ua| describe_user_agent(ua.as_deref()) == this_device);
        if earlier.is_empty() || known {
            return;
        }
        let Ok(Some(account)) = self.inner.store.find_account(account_id).await else {
            return;
        };
        if let Ok(email) = Email::parse(&account.email) {
            let when = format_utc(self.now());
            let notice = new_device_notice(&email, &this_device, &when, client.address.as_deref());
            self.send_notice(&notice).await;
        }
    }

    pub(super) fn open_backup_codes(&self, sealed: &[u8], flow_id: &str) -> Vec<String> {
        match self.inner.keys.sealing_key().open(sealed, flow_id) {
            Ok(bytes) => String::from_utf8_lossy(&bytes)
                .lines()
                .map(str::to_string)
                .collect(),
            Err(error) => {
                tracing::error!(%error, "a pending backup code could not be opened");
                Vec::new()
            }
        }
    }

    pub(super) async fn send_notice(&self, mail: &OutgoingMail) {
        if let Err(error) = self.send_mail(mail).await {
            tracing::error!(%error, subject = %mail.subject, "could not send a notice");
        }
    }
}
