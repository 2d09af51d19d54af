//! The sign-in use cases, one per step of DESIGN.md §1. Each loads the flow, lets
//! `core::SignInFlow` decide, and persists the decision with everything it produces in one
//! `FlowCommit` (one transaction, compare-and-set on the flow's version).
//!
//! - `steps`: the password, the code, the backup code and "I have saved this code", and
//!   what a failed guess costs;
//! - `codes`: the second step's codes: which method, preparing one, sending it, resending it;
//! - `commit`: what a step's commit carries (new backup codes, the session) and what
//!   follows it (events, notices);
//! - `passkey`: "Sign in with a passkey", which stands in for the password and the code
//!   (S58).
//!
//! Guesses are counted before they are checked (S10, S19, S47, S48) against the budgets of
//! `crate::budget`: a password attempt claims a unit of the account's and the client
//! address's budget, a code attempt one of the flow's five and one of the account's
//! second-step budget.

mod codes;
mod commit;
mod passkey;
mod steps;

pub use passkey::PasskeySignIn;

use crate::audit::{Event, Method, Record};
use crate::budget::Window;
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::ids::new_id;
use gatehouse_core::{
    AccountId, Email, FlowError, FlowStep, Proof, ReturnTo, SecondStepMethod, SignInFlow, Token,
};
use gatehouse_store::FlowRow;

/// S57: sign-ins one client address may start per hour. Each is a row until it expires; an
/// office behind one address starts far fewer.
const SIGN_INS_PER_CLIENT_PER_HOUR: u32 = 300;

/// What a person did wrong, or what stops the sign-in; `web` turns each into a page and
/// its words (these texts are for logs).
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("invalid e-mail address")]
    InvalidEmail,
    /// S57: this client address started too many sign-ins this hour; each is a row.
    #[error("too many sign-ins started from this address")]
    TooManySignIns,
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
    /// S58: the passkey's answer did not sign anyone in (unknown, another account's, a bad
    /// signature, no user verification, a counter that went backwards, a spent ceremony).
    #[error("the passkey was refused")]
    PasskeyRefused,
    /// Another request for this sign-in won the race; nothing was changed.
    #[error("lost a race with another request")]
    TryAgain,
    #[error(transparent)]
    App(#[from] AppError),
}

conflict_means!(SignInError, TryAgain);

impl From<FlowError> for SignInError {
    fn from(error: FlowError) -> Self {
        match error {
            FlowError::Expired => Self::NoSignIn,
            FlowError::Ended | FlowError::TooManyAttempts => Self::TooManyAttempts,
            FlowError::WrongStep => Self::TryAgain,
            FlowError::UserNotVerified => Self::PasskeyRefused,
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
    /// How long "Trust this device" lasts (S26), for the words next to the box.
    pub trust_days: i64,
}

/// Where a successful step leads.
#[derive(Debug)]
pub enum Progress {
    Next(FlowStep),
    SignedIn {
        session: Token,
        return_to: Option<String>,
        /// What satisfied the second step: a backup code leads to its review first
        /// (issue 12).
        proof: Proof,
    },
}

/// The cookies a browser brings to the password step.
#[derive(Debug, Clone, Copy, Default)]
pub struct BrowserCookies<'a> {
    /// "Trust this device" (S26): skips the code.
    pub trust: Option<&'a str>,
    /// The device cookie (S56): names the browser, so one that signed in to the account
    /// before keeps its own password budget.
    pub device: Option<&'a str>,
}

impl BrowserCookies<'_> {
    /// The browser's name (the SHA-256 of its device cookie), and a new cookie to set when
    /// it brought none that parses.
    fn device(&self) -> ([u8; 32], Option<Token>) {
        match self.device.and_then(Token::parse) {
            Some(token) => (token.hash().0, None),
            None => {
                let token = Token::generate();
                (token.hash().0, Some(token))
            }
        }
    }
}

#[derive(Debug)]
pub struct StepOutcome {
    pub progress: Progress,
    /// A new device cookie for a browser that had none (S56): it names the browser, and a
    /// finished sign-in makes it known to the account. The browser keeps it.
    pub device_token: Option<Token>,
    /// Set when "Trust this device" was ticked and the code was right: the browser keeps it.
    pub trust_token: Option<Token>,
    /// False when the step needed an e-mailed code that could not be sent.
    pub code_sent: bool,
}

impl StepOutcome {
    fn next(progress: Progress) -> Self {
        Self {
            progress,
            device_token: None,
            trust_token: None,
            code_sent: true,
        }
    }
}

impl Gatehouse {
    /// Step 1: any well-formed address starts a flow. No account is looked up, so the
    /// answer is the same for known and unknown addresses (S46).
    pub async fn start_sign_in(
        &self,
        email: &str,
        return_to: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Token, SignInError> {
        let email = Email::parse(email).map_err(|_| SignInError::InvalidEmail)?;
        let now = self.now();
        let flow = SignInFlow::start(now);
        let token = Token::generate();
        let row = fresh_flow_row(new_id(now), email.as_str(), &flow, return_to);
        let store = &self.inner.store;
        match &client.address {
            // S57: the window's unit and the flow's row are one commit.
            Some(address) => {
                let window = Window::sign_ins_from(address, SIGN_INS_PER_CLIENT_PER_HOUR);
                if !store
                    .insert_flow_within(&window.take(), &row, &token.hash().0, now)
                    .await?
                {
                    window.count_refusal();
                    return Err(SignInError::TooManySignIns);
                }
            }
            None => store.insert_flow(&row, &token.hash().0, now).await?,
        }
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
            trust_days: self.inner.settings.trust_days,
        })
    }

    pub(super) async fn load_flow(
        &self,
        flow_token: &str,
    ) -> Result<(FlowRow, SignInFlow), SignInError> {
        let token = Token::parse(flow_token).ok_or(SignInError::NoSignIn)?;
        let row = self
            .inner
            .store
            .find_flow_by_token(&token.hash().0)
            .await?
            .ok_or(SignInError::NoSignIn)?;
        let step =
            FlowStep::from_stored(&row.step, row.proof.as_deref()).ok_or(SignInError::NoSignIn)?;
        let flow = SignInFlow {
            step,
            account: row.account_id.clone(),
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

    pub(super) async fn load_second_step(
        &self,
        flow_token: &str,
    ) -> Result<(FlowRow, SignInFlow, AccountId), SignInError> {
        let (row, flow) = self.load_flow(flow_token).await?;
        if flow.step != FlowStep::SecondStep {
            return Err(SignInError::WrongStep(flow.step));
        }
        let account_id = row.account_id.clone().ok_or(SignInError::NoSignIn)?;
        Ok((row, flow, account_id))
    }
}

impl Gatehouse {
    /// Records an event of this sign-in, for its account and address (S51).
    async fn record_step(
        &self,
        event: Event,
        row: &FlowRow,
        account_id: &AccountId,
        method: Option<Method<'_>>,
        client: &ClientInfo,
    ) {
        self.record(Record {
            event,
            account_id: Some(account_id),
            email: Some(&row.email),
            method,
            client,
        })
        .await;
    }
}

/// The row of a sign-in that just started at `email`, going to `return_to` afterwards
/// (a path of ours only, S37).
fn fresh_flow_row(id: String, email: &str, flow: &SignInFlow, return_to: Option<&str>) -> FlowRow {
    FlowRow {
        id,
        email: email.to_string(),
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
        browser_hash: None,
    }
}

/// The stored row for a flow's new state, keeping the columns the machine does not own.
fn row_for(row: &FlowRow, flow: &SignInFlow) -> FlowRow {
    FlowRow {
        account_id: flow.account.clone(),
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
