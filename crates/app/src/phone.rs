//! Phones for texted codes (S13) and the guards against SMS pumping.
//!
//! A number is verified with a code before it receives sign-in codes; adding, replacing or
//! removing one needs a recent sign-in (S34), revokes trusted devices (S29) and tells the
//! owner (S52). Every text passes the pumping limits first: per number, per account (the
//! same hourly code budget e-mail uses), per client address and for the whole service per
//! day; a refused text is recorded and never reaches the provider.

use crate::audit::{Delivery, Event, Method, Record};
use crate::budget::Window;
use crate::sessions::{FreshSession, SignedIn};
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::flow::{CODE_LIFETIME_SECS, MAX_SECOND_STEP_ATTEMPTS};
use gatehouse_core::phone::mask_last_digits;
use gatehouse_core::{AccountId, Email, OtpCode, PhoneNumber, Proof};
use gatehouse_delivery::{phone_changed_notice, sms_code, OutgoingSms};
use hmac_key::number_key;

#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    #[error("invalid phone number")]
    InvalidNumber(#[from] gatehouse_core::phone::InvalidPhoneNumber),
    #[error("text refused or not sent")]
    NotSent,
    #[error("no phone waiting for its code")]
    NotStarted,
    #[error("a phone is already set up")]
    AlreadySetUp,
    #[error("malformed code")]
    MalformedCode,
    #[error("wrong code")]
    WrongCode,
    #[error("code expired")]
    CodeExpired,
    #[error("too many wrong codes")]
    TooManyAttempts,
    #[error(transparent)]
    App(#[from] AppError),
}

conflict_means!(PhoneError, AlreadySetUp);

/// The account page's view of the phone.
#[derive(Debug, Clone)]
pub struct PhoneSummary {
    pub masked: String,
    pub verified: bool,
}

fn context(account_id: &AccountId) -> String {
    format!("phone:{account_id}")
}

/// Rate-limit keys name a number by a keyed hash, so the numbers are not in clear in the
/// database even there.
mod hmac_key {
    use gatehouse_core::PhoneNumber;
    use sha2::{Digest, Sha256};

    pub fn number_key(key: &[u8; 32], number: &PhoneNumber) -> String {
        let mut hasher = Sha256::new();
        hasher.update(key);
        hasher.update(number.as_str().as_bytes());
        let digest = hasher.finalize();
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("sms-number:{hex}")
    }
}

impl Gatehouse {
    pub async fn phone_summary(
        &self,
        account_id: &AccountId,
    ) -> Result<Option<PhoneSummary>, AppError> {
        Ok(self
            .inner
            .store
            .find_phone(account_id)
            .await?
            .map(|p| PhoneSummary {
                masked: mask_last_digits(&p.last_digits),
                verified: p.verified_at.is_some(),
            }))
    }

    /// The verified number of an account, if any: the only kind that receives sign-in codes.
    pub(crate) async fn verified_phone(
        &self,
        account_id: &AccountId,
    ) -> Result<Option<PhoneNumber>, AppError> {
        let Some(row) = self.inner.store.find_phone(account_id).await? else {
            return Ok(None);
        };
        if row.verified_at.is_none() {
            return Ok(None);
        }
        Ok(self.open_number(&row.number_sealed, account_id))
    }

    fn open_number(&self, sealed: &[u8], account_id: &AccountId) -> Option<PhoneNumber> {
        let bytes = self
            .inner
            .keys
            .sealing_key()
            .open(sealed, &context(account_id))
            .ok()?;
        PhoneNumber::parse(&String::from_utf8_lossy(&bytes)).ok()
    }

    /// "Add phone": texts a verification code to the number (S13).
    pub async fn start_phone(
        &self,
        session: &FreshSession,
        number: &str,
        client: &ClientInfo,
    ) -> Result<(), PhoneError> {
        let number = PhoneNumber::parse(number)?;
        let now = self.now();
        // The account's hourly code budget covers verification texts too; checked first,
        // so a refused attempt changes nothing.
        let within_budget = self.take_code_allowance(&session.account_id).await?;
        if !within_budget {
            self.record(Record {
                event: Event::TextSent(Delivery::Refused),
                account_id: Some(&session.account_id),
                email: None,
                method: Some(Method::Proof(Proof::Sms)),
                client,
            })
            .await;
            return Err(PhoneError::NotSent);
        }
        let code = OtpCode::generate();
        let sealed = self
            .inner
            .keys
            .sealing_key()
            .seal(number.as_str().as_bytes(), &context(&session.account_id));
        let code_hash = code.keyed_hash(
            &self.inner.keys.code_mac_key(),
            &context(&session.account_id),
        );
        self.inner
            .store
            .insert_pending_phone(
                &session.account_id,
                &sealed,
                number.last_digits(),
                &code_hash,
                now + CODE_LIFETIME_SECS,
                now,
            )
            .await?;
        if self
            .send_text(&session.account_id, &sms_code(&number, &code), client)
            .await?
        {
            Ok(())
        } else {
            Err(PhoneError::NotSent)
        }
    }

    /// The masked number waiting for its code, for the verification page.
    pub async fn pending_phone(&self, session: &FreshSession) -> Result<String, PhoneError> {
        match self.phone_summary(&session.account_id).await? {
            Some(summary) if !summary.verified => Ok(summary.masked),
            _ => Err(PhoneError::NotStarted),
        }
    }

    pub async fn verify_phone(
        &self,
        session: &FreshSession,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), PhoneError> {
        let code = OtpCode::parse(code).map_err(|_| PhoneError::MalformedCode)?;
        let row = self
            .inner
            .store
            .find_phone(&session.account_id)
            .await?
            .ok_or(PhoneError::NotStarted)?;
        let (Some(stored), Some(expires_at), None) =
            (&row.code_hash, row.code_expires_at, row.verified_at)
        else {
            return Err(PhoneError::NotStarted);
        };
        if row.attempts >= MAX_SECOND_STEP_ATTEMPTS {
            return Err(PhoneError::TooManyAttempts);
        }
        if !self
            .inner
            .store
            .claim_phone_attempt(&session.account_id, row.attempts)
            .await?
        {
            return Err(PhoneError::WrongCode);
        }
        let now = self.now();
        if now >= expires_at {
            return Err(PhoneError::CodeExpired);
        }
        if !code.matches(
            &self.inner.keys.code_mac_key(),
            &context(&session.account_id),
            stored,
        ) {
            return Err(PhoneError::WrongCode);
        }
        if !self
            .inner
            .store
            // Only the number whose code was just checked (S13): one entered meanwhile in
            // another window has a code of its own.
            .verify_phone(&session.account_id, stored, now)
            .await?
        {
            return Err(PhoneError::NotStarted);
        }
        self.phone_changed(session, true, client).await;
        Ok(())
    }

    pub async fn remove_phone(
        &self,
        session: &FreshSession,
        client: &ClientInfo,
    ) -> Result<(), PhoneError> {
        if !self
            .inner
            .store
            .delete_phone(&session.account_id, self.now())
            .await?
        {
            return Err(PhoneError::NotStarted);
        }
        self.phone_changed(session, false, client).await;
        Ok(())
    }

    /// Sends a text after the pumping limits; `false` when refused or failed.
    pub(crate) async fn send_text(
        &self,
        account_id: &AccountId,
        sms: &OutgoingSms,
        client: &ClientInfo,
    ) -> Result<bool, AppError> {
        let now = self.now();
        let settings = &self.inner.settings;
        let number = number_key(&self.inner.keys.code_mac_key(), &sms.to);
        // Each limit is asked only while the earlier ones allow: a refused text spends
        // nothing further.
        let mut allowed = self
            .take_at(
                &Window::texts_to_number(number, settings.sms_per_number_per_hour),
                now,
            )
            .await?;
        if let (true, Some(address)) = (allowed, &client.address) {
            allowed = self
                .take_at(
                    &Window::texts_from(address, settings.sms_per_client_per_hour),
                    now,
                )
                .await?;
        }
        if allowed {
            allowed = self
                .take_at(&Window::texts_per_day(now, settings.sms_per_day), now)
                .await?;
        }
        let sent = if allowed {
            match self.inner.sms.send(sms).await {
                Ok(()) => true,
                Err(error) => {
                    tracing::error!(%error, "could not send a text");
                    false
                }
            }
        } else {
            false
        };
        self.record(Record {
            event: Event::TextSent(match (allowed, sent) {
                (false, _) => Delivery::Refused,
                (true, true) => Delivery::Sent,
                (true, false) => Delivery::Failed,
            }),
            account_id: Some(account_id),
            email: None,
            method: Some(Method::Proof(Proof::Sms)),
            client,
        })
        .await;
        Ok(sent)
    }

    async fn phone_changed(&self, session: &SignedIn, added: bool, client: &ClientInfo) {
        let event = if added {
            Event::PhoneAdded
        } else {
            Event::PhoneRemoved
        };
        self.record_for(session, event, Some(Method::Proof(Proof::Sms)), client)
            .await;
        if let Ok(email) = Email::parse(&session.email) {
            if let Err(error) = self.send_mail(&phone_changed_notice(&email, added)).await {
                tracing::error!(%error, "could not send a phone notice");
            }
        }
    }
}
