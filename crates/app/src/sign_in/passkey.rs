//! "Sign in with a passkey" (S58): a discoverable credential, from the e-mail page (no
//! address typed: a new sign-in starts here) or from the password page (the passkey must
//! then be the typed address's). A passkey whose authenticator verified the person signs
//! in alone; the backup code is still shown and confirmed when the account has none (S22).
//!
//! Order: the ceremony is taken first (single use, whatever follows), the passkey is found
//! by its credential id, a unit of the account's second-step budget is claimed (S10, S19),
//! and only then is the signature checked. A counter that went backwards is refused and
//! the owner told; the use and the new counter are written in the commit that signs in,
//! by a compare-and-set that never lets the counter go back.

use super::{fresh_flow_row, row_for, BrowserCookies, SignInError, StepOutcome};
use crate::audit::{Attempt, Event, Method, Record};
use crate::budget::{second_step_success_counters, Budget, Claim};
use crate::passkeys::{user_handle, SIGN_IN};
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::ids::new_id;
use gatehouse_core::{AccountId, Email, FlowError, FlowEvent, FlowStep, Proof, SignInFlow, Token};
use gatehouse_delivery::passkey_cloned_notice;
use gatehouse_store::{AccountGuard, FlowCommit, PasskeyUse, StoreError};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PublicKeyCredential, WebauthnError,
};

/// A passkey sign-in that went through: the step's outcome, and the sign-in's handle (new
/// when it began on the e-mail page), for the cookie while it goes on.
#[derive(Debug)]
pub struct PasskeySignIn {
    pub outcome: StepOutcome,
    pub flow_token: Token,
}

impl Gatehouse {
    /// Finishes a passkey sign-in with the browser's answer. `flow_token` is the sign-in of
    /// the password page it came from, or `None` from the e-mail page.
    pub async fn sign_in_with_passkey(
        &self,
        flow_token: Option<&str>,
        ceremony: &str,
        credential_json: &str,
        return_to: Option<&str>,
        browser: BrowserCookies<'_>,
        client: &ClientInfo,
    ) -> Result<PasskeySignIn, SignInError> {
        // A sign-in from the password page must still be at that page.
        let existing = match flow_token {
            Some(token) => {
                let (row, flow) = self.load_flow(token).await?;
                if flow.step != FlowStep::Password {
                    return Err(SignInError::WrongStep(flow.step));
                }
                let token = Token::parse(token).ok_or(SignInError::NoSignIn)?;
                Some((row, flow, token))
            }
            None => None,
        };
        let webauthn = self.webauthn().ok_or(SignInError::PasskeyRefused)?;
        // S58: taken now, so this answer (and this challenge) can never be used again.
        let (_, state) = self
            .take_ceremony::<DiscoverableAuthentication>(ceremony, SIGN_IN)
            .await?
            .ok_or(SignInError::PasskeyRefused)?;
        let credential: PublicKeyCredential =
            serde_json::from_str(credential_json).map_err(|_| SignInError::PasskeyRefused)?;
        let (user, credential_id) = webauthn
            .identify_discoverable_authentication(&credential)
            .map_err(|_| SignInError::PasskeyRefused)?;
        let Some(stored) = self
            .inner
            .store
            .find_passkey_by_credential(credential_id)
            .await?
        else {
            self.record_passkey(Event::Passkey(Attempt::Wrong), None, None, client)
                .await;
            return Err(SignInError::PasskeyRefused);
        };
        let account_id = stored.account_id.clone();
        // The user handle the authenticator signed must be the one this passkey was made for.
        if user_handle(&account_id) != Some(user) {
            self.record_passkey(
                Event::Passkey(Attempt::Wrong),
                Some(&account_id),
                None,
                client,
            )
            .await;
            return Err(SignInError::PasskeyRefused);
        }
        let account = self
            .inner
            .store
            .find_account(&account_id)
            .await?
            .filter(|a| a.disabled_at.is_none())
            .ok_or(SignInError::PasskeyRefused)?;
        // On the password page, only a passkey of the address typed there finishes it.
        if let Some((row, _, _)) = &existing {
            if row.email != account.email {
                self.record_passkey(
                    Event::Passkey(Attempt::Wrong),
                    None,
                    Some(&row.email),
                    client,
                )
                .await;
                return Err(SignInError::PasskeyRefused);
            }
        }
        // S10, S19: counted before the signature is looked at; only a success resets it.
        let budget = Budget::second_step(&account_id);
        if self.claim(&budget).await? == Claim::Refused {
            self.record_passkey(
                Event::Passkey(Attempt::Refused),
                Some(&account_id),
                Some(&account.email),
                client,
            )
            .await;
            return Err(SignInError::SecondStepLocked);
        }
        let mut passkey: Passkey =
            serde_json::from_str(&stored.passkey).map_err(AppError::unexpected)?;
        let result =
            match webauthn.finish_discoverable_authentication_v2(&credential, state, &passkey) {
                Ok(result) => result,
                Err(WebauthnError::CredentialPossibleCompromise) => {
                    self.passkey_cloned(&account_id, &account.email, &stored.name, client)
                        .await;
                    return Err(SignInError::PasskeyRefused);
                }
                Err(error) => {
                    tracing::info!(%error, "a passkey assertion was refused");
                    self.record_passkey(
                        Event::Passkey(Attempt::Wrong),
                        Some(&account_id),
                        Some(&account.email),
                        client,
                    )
                    .await;
                    return Err(SignInError::PasskeyRefused);
                }
            };
        passkey.update_credential(&result);
        let now = self.now();
        let has_backup_code = self
            .inner
            .store
            .count_active_backup_codes(&account_id)
            .await?
            > 0;
        let (row, flow, flow_token) = match existing {
            Some(existing) => existing,
            None => {
                let flow = SignInFlow::start(now);
                let token = Token::generate();
                let row = fresh_flow_row(new_id(now), &account.email, &flow, return_to);
                self.inner
                    .store
                    .insert_flow(&row, &token.hash().0, now)
                    .await?;
                (row, flow, token)
            }
        };
        let next = flow
            .apply(
                FlowEvent::PasskeyAccepted {
                    account: account_id.clone(),
                    user_verified: result.user_verified(),
                    has_backup_code,
                },
                now,
            )
            .map_err(|error| match error {
                FlowError::UserNotVerified => SignInError::PasskeyRefused,
                other => other.into(),
            })?;
        let mut commit = FlowCommit {
            now,
            expected_version: row.version,
            account_guard: Some(AccountGuard {
                account_id: account_id.clone(),
                password_hash: None,
            }),
            use_passkey: Some(PasskeyUse {
                id: stored.id.clone(),
                passkey: serde_json::to_string(&passkey).map_err(AppError::unexpected)?,
                counter: i64::from(result.counter()),
                used_at: now,
            }),
            ..FlowCommit::default()
        };
        let (device, device_token) = browser.device();
        let mut next_row = row_for(&row, &next);
        next_row.browser_hash = Some(device.to_vec());
        let progress = self.advance(&row, next, next_row, &mut commit, client)?;
        commit.counters = second_step_success_counters(&account_id);
        let done = [(
            Event::Passkey(Attempt::Accepted),
            Some(Method::Proof(Proof::Passkey)),
        )];
        let recorded = self.step_records(
            &done,
            &account.email,
            &account_id,
            &progress,
            client,
            &mut commit,
        );
        match self.inner.store.commit_flow(&row.id, commit).await {
            Ok(()) => {}
            // A parallel use of the same passkey moved its counter past this one's.
            Err(StoreError::Conflict(_)) => return Err(SignInError::PasskeyRefused),
            Err(other) => return Err(other.into()),
        }
        self.after_commit(&recorded, &progress, &account_id, client)
            .await;
        Ok(PasskeySignIn {
            outcome: StepOutcome {
                progress,
                device_token,
                trust_token: None,
                code_sent: true,
            },
            flow_token,
        })
    }

    async fn record_passkey(
        &self,
        event: Event,
        account_id: Option<&AccountId>,
        email: Option<&str>,
        client: &ClientInfo,
    ) {
        self.record(Record {
            event,
            account_id,
            email,
            method: Some(Method::Proof(Proof::Passkey)),
            client,
        })
        .await;
    }

    /// S58: a counter that went backwards means a copied authenticator: refused, recorded,
    /// and the owner told.
    async fn passkey_cloned(
        &self,
        account_id: &AccountId,
        email: &str,
        passkey_name: &str,
        client: &ClientInfo,
    ) {
        self.record_passkey(Event::PasskeyCloned, Some(account_id), Some(email), client)
            .await;
        if let Ok(email) = Email::parse(email) {
            self.send_notice(&passkey_cloned_notice(&email, passkey_name))
                .await;
        }
    }
}
