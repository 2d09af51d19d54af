//! The sign-in use cases, one per step of DESIGN.md §1. Each loads the flow, lets
//! `core::SignInFlow` decide, and persists the decision with everything it produces in one
//! `FlowCommit` (one transaction, compare-and-set on the flow's version).
//!
//! Guesses are counted before they are checked (S10, S19, S47, S48): a password attempt
//! claims a unit of the account's and the client address's budget, a code attempt claims
//! one of the flow's five and one of the account's second-step budget.

use crate::audit::{Event, Record};
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::display::{describe_user_agent, format_utc};
use gatehouse_core::flow::{may_send_code, ResendRefused, CODE_LIFETIME_SECS};
use gatehouse_core::ids::new_id;
use gatehouse_core::password::{needs_rehash, PasswordHashString};
use gatehouse_core::{
    AccountId, Admission, BackupCode, Email, FlowError, FlowEvent, FlowStep, LockoutPolicy,
    OtpCode, Password, Proof, ReturnTo, SecondStepMethod, SignInFlow, Token,
};
use gatehouse_delivery::{
    backup_code_used_notice, lockout_notice, new_device_notice, sign_in_code, sms_code,
    wrong_codes_notice, OutgoingMail, OutgoingSms,
};
use gatehouse_store::{
    AccountGuard, FlowCommit, FlowRow, NewBackupCode, NewSession, NewTrustedDevice, StoreError,
};

/// What a person did wrong, or what stops the sign-in; `web` turns each into a page.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("invalid e-mail address")]
    InvalidEmail,
    /// Wrong password, unknown address, disabled or locked account: one answer (S46, S47).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// No sign-in in progress for this browser, or it expired: start again.
    #[error("no sign-in in progress")]
    NoSignIn,
    /// The request belongs to another step; the person is sent to the current one.
    #[error("this step is not the current one")]
    WrongStep(FlowStep),
    #[error("malformed code")]
    MalformedCode,
    #[error("malformed backup code")]
    MalformedBackupCode,
    #[error("wrong code")]
    WrongCode,
    #[error("wrong backup code")]
    WrongBackupCode,
    #[error("code expired")]
    CodeExpired,
    /// S10: the flow's budget is spent; the password must be entered again.
    #[error("the sign-in's code budget is spent")]
    TooManyAttempts,
    /// S10, S19: the account's second-step budget across sign-ins asks to wait.
    #[error("the account's second-step budget asks to wait")]
    SecondStepLocked,
    #[error("resend too soon (retry in {0} s)")]
    ResendTooSoon(i64),
    #[error("no more codes may be sent now")]
    ResendLimit,
    #[error("the code could not be sent")]
    CodeNotSent,
    /// A newer backup code was shown in another window; the one on this page is void.
    #[error("backup code replaced in another window")]
    BackupCodeReplaced,
    /// Another request for this sign-in won the race; nothing was changed.
    #[error("lost a race with another request")]
    TryAgain,
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<StoreError> for SignInError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(_) => Self::TryAgain,
            other => Self::App(AppError::Store(other)),
        }
    }
}

impl From<FlowError> for SignInError {
    fn from(error: FlowError) -> Self {
        match error {
            FlowError::Expired => Self::NoSignIn,
            FlowError::Ended | FlowError::TooManyAttempts => Self::TooManyAttempts,
            FlowError::WrongStep => Self::TryAgain,
        }
    }
}

/// What a page needs to show the current step.
#[derive(Debug, Clone)]
pub struct FlowView {
    pub step: FlowStep,
    pub email: String,
    pub masked_email: String,
    /// Only while the "Save your backup code" page is open: the new codes, for display.
    pub backup_codes: Vec<String>,
    /// The e-mail with the code could not be sent (limits or the mail server).
    pub code_sent: bool,
    /// How the second step is asked for, once the password was accepted.
    pub method: Option<SecondStepMethod>,
    /// The verified phone ("•••• 0123") when codes go, or could go, by text.
    pub phone: Option<String>,
    /// Where the sign-in leads afterwards (a product's waiting request), so that "Not you?"
    /// starts again without losing it.
    pub return_to: Option<String>,
}

/// Where a successful step leads.
#[derive(Debug)]
pub enum Progress {
    Next(FlowStep),
    SignedIn {
        session: Token,
        return_to: Option<String>,
    },
}

#[derive(Debug)]
pub struct StepOutcome {
    pub progress: Progress,
    /// Set when "Trust this device" was ticked and the code was right: the browser keeps it.
    pub trust_token: Option<Token>,
    /// False when the step needed an e-mailed code that could not be sent.
    pub code_sent: bool,
}

impl StepOutcome {
    fn next(progress: Progress) -> Self {
        Self {
            progress,
            trust_token: None,
            code_sent: true,
        }
    }
}

/// The outcome of claiming an attempt from a budget.
pub(crate) enum Claim {
    Granted,
    Refused,
}

fn account_key(email: &str) -> String {
    format!("account:{email}")
}

/// IPv6 clients are counted per /64, the block one subscriber usually gets; counting each
/// address would hand an attacker 2^64 budgets (S47).
pub(crate) fn client_key(address: &str) -> String {
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("client:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("client:{v4}"),
            None => format!("client:{address}"),
        },
        _ => format!("client:{address}"),
    }
}

/// How often a claim lost to a parallel one is tried again before the attempt is refused.
const CLAIM_RETRIES: usize = 4;

pub(crate) fn second_step_key(account_id: &str) -> String {
    format!("second-step:{account_id}")
}

impl Gatehouse {
    /// Step 1: any well-formed address starts a flow. No account is looked up, so the
    /// answer is the same for known and unknown addresses (S46).
    pub async fn start_sign_in(
        &self,
        email: &str,
        return_to: Option<&str>,
    ) -> Result<Token, SignInError> {
        let email = Email::parse(email).map_err(|_| SignInError::InvalidEmail)?;
        let now = self.now();
        let flow = SignInFlow::start(now);
        let token = Token::generate();
        let row = FlowRow {
            id: new_id(now),
            email: email.as_str().to_string(),
            account_id: None,
            step: flow.step.name().into(),
            proof: None,
            attempts: 0,
            expires_at: flow.expires_at,
            version: 0,
            code_hash: None,
            code_expires_at: None,
            codes_sent: 0,
            last_code_sent_at: None,
            sealed_backup_codes: None,
            second_step_method: None,
            return_to: return_to
                .and_then(ReturnTo::parse)
                .map(|r| r.as_str().to_string()),
        };
        self.inner
            .store
            .insert_flow(&row, &token.hash().0, now)
            .await?;
        Ok(token)
    }

    /// What the page for the current step shows.
    pub async fn view_sign_in(&self, flow_token: &str) -> Result<FlowView, SignInError> {
        let (row, flow) = self.load_flow(flow_token).await?;
        let backup_codes = match (&flow.step, &row.sealed_backup_codes) {
            (FlowStep::SaveBackupCode { .. }, Some(sealed)) => {
                self.open_backup_codes(sealed, &row.id)
            }
            _ => Vec::new(),
        };
        let email = Email::parse(&row.email).map_err(|_| SignInError::NoSignIn)?;
        let phone = match (&row.account_id, flow.step) {
            (Some(account_id), FlowStep::SecondStep) => self
                .phone_summary(account_id)
                .await?
                .filter(|p| p.verified)
                .map(|p| p.masked),
            _ => None,
        };
        Ok(FlowView {
            step: flow.step,
            masked_email: email.masked(),
            email: row.email,
            backup_codes,
            code_sent: row.code_hash.is_some() || flow.method == Some(SecondStepMethod::Totp),
            method: flow.method,
            phone,
            return_to: row.return_to,
        })
    }

    /// Step 2: the password. Every failure looks the same (S46, S47).
    pub async fn submit_password(
        &self,
        flow_token: &str,
        password: &str,
        trust_cookie: Option<&str>,
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
        let admitted = self.claim_password_attempt(&row.email, client).await?;
        let account = self.inner.store.find_account_by_email(&row.email).await?;
        let usable = account.filter(|a| a.disabled_at.is_none());
        let stored = usable.as_ref().map_or_else(
            || self.inner.dummy_hash.clone(),
            |a| PasswordHashString(a.password_hash.clone()),
        );
        // The hash is checked even when the attempt was refused or the account unknown, so
        // all of these take the same time (S46).
        let matches = self
            .inner
            .hashing
            .verify(password.clone(), stored)
            .await
            .map_err(AppError::from)?;
        let account = match usable {
            Some(account) if matches && admitted => account,
            other => {
                self.password_failed(
                    &row.email,
                    other.as_ref().map(|a| a.id.as_str()),
                    admitted,
                    client,
                )
                .await?;
                return Err(SignInError::InvalidCredentials);
            }
        };
        self.password_succeeded(&row.email, client).await?;
        self.upgrade_hash_if_weak(&account.id, &account.password_hash, password);
        let account_id = AccountId::parse(&account.id).ok_or(SignInError::NoSignIn)?;
        let trusted_device = match trust_cookie.and_then(Token::parse) {
            Some(token) => {
                self.inner
                    .store
                    .use_trusted_device(&token.hash().0, &account.id, now)
                    .await?
            }
            None => false,
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
                account: account_id,
                trusted_device,
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
            ..FlowCommit::default()
        };
        let mut next_row = row_for(&row, &next);
        let mut mail = None;
        if next.step == FlowStep::SecondStep && method != SecondStepMethod::Totp {
            mail = self
                .prepare_code(&mut next_row, &row.email, &account.id, method)
                .await?;
        }
        let progress = self.advance(&row, next, next_row, &mut commit, client)?;
        self.inner.store.commit_flow(&row.id, commit).await?;
        self.record(Record {
            event: Event::Password,
            result: "success",
            account_id: Some(&account.id),
            email: Some(&row.email),
            method: trusted_device.then_some(Proof::TrustedDevice.as_str()),
            client,
        })
        .await;
        let code_sent = match mail {
            Some(message) => self.send_code(&message, &account.id, client).await?,
            None => next_is_code_free(&progress),
        };
        self.after_commit(&progress, &account.id, client).await;
        Ok(StepOutcome {
            progress,
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
                    .second_step_failed(row, flow, &account_id, method.as_str(), error, client)
                    .await)
            }
        };
        self.inner
            .store
            .reset_failures(&second_step_key(&account_id))
            .await?;
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
        match self.inner.store.commit_flow(&row.id, commit).await {
            Ok(()) => {}
            // The same authenticator step won a parallel request: a replay (S17).
            Err(StoreError::Conflict(_)) if totp_step.is_some() => {
                return Err(SignInError::WrongCode)
            }
            Err(other) => return Err(other.into()),
        }
        self.record(Record {
            event: Event::Code,
            result: "success",
            account_id: Some(&account_id),
            email: Some(&row.email),
            method: Some(method.as_str()),
            client,
        })
        .await;
        if trust_token.is_some() {
            self.record(Record {
                event: Event::TrustedDevice,
                result: "added",
                account_id: Some(&account_id),
                email: Some(&row.email),
                method: None,
                client,
            })
            .await;
        }
        self.after_commit(&progress, &account_id, client).await;
        Ok(StepOutcome {
            progress,
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
                .second_step_failed(row, flow, &account_id, "backup_code", error, client)
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
            ..FlowCommit::default()
        };
        let mut next_row = row_for(&row, &next);
        next_row.code_hash = None;
        next_row.code_expires_at = None;
        let progress = self.advance(&row, next, next_row, &mut commit, client)?;
        match self.inner.store.commit_flow(&row.id, commit).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(SignInError::WrongBackupCode),
            Err(other) => return Err(other.into()),
        }
        self.inner
            .store
            .reset_failures(&second_step_key(&account_id))
            .await?;
        self.record(Record {
            event: Event::BackupCode,
            result: "success",
            account_id: Some(&account_id),
            email: Some(&row.email),
            method: Some(Proof::BackupCode.as_str()),
            client,
        })
        .await;
        // S24: the owner hears of it, without the code.
        if let Ok(email) = Email::parse(&row.email) {
            self.send_notice(&backup_code_used_notice(&email)).await;
        }
        self.after_commit(&progress, &account_id, client).await;
        Ok(StepOutcome::next(progress))
    }

    /// "Resend code": a new code replaces the old one (S9).
    pub async fn resend_code(
        &self,
        flow_token: &str,
        client: &ClientInfo,
    ) -> Result<(), SignInError> {
        let (row, flow, account_id) = self.load_second_step(flow_token).await?;
        let now = self.now();
        let method = flow.method.unwrap_or(SecondStepMethod::EmailCode);
        // An app's code is never sent: a code mailed now could not be accepted and would only
        // spend the account's hourly budget (S9). The page offers no "Resend" for it.
        let allowed = if method == SecondStepMethod::Totp {
            Err(SignInError::ResendLimit)
        } else {
            may_send_code(row.codes_sent, row.last_code_sent_at, now).map_err(|refused| {
                match refused {
                    ResendRefused::TooSoon { retry_after_secs } => {
                        SignInError::ResendTooSoon(retry_after_secs)
                    }
                    ResendRefused::TooMany => SignInError::ResendLimit,
                }
            })
        };
        let mut next_row = row_for(&row, &flow);
        let mail = match allowed {
            Ok(()) => {
                self.prepare_code(&mut next_row, &row.email, &account_id, method)
                    .await?
            }
            Err(_) => None,
        };
        let Some(mail) = mail else {
            self.record(Record {
                event: Event::CodeSent,
                result: "refused",
                account_id: Some(&account_id),
                email: Some(&row.email),
                method: Some(method.as_str()),
                client,
            })
            .await;
            return Err(allowed.err().unwrap_or(SignInError::ResendLimit));
        };
        let commit = FlowCommit {
            now,
            expected_version: row.version,
            next: Some(next_row),
            ..FlowCommit::default()
        };
        self.inner.store.commit_flow(&row.id, commit).await?;
        if self.send_code(&mail, &account_id, client).await? {
            Ok(())
        } else {
            Err(SignInError::CodeNotSent)
        }
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
        self.record(Record {
            event: Event::BackupCodeSaved,
            result: "success",
            account_id: Some(&account_id),
            email: Some(&row.email),
            method: None,
            client,
        })
        .await;
        self.after_commit(&progress, &account_id, client).await;
        Ok(StepOutcome::next(progress))
    }

    // ----- the pieces the steps share -----

    async fn load_flow(&self, flow_token: &str) -> Result<(FlowRow, SignInFlow), SignInError> {
        let token = Token::parse(flow_token).ok_or(SignInError::NoSignIn)?;
        let row = self
            .inner
            .store
            .find_flow_by_token(&token.hash().0)
            .await?
            .ok_or(SignInError::NoSignIn)?;
        let step =
            FlowStep::from_stored(&row.step, row.proof.as_deref()).ok_or(SignInError::NoSignIn)?;
        let account = match &row.account_id {
            Some(id) => Some(AccountId::parse(id).ok_or(SignInError::NoSignIn)?),
            None => None,
        };
        let flow = SignInFlow {
            step,
            account,
            attempts: row.attempts,
            method: row
                .second_step_method
                .as_deref()
                .and_then(SecondStepMethod::parse),
            expires_at: row.expires_at,
        };
        match flow.ensure_live(self.now()) {
            Ok(()) => Ok((row, flow)),
            Err(FlowError::Ended) => Err(SignInError::TooManyAttempts),
            Err(_) => Err(SignInError::NoSignIn),
        }
    }

    async fn load_second_step(
        &self,
        flow_token: &str,
    ) -> Result<(FlowRow, SignInFlow, String), SignInError> {
        let (row, flow) = self.load_flow(flow_token).await?;
        if flow.step != FlowStep::SecondStep {
            return Err(SignInError::WrongStep(flow.step));
        }
        let account_id = row.account_id.clone().ok_or(SignInError::NoSignIn)?;
        Ok((row, flow, account_id))
    }

    /// Claims one attempt from a budget before the guess is evaluated (S48). Losing a race
    /// to a parallel claim is retried a few times, so two people behind one address signing
    /// in at the same moment are not refused; a policy refusal is final.
    pub(crate) async fn claim_attempt(
        &self,
        key: &str,
        policy: LockoutPolicy,
    ) -> Result<Claim, SignInError> {
        for _ in 0..CLAIM_RETRIES {
            let now = self.now();
            let seen = self.inner.store.find_failure_record(key).await?;
            if policy.admit(seen, now) != Admission::Allowed {
                return Ok(Claim::Refused);
            }
            let restart = policy.forget_if_stale(seen, now) != seen;
            if self
                .inner
                .store
                .claim_attempt(key, seen, restart, now)
                .await?
            {
                return Ok(Claim::Granted);
            }
        }
        Ok(Claim::Refused)
    }

    /// S47: a password guess takes one unit from the client address's budget, then one from
    /// the account's. When the account refuses, the address unit is given back, and when the
    /// address refuses the account is not touched: a busy shared address can slow people
    /// down but never pushes anyone's account towards its lock.
    /// A right password: the account's run of failures ends, and the address gets its unit
    /// back (S47).
    pub(crate) async fn password_succeeded(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<(), SignInError> {
        self.inner.store.reset_failures(&account_key(email)).await?;
        if let Some(address) = &client.address {
            self.inner
                .store
                .refund_attempt(&client_key(address))
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn claim_password_attempt(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<bool, SignInError> {
        let address_key = client.address.as_deref().map(client_key);
        if let Some(key) = &address_key {
            if let Claim::Refused = self
                .claim_attempt(key, LockoutPolicy::CLIENT_ADDRESS)
                .await?
            {
                return Ok(false);
            }
        }
        match self
            .claim_attempt(&account_key(email), LockoutPolicy::ACCOUNT)
            .await?
        {
            Claim::Granted => Ok(true),
            Claim::Refused => {
                if let Some(key) = &address_key {
                    self.inner.store.refund_attempt(key).await?;
                }
                Ok(false)
            }
        }
    }

    /// Counts a second-step guess in the flow (five per sign-in) and in the account's
    /// budget across sign-ins and nodes, before the guess is looked at (S10, S19, S25).
    async fn reserve_second_step_attempt(
        &self,
        row: FlowRow,
        flow: SignInFlow,
        account_id: &str,
        client: &ClientInfo,
    ) -> Result<(FlowRow, SignInFlow), SignInError> {
        let now = self.now();
        if let Claim::Refused = self
            .claim_attempt(&second_step_key(account_id), LockoutPolicy::SECOND_STEP)
            .await?
        {
            self.record(Record {
                event: Event::Code,
                result: "refused",
                account_id: Some(account_id),
                email: Some(&row.email),
                method: None,
                client,
            })
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
        account_id: &str,
        method: &str,
        error: SignInError,
        client: &ClientInfo,
    ) -> SignInError {
        let now = self.now();
        self.record(Record {
            event: if method == "backup_code" {
                Event::BackupCode
            } else {
                Event::Code
            },
            result: "failure",
            account_id: Some(account_id),
            email: Some(&row.email),
            method: Some(method),
            client,
        })
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

    pub(crate) async fn password_failed(
        &self,
        email: &str,
        account_id: Option<&str>,
        admitted: bool,
        client: &ClientInfo,
    ) -> Result<(), SignInError> {
        self.record(Record {
            event: Event::Password,
            result: if admitted { "failure" } else { "refused" },
            account_id,
            email: Some(email),
            method: None,
            client,
        })
        .await;
        // The attempt that spends the last unit of the budget locks the account (S47, S52).
        let record = self
            .inner
            .store
            .find_failure_record(&account_key(email))
            .await?;
        let locked_now = admitted && LockoutPolicy::ACCOUNT.hard_limit == Some(record.failures);
        if let (true, Some(account_id), Ok(parsed)) = (locked_now, account_id, Email::parse(email))
        {
            self.record(Record {
                event: Event::AccountLocked,
                result: "locked",
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

    /// Generates a code into `row` if the limits allow (S9); returns the mail to send after
    /// the commit, or `None` when the account's hourly budget of codes is spent.
    /// Generates a code into `row` if the account's hourly budget allows (S9), addressed by
    /// `method`; returns the message to send after the commit, or `None` when the budget is
    /// spent (or the phone is gone).
    async fn prepare_code(
        &self,
        row: &mut FlowRow,
        email: &str,
        account_id: &str,
        method: SecondStepMethod,
    ) -> Result<Option<CodeMessage>, SignInError> {
        let now = self.now();
        let limit = self.inner.settings.codes_per_account_per_hour;
        if !self
            .inner
            .store
            .take_from_window(&format!("codes:{account_id}"), 3600, limit, now)
            .await?
        {
            return Ok(None);
        }
        let code = OtpCode::generate();
        let message = match method {
            SecondStepMethod::Sms => match self.verified_phone(account_id).await? {
                Some(phone) => CodeMessage::Text(sms_code(&phone, &code)),
                None => return Ok(None),
            },
            SecondStepMethod::EmailCode | SecondStepMethod::Totp => {
                let email = Email::parse(email).map_err(|_| SignInError::NoSignIn)?;
                CodeMessage::Mail(sign_in_code(&email, &code, CODE_LIFETIME_SECS / 60))
            }
        };
        row.code_hash = Some(
            code.keyed_hash(&self.inner.keys.code_mac_key(), &row.id)
                .to_vec(),
        );
        row.code_expires_at = Some(now + CODE_LIFETIME_SECS);
        row.codes_sent += 1;
        row.last_code_sent_at = Some(now);
        Ok(Some(message))
    }

    async fn send_code(
        &self,
        message: &CodeMessage,
        account_id: &str,
        client: &ClientInfo,
    ) -> Result<bool, AppError> {
        let mail = match message {
            // Texts pass the pumping limits inside `send_text`, which records the outcome.
            CodeMessage::Text(sms) => return self.send_text(account_id, sms, client).await,
            CodeMessage::Mail(mail) => mail,
        };
        let sent = self.inner.mailer.send(mail).await;
        if let Err(error) = &sent {
            tracing::error!(%error, "could not send a sign-in code");
        }
        self.record(Record {
            event: Event::CodeSent,
            result: if sent.is_ok() { "success" } else { "failure" },
            account_id: Some(account_id),
            email: Some(mail.to.as_str()),
            method: Some(Proof::EmailCode.as_str()),
            client,
        })
        .await;
        Ok(sent.is_ok())
    }

    /// S27: from the account's credentials as they are now, the strongest second step:
    /// an authenticator app, else a verified phone, else e-mail.
    async fn strongest_method(&self, account_id: &str) -> Result<SecondStepMethod, AppError> {
        if self.has_authenticator(account_id).await? {
            return Ok(SecondStepMethod::Totp);
        }
        if self.verified_phone(account_id).await?.is_some() {
            return Ok(SecondStepMethod::Sms);
        }
        Ok(SecondStepMethod::EmailCode)
    }

    /// "Try another way" → "Text me a code": for an account whose app is asked, switches this
    /// sign-in to a texted code and sends one.
    pub async fn switch_to_text_message(
        &self,
        flow_token: &str,
        client: &ClientInfo,
    ) -> Result<(), SignInError> {
        let (row, flow, account_id) = self.load_second_step(flow_token).await?;
        if flow.method == Some(SecondStepMethod::Sms) {
            return Ok(());
        }
        if self.verified_phone(&account_id).await?.is_none() {
            return Err(SignInError::WrongStep(flow.step));
        }
        let now = self.now();
        let next = flow.apply(
            FlowEvent::MethodChanged {
                method: SecondStepMethod::Sms,
            },
            now,
        )?;
        let mut next_row = row_for(&row, &next);
        let Some(message) = self
            .prepare_code(
                &mut next_row,
                &row.email,
                &account_id,
                SecondStepMethod::Sms,
            )
            .await?
        else {
            return Err(SignInError::ResendLimit);
        };
        let commit = FlowCommit {
            now,
            expected_version: row.version,
            next: Some(next_row),
            ..FlowCommit::default()
        };
        self.inner.store.commit_flow(&row.id, commit).await?;
        if self.send_code(&message, &account_id, client).await? {
            Ok(())
        } else {
            Err(SignInError::CodeNotSent)
        }
    }

    async fn send_notice(&self, mail: &OutgoingMail) {
        if let Err(error) = self.inner.mailer.send(mail).await {
            tracing::error!(%error, subject = %mail.subject, "could not send a notice");
        }
    }

    /// Fills the commit with what the flow's new step needs: new pending backup codes when
    /// it must show them, the session when it is signed in.
    fn advance(
        &self,
        row: &FlowRow,
        next: SignInFlow,
        mut next_row: FlowRow,
        commit: &mut FlowCommit,
        client: &ClientInfo,
    ) -> Result<Progress, SignInError> {
        let now = commit.now;
        let guarded = next.account.as_ref().map(|a| a.as_str().to_string());
        if let (None, Some(account_id)) = (&commit.account_guard, guarded) {
            commit.account_guard = Some(AccountGuard {
                account_id,
                password_hash: None,
            });
        }
        let account_id = next
            .account
            .as_ref()
            .ok_or(SignInError::NoSignIn)?
            .as_str()
            .to_string();
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
                    account_id,
                    proof: proof.as_str().into(),
                    created_at: now,
                    expires_at: now + self.inner.settings.session_absolute_secs,
                    user_agent: client.user_agent.clone(),
                    client_address: client.address.clone(),
                });
                commit.next = None;
                Ok(Progress::SignedIn {
                    session,
                    return_to: row.return_to.clone(),
                })
            }
            FlowStep::Password | FlowStep::SecondStep | FlowStep::Ended { .. } => {
                commit.next = Some(next_row);
                Ok(Progress::Next(next.step))
            }
        }
    }

    async fn after_commit(&self, progress: &Progress, account_id: &str, client: &ClientInfo) {
        let event = match progress {
            Progress::SignedIn { .. } => Event::SessionStarted,
            Progress::Next(FlowStep::SaveBackupCode { .. }) => Event::BackupCodeIssued,
            Progress::Next(_) => return,
        };
        if let Progress::SignedIn { session, .. } = progress {
            self.tell_about_new_device(account_id, session, client)
                .await;
        }
        self.record(Record {
            event,
            result: "success",
            account_id: Some(account_id),
            email: None,
            method: None,
            client,
        })
        .await;
    }

    /// S52: a sign-in from a browser and system this account has not signed in with before
    /// (among its last 50 sessions) is reported to the owner. The very first sign-in is not.
    async fn tell_about_new_device(&self, account_id: &str, session: &Token, client: &ClientInfo) {
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

    fn open_backup_codes(&self, sealed: &[u8], flow_id: &str) -> Vec<String> {
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

    /// S4: re-hash under today's parameters after a successful sign-in, in the background.
    fn upgrade_hash_if_weak(&self, account_id: &str, old_hash: &str, password: Password) {
        let old = PasswordHashString(old_hash.to_string());
        if !needs_rehash(&old) {
            return;
        }
        let this = self.clone();
        let (account_id, old_hash) = (account_id.to_string(), old_hash.to_string());
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

/// A sign-in code on its way: by e-mail or by text.
enum CodeMessage {
    Mail(OutgoingMail),
    Text(OutgoingSms),
}

/// The stored row for a flow's new state, keeping the columns the machine does not own.
fn row_for(row: &FlowRow, flow: &SignInFlow) -> FlowRow {
    FlowRow {
        account_id: flow.account.as_ref().map(|a| a.as_str().to_string()),
        step: flow.step.name().into(),
        proof: flow.step.proof().map(|p| p.as_str().into()),
        attempts: flow.attempts,
        second_step_method: flow.method.map(|m| m.as_str().to_string()),
        expires_at: flow.expires_at,
        ..row.clone()
    }
}

/// A step that needed no code counts as "sent" for the page's purposes.
fn next_is_code_free(progress: &Progress) -> bool {
    !matches!(progress, Progress::Next(FlowStep::SecondStep))
}

#[cfg(test)]
mod tests {
    use super::client_key;

    #[test]
    fn ipv6_clients_are_counted_per_64_block_and_ipv4_per_address() {
        assert_eq!(
            client_key("2001:db8:1:2:aaaa::1"),
            client_key("2001:db8:1:2:bbbb::2")
        );
        assert_ne!(client_key("2001:db8:1:2::1"), client_key("2001:db8:1:3::1"));
        assert_eq!(client_key("::ffff:192.0.2.7"), client_key("192.0.2.7"));
        assert_ne!(client_key("192.0.2.7"), client_key("192.0.2.8"));
    }
}
