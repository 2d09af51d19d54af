//! The steps a person takes after the address: the password (S46, S47), the code and
//! "Trust this device" (S7-S10, S26, S28), a backup code (S23-S25), and "I have saved this
//! code for future use" (S22). Each claims its guess from a budget first, then checks it,
//! then commits.

use super::codes::CodeMessage;
use super::{next_is_code_free, row_for, BrowserCookies, SignInError, StepOutcome};
use crate::audit::{Attempt, BackupCodeSaved, DeviceChange, Event, Method, Record};
use crate::budget::{
    password_success_counters, second_step_success_counters, Budget, Claim, PasswordClaim,
};
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::ids::new_id;
use gatehouse_core::password::{needs_rehash, PasswordHashString};
use gatehouse_core::{
    AccountId, BackupCode, Email, FlowEvent, FlowStep, LockoutPolicy, OtpCode, Password, Proof,
    SecondStepMethod, SignInFlow, Token,
};
use gatehouse_delivery::{backup_code_used_notice, lockout_notice, wrong_codes_notice};
use gatehouse_store::{AccountGuard, FlowCommit, FlowRow, NewTrustedDevice, StoreError};

impl Gatehouse {
    /// Step 2: the password. Every failure looks the same (S46, S47).
    pub async fn submit_password(
        &self,
        flow_token: &str,
        password: &str,
        browser: BrowserCookies<'_>,
        client: &ClientInfo,
    ) -> Result<StepOutcome, SignInError> {
        let (row, flow) = self.load_flow(flow_token).await?;
        if flow.step != FlowStep::Password {
            return Err(SignInError::WrongStep(flow.step));
        }
        let now = self.now();
        // Shorter than 8 or longer than 256 characters can be no one's password (S1); refusing
        // it costs nothing and tells nothing about the account.
        let Ok(password) = Password::parse(password) else {
            return Err(SignInError::InvalidCredentials);
        };
        let account = self.inner.store.find_account_by_email(&row.email).await?;
        let usable = account.filter(|a| a.disabled_at.is_none());
        let (device, device_token) = browser.device();
        let known_browser = match &usable {
            Some(account) => {
                self.inner
                    .store
                    .find_known_browser(&device, &account.id)
                    .await?
            }
            None => None,
        };
        let claim = self
            .claim_password_attempt(
                &row.email,
                usable.as_ref().map(|a| &a.id).zip(known_browser.as_deref()),
                client,
            )
            .await?;
        if !claim.admitted() {
            // S55: a refused guess is never checked and costs no hash; it answers after as
            // long as a check takes, so it looks like any other failure (S46).
            tokio::time::sleep(self.inner.hashing.typical_check_time()).await;
            self.password_failed(&row.email, usable.as_ref().map(|a| &a.id), &claim, client)
                .await?;
            return Err(SignInError::InvalidCredentials);
        }
        let stored = usable.as_ref().map_or_else(
            || self.inner.dummy_hash.clone(),
            |a| PasswordHashString(a.password_hash.clone()),
        );
        // An unknown address is checked against a real hash too, so it takes as long (S46).
        let matches = match self.inner.hashing.verify(password.clone(), stored).await {
            Ok(matches) => matches,
            Err(error) => {
                // S55: turned away by a full queue, the guess was never checked.
                self.give_back(&claim).await?;
                return Err(AppError::from(error).into());
            }
        };
        let account = match usable {
            Some(account) if matches => account,
            other => {
                self.password_failed(&row.email, other.as_ref().map(|a| &a.id), &claim, client)
                    .await?;
                return Err(SignInError::InvalidCredentials);
            }
        };
        self.upgrade_hash_if_weak(&account.id, &account.password_hash, password);
        // S26: looked at now, stamped in the step's commit, which fails if the device was
        // revoked in between.
        let trusted_device = match browser.trust.and_then(Token::parse) {
            Some(token) => {
                let token_hash = token.hash().0;
                self.inner
                    .store
                    .is_trusted_device(&token_hash, &account.id, now)
                    .await?
                    .then_some(token_hash)
            }
            None => None,
        };
        let has_backup_code = self
            .inner
            .store
            .count_active_backup_codes(&account.id)
            .await?
            > 0;
        // S27: decided from the account's credentials as they are now.
        let method = self.strongest_method(&account.id).await?;
        let next = flow.apply(
            FlowEvent::PasswordAccepted {
                account: account.id.clone(),
                trusted_device: trusted_device.is_some(),
                has_backup_code,
                method,
            },
            now,
        )?;
        let mut commit = FlowCommit {
            now,
            expected_version: row.version,
            // The password just checked must still be the account's when this commits (S6).
            account_guard: Some(AccountGuard {
                account_id: account.id.clone(),
                password_hash: Some(PasswordHashString(account.password_hash.clone())),
            }),
            trusted_device_used: trusted_device.map(|hash| (hash, account.id.clone())),
            counters: password_success_counters(&row.email, &claim),
            ..FlowCommit::default()
        };
        let mut next_row = row_for(&row, &next);
        next_row.browser_hash = Some(device.to_vec());
        let mut mail = None;
        if next.step == FlowStep::SecondStep && method != SecondStepMethod::Totp {
            mail = self
                .prepare_code(&mut next_row, &row.email, &account.id, method, client)
                .await?;
        }
        commit.stop_link = mail.as_ref().and_then(CodeMessage::stop_link);
        let progress = self.advance(&row, next, next_row, &mut commit, client)?;
        let done = [(
            Event::Password(Attempt::Accepted),
            trusted_device.map(|_| Method::Proof(Proof::TrustedDevice)),
        )];
        let recorded = self.step_records(
            &done,
            &row.email,
            &account.id,
            &progress,
            client,
            &mut commit,
        );
        self.inner.store.commit_flow(&row.id, commit).await?;
        self.after_commit(&recorded, &progress, &account.id, client)
            .await;
        let code_sent = match mail {
            Some(message) => self.send_code(&message, &account.id, client).await?,
            None => next_is_code_free(&progress),
        };
        Ok(StepOutcome {
            progress,
            device_token,
            trust_token: None,
            code_sent,
        })
    }

    /// Step 3: the e-mailed code, and "Trust this device" (S7-S10, S26, S28).
    pub async fn submit_code(
        &self,
        flow_token: &str,
        code: &str,
        trust_this_device: bool,
        client: &ClientInfo,
    ) -> Result<StepOutcome, SignInError> {
        let (row, flow, account_id) = self.load_second_step(flow_token).await?;
        let code = OtpCode::parse(code).map_err(|_| SignInError::MalformedCode)?;
        let (row, flow) = self
            .reserve_second_step_attempt(row, flow, &account_id, client)
            .await?;
        let now = self.now();
        let method = flow.method.unwrap_or(SecondStepMethod::EmailCode);
        let verdict = match method {
            SecondStepMethod::EmailCode | SecondStepMethod::Sms => {
                match (&row.code_hash, row.code_expires_at) {
                    (Some(_), Some(expires_at)) if now >= expires_at => {
                        Err(SignInError::CodeExpired)
                    }
                    (Some(stored), Some(_))
                        if code.matches(&self.inner.keys.code_mac_key(), &row.id, stored) =>
                    {
                        Ok(None)
                    }
                    _ => Err(SignInError::WrongCode),
                }
            }
            SecondStepMethod::Totp => self
                .check_authenticator_code(&account_id, &code, now)
                .await?
                .map(Some)
                .ok_or(SignInError::WrongCode),
        };
        let totp_step = match verdict {
            Ok(step) => step,
            Err(error) => {
                return Err(self
                    .second_step_failed(row, flow, &account_id, method.proof(), error, client)
                    .await)
            }
        };
        let has_backup_code = self
            .inner
            .store
            .count_active_backup_codes(&account_id)
            .await?
            > 0;
        let next = flow.apply(FlowEvent::CodeAccepted { has_backup_code }, now)?;
        let mut commit = FlowCommit {
            now,
            expected_version: row.version,
            // S17: the step is used up in the same transaction that signs in.
            use_totp_step: totp_step.map(|step| (account_id.clone(), step)),
            counters: second_step_success_counters(&account_id),
            ..FlowCommit::default()
        };
        let mut next_row = row_for(&row, &next);
        // S8: single use. The code dies with this step.
        next_row.code_hash = None;
        next_row.code_expires_at = None;
        // S28: trust is offered only here, after a correct code, and only when asked for.
        let trust_token = trust_this_device.then(|| {
            let token = Token::generate();
            commit.trusted_device = Some(NewTrustedDevice {
                id: new_id(now),
                token_hash: token.hash().0,
                account_id: account_id.clone(),
                user_agent: client.user_agent.clone(),
                created_at: now,
                expires_at: now + self.inner.settings.trust_days * 24 * 60 * 60,
            });
            token
        });
        let progress = self.advance(&row, next, next_row, &mut commit, client)?;
        let mut done = vec![(
            Event::Code(Attempt::Accepted),
            Some(Method::Proof(method.proof())),
        )];
        if trust_token.is_some() {
            done.push((Event::TrustedDevice(DeviceChange::Trusted), None));
        }
        let recorded = self.step_records(
            &done,
            &row.email,
            &account_id,
            &progress,
            client,
            &mut commit,
        );
        match self.inner.store.commit_flow(&row.id, commit).await {
            Ok(()) => {}
            // The same authenticator step won a parallel request: a replay (S17).
            Err(StoreError::Conflict(_)) if totp_step.is_some() => {
                return Err(SignInError::WrongCode)
            }
            Err(other) => return Err(other.into()),
        }
        self.after_commit(&recorded, &progress, &account_id, client)
            .await;
        Ok(StepOutcome {
            progress,
            device_token: None,
            trust_token,
            code_sent: true,
        })
    }

    /// Step 3, the other way: a backup code replaces the second step, never the password
    /// (S24), and shares its budget (S25).
    pub async fn submit_backup_code(
        &self,
        flow_token: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<StepOutcome, SignInError> {
        let (row, flow, account_id) = self.load_second_step(flow_token).await?;
        let code = BackupCode::parse(code).map_err(|_| SignInError::MalformedBackupCode)?;
        let (row, flow) = self
            .reserve_second_step_attempt(row, flow, &account_id, client)
            .await?;
        let now = self.now();
        let active = self
            .inner
            .store
            .count_active_backup_codes(&account_id)
            .await?;
        let status = self
            .inner
            .store
            .find_backup_code_status(&account_id, &code.hash())
            .await?;
        if status != Some(gatehouse_core::BackupCodeStatus::Active) {
            let error = SignInError::WrongBackupCode;
            return Err(self
                .second_step_failed(row, flow, &account_id, Proof::BackupCode, error, client)
                .await);
        }
        let next = flow.apply(
            FlowEvent::BackupCodeAccepted {
                has_backup_code: active > 1,
            },
            now,
        )?;
        let mut commit = FlowCommit {
            now,
            expected_version: row.version,
            // S23: consumed by compare-and-set in the same transaction; of parallel uses of
            // one code exactly one commit succeeds.
            redeem_backup_code: Some((account_id.clone(), code.hash())),
            counters: second_step_success_counters(&account_id),
            ..FlowCommit::default()
        };
        let mut next_row = row_for(&row, &next);
        next_row.code_hash = None;
        next_row.code_expires_at = None;
        let progress = self.advance(&row, next, next_row, &mut commit, client)?;
        let done = [(
            Event::BackupCode(Attempt::Accepted),
            Some(Method::Proof(Proof::BackupCode)),
        )];
        let recorded = self.step_records(
            &done,
            &row.email,
            &account_id,
            &progress,
            client,
            &mut commit,
        );
        match self.inner.store.commit_flow(&row.id, commit).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(SignInError::WrongBackupCode),
            Err(other) => return Err(other.into()),
        }
        self.after_commit(&recorded, &progress, &account_id, client)
            .await;
        // S24: the owner hears of it, without the code.
        if let Ok(email) = Email::parse(&row.email) {
            self.send_notice(&backup_code_used_notice(&email)).await;
        }
        Ok(StepOutcome::next(progress))
    }

    /// Step 4: "I have saved this code for future use" makes the pending code active and
    /// starts the session (S22).
    pub async fn confirm_backup_code_saved(
        &self,
        flow_token: &str,
        client: &ClientInfo,
    ) -> Result<StepOutcome, SignInError> {
        let (row, flow) = self.load_flow(flow_token).await?;
        let FlowStep::SaveBackupCode { .. } = flow.step else {
            return Err(SignInError::WrongStep(flow.step));
        };
        let account_id = row.account_id.clone().ok_or(SignInError::NoSignIn)?;
        let now = self.now();
        let next = flow.apply(FlowEvent::BackupCodeSaved, now)?;
        let mut commit = FlowCommit {
            now,
            expected_version: row.version,
            confirm_backup_codes_of_flow: Some(account_id.clone()),
            ..FlowCommit::default()
        };
        let next_row = row_for(&row, &next);
        let progress = self.advance(&row, next, next_row, &mut commit, client)?;
        let done = [(Event::BackupCodeSaved(BackupCodeSaved::AtSignIn), None)];
        let recorded = self.step_records(
            &done,
            &row.email,
            &account_id,
            &progress,
            client,
            &mut commit,
        );
        match self.inner.store.commit_flow(&row.id, commit).await {
            Ok(()) => {}
            // The code on this page was replaced by one shown in another window: this page's
            // code will never work, so the person must not go on believing it was saved.
            Err(StoreError::Conflict(_))
                if self
                    .inner
                    .store
                    .count_pending_backup_codes_of_flow(&account_id, &row.id)
                    .await?
                    == 0 =>
            {
                return Err(SignInError::BackupCodeReplaced);
            }
            Err(other) => return Err(other.into()),
        }
        self.after_commit(&recorded, &progress, &account_id, client)
            .await;
        Ok(StepOutcome::next(progress))
    }

    /// Counts a second-step guess in the flow (five per sign-in) and in the account's
    /// budget across sign-ins and nodes, before the guess is looked at (S10, S19, S25).
    async fn reserve_second_step_attempt(
        &self,
        row: FlowRow,
        flow: SignInFlow,
        account_id: &AccountId,
        client: &ClientInfo,
    ) -> Result<(FlowRow, SignInFlow), SignInError> {
        let now = self.now();
        if self.claim(&Budget::second_step(account_id)).await? == Claim::Refused {
            self.record_step(
                Event::Code(Attempt::Refused),
                &row,
                account_id,
                None,
                client,
            )
            .await;
            return Err(SignInError::SecondStepLocked);
        }
        let reserved = flow.apply(FlowEvent::AttemptReserved, now)?;
        let next_row = row_for(&row, &reserved);
        let commit = FlowCommit {
            now,
            expected_version: row.version,
            next: Some(next_row.clone()),
            ..FlowCommit::default()
        };
        self.inner.store.commit_flow(&row.id, commit).await?;
        Ok((
            FlowRow {
                version: row.version + 1,
                ..next_row
            },
            reserved,
        ))
    }

    async fn second_step_failed(
        &self,
        row: FlowRow,
        flow: SignInFlow,
        account_id: &AccountId,
        proof: Proof,
        error: SignInError,
        client: &ClientInfo,
    ) -> SignInError {
        let now = self.now();
        let event = match proof {
            Proof::BackupCode => Event::BackupCode(Attempt::Wrong),
            Proof::EmailCode | Proof::Sms | Proof::Totp | Proof::TrustedDevice | Proof::Passkey => {
                Event::Code(Attempt::Wrong)
            }
        };
        self.record_step(event, &row, account_id, Some(Method::Proof(proof)), client)
            .await;
        let Ok(next) = flow.apply(FlowEvent::SecondStepRejected, now) else {
            return error;
        };
        let ended = matches!(next.step, FlowStep::Ended { .. });
        let commit = FlowCommit {
            now,
            expected_version: row.version,
            next: Some(row_for(&row, &next)),
            ..FlowCommit::default()
        };
        if let Err(store_error) = self.inner.store.commit_flow(&row.id, commit).await {
            return store_error.into();
        }
        if ended {
            // S52: a right password followed by wrong codes means someone may know it.
            if let Ok(email) = Email::parse(&row.email) {
                self.send_notice(&wrong_codes_notice(&email)).await;
            }
            return SignInError::TooManyAttempts;
        }
        error
    }

    /// Records a wrong or refused password; the attempt that spends the last unit of the
    /// account's budget locks it and tells the owner (S47, S52).
    pub(crate) async fn password_failed(
        &self,
        email: &str,
        account_id: Option<&AccountId>,
        claim: &PasswordClaim,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        self.record(Record {
            event: Event::Password(if claim.admitted() {
                Attempt::Wrong
            } else {
                Attempt::Refused
            }),
            account_id,
            email: Some(email),
            method: None,
            client,
        })
        .await;
        let failures = self.failures(&Budget::account(email)).await?;
        // Only failures counted on the account's own budget lock it (for unknown browsers).
        let locked_now =
            claim.charged_the_account() && LockoutPolicy::ACCOUNT.hard_limit == Some(failures);
        if let (true, Some(account_id), Ok(parsed)) = (locked_now, account_id, Email::parse(email))
        {
            self.record(Record {
                event: Event::AccountLocked,
                account_id: Some(account_id),
                email: Some(email),
                method: None,
                client,
            })
            .await;
            // In the background: only existing accounts get this mail, and waiting for SMTP
            // here would make their answer slower than an unknown address's (S46).
            let this = self.clone();
            tokio::spawn(async move { this.send_notice(&lockout_notice(&parsed)).await });
        }
        Ok(())
    }

    /// S4: re-hash under today's parameters after a successful sign-in, in the background.
    fn upgrade_hash_if_weak(&self, account_id: &AccountId, old_hash: &str, password: Password) {
        let old = PasswordHashString(old_hash.to_string());
        if !needs_rehash(&old) {
            return;
        }
        let this = self.clone();
        let (account_id, old_hash) = (account_id.clone(), old_hash.to_string());
        tokio::spawn(async move {
            if let Ok(new_hash) = this.inner.hashing.hash(password).await {
                let now = this.now();
                if let Err(error) = this
                    .inner
                    .store
                    .update_password_hash(&account_id, &old_hash, &new_hash.0, now)
                    .await
                {
                    tracing::error!(%error, "could not upgrade a password hash");
                }
            }
        });
    }
}
