//! Self-service sign-up ("Create account"), off by default. The address is verified with an
//! e-mailed code before the account exists; the password rules of S1-S3 apply; and the pages
//! answer the same whether or not the address is already taken (S46): a taken address gets a
//! registration that can never complete, and its owner a notice instead of a code.

use crate::audit::{Event, Method, Record, SignUpMail};
use crate::budget::{Budget, CodeGuess, Window};
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::flow::{CODE_LIFETIME_SECS, MAX_SECOND_STEP_ATTEMPTS};
use gatehouse_core::ids::new_id;
use gatehouse_core::{AccountId, Email, OtpCode, Password, PasswordError, Token};
use gatehouse_delivery::{sign_up_code, sign_up_taken_notice};
use gatehouse_store::RegistrationRow;

/// Sign-up mails per address per hour.
const SIGN_UPS_PER_HOUR: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    #[error("sign-up is closed")]
    Closed,
    #[error("invalid e-mail address")]
    InvalidEmail,
    #[error("password refused")]
    WeakPassword(#[from] PasswordError),
    #[error("no sign-up in progress")]
    NoSignUp,
    #[error("malformed code")]
    MalformedCode,
    #[error("wrong code")]
    WrongCode,
    #[error("too many wrong codes")]
    TooManyAttempts,
    /// S55, S57: this client address started too many sign-ups this hour.
    #[error("too many sign-ups from this address")]
    TooManyFromHere,
    #[error(transparent)]
    App(#[from] AppError),
}

conflict_means!(SignUpError, WrongCode);

/// S55, S57: sign-ups (each an Argon2 hash and a row) one client address may start per hour.
const SIGN_UPS_PER_CLIENT_PER_HOUR: u32 = 20;

impl Gatehouse {
    pub fn sign_up_open(&self) -> bool {
        self.inner.settings.allow_sign_up
    }

    /// "Create account": returns the handle the browser keeps for the verification step.
    pub async fn start_sign_up(
        &self,
        email: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<Token, SignUpError> {
        if !self.sign_up_open() {
            return Err(SignUpError::Closed);
        }
        let email = Email::parse(email).map_err(|_| SignUpError::InvalidEmail)?;
        let password = Password::parse_new(password, &email)?;
        let now = self.now();
        // S55, S57: each start costs a hash and a row, so an address gets a few an hour;
        // the refusal names the address asking, nothing about the one asked for.
        if let Some(address) = &client.address {
            if !self
                .take_at(
                    &Window::sign_ups_from(address, SIGN_UPS_PER_CLIENT_PER_HOUR),
                    now,
                )
                .await?
            {
                return Err(SignUpError::TooManyFromHere);
            }
        }
        // Hashed in every case, so a taken address answers in the same time.
        let hash = self.hash_password(password).await?;
        // The window is asked first: a refused start gets a registration that can never
        // complete, not a fresh code with five fresh guesses.
        let may_send = self
            .take(&Window::sign_ups(email.as_str(), SIGN_UPS_PER_HOUR))
            .await?;
        let taken = self.account_at(&email).await?.is_some();
        let id = new_id(now);
        let code = OtpCode::generate();
        let token = Token::generate();
        let row = RegistrationRow {
            id: id.clone(),
            email: email.as_str().to_string(),
            // Without a password hash the registration can never complete; the pages and
            // the work are the same either way (S46).
            password_hash: (!taken && may_send).then_some(hash.0),
            code_hash: code
                .keyed_hash(&self.inner.keys.code_mac_key(), &id)
                .to_vec(),
            attempts: 0,
            expires_at: now + CODE_LIFETIME_SECS,
        };
        self.inner
            .store
            .insert_registration(&row, &token.hash().0, now)
            .await?;
        self.record(Record {
            event: Event::SignUpCodeSent(if !may_send {
                SignUpMail::Refused
            } else if taken {
                SignUpMail::AddressTaken
            } else {
                SignUpMail::CodeSent
            }),
            account_id: None,
            email: Some(email.as_str()),
            method: None,
            client,
        })
        .await;
        if may_send {
            let mail = if taken {
                sign_up_taken_notice(&email)
            } else {
                sign_up_code(&email, &code, CODE_LIFETIME_SECS / 60)
            };
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(error) = this.send_mail(&mail).await {
                    tracing::error!(%error, "could not send a sign-up mail");
                }
            });
        }
        Ok(token)
    }

    /// The masked address of a sign-up in progress, for its code page.
    pub async fn sign_up_target(&self, token: &str) -> Result<String, SignUpError> {
        let row = self.find_sign_up(token).await?;
        Ok(Email::parse(&row.email)
            .map(|e| e.masked())
            .unwrap_or_default())
    }

    /// The code from the e-mail: the account now exists (it still signs in like any other).
    pub async fn verify_sign_up(
        &self,
        token: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), SignUpError> {
        let row = self.find_sign_up(token).await?;
        let code = OtpCode::parse(code).map_err(|_| SignUpError::MalformedCode)?;
        // Counted before it is checked (S10, S48): in the registration's five, and in the
        // address's lasting budget, which a new start does not refill.
        let budget = Budget::sign_up_guess(&row.email);
        let claim_row = self
            .inner
            .store
            .claim_registration_attempt(&row.id, row.attempts);
        let guess = self
            .guess_code(
                &budget,
                row.attempts,
                claim_row,
                &code,
                &row.id,
                &row.code_hash,
            )
            .await?;
        match guess {
            CodeGuess::Refused => return Err(SignUpError::TooManyAttempts),
            CodeGuess::Raced => return Err(SignUpError::WrongCode),
            // Without a password hash the registration never completes (S46).
            CodeGuess::Right if row.password_hash.is_some() => {}
            CodeGuess::Right | CodeGuess::Wrong => {
                return Err(if row.attempts + 1 >= MAX_SECOND_STEP_ATTEMPTS {
                    SignUpError::TooManyAttempts
                } else {
                    SignUpError::WrongCode
                });
            }
        }
        let now = self.now();
        let account_id = AccountId::generate(now);
        self.inner
            .store
            .complete_registration(&row.id, &account_id, now)
            .await?;
        self.reset(&budget).await?;
        self.record(Record {
            event: Event::AccountCreated,
            account_id: Some(&account_id),
            email: Some(&row.email),
            method: Some(Method::SignUp),
            client,
        })
        .await;
        Ok(())
    }

    async fn find_sign_up(&self, token: &str) -> Result<RegistrationRow, SignUpError> {
        let token = Token::parse(token).ok_or(SignUpError::NoSignUp)?;
        self.inner
            .store
            .find_registration(&token.hash().0, self.now())
            .await?
            .ok_or(SignUpError::NoSignUp)
    }
}
