//! The second step's codes (S7-S9, S13, S27): which method asks for them, preparing one
//! into the flow row, sending it by mail or text after the commit, "Resend code" and
//! "Text me a code".

use super::{row_for, SignInError};
use crate::audit::{Delivery, Event, Method, Record};
use crate::{AppError, ClientInfo, Gatehouse};
use gatehouse_core::flow::{may_send_code, ResendRefused, CODE_LIFETIME_SECS};
use gatehouse_core::{AccountId, Email, FlowEvent, OtpCode, Proof, SecondStepMethod, Token};
use gatehouse_delivery::{sign_in_code, sms_code, OutgoingMail, OutgoingSms};
use gatehouse_store::{FlowCommit, FlowRow, NewStopLink};

/// A sign-in code on its way: by e-mail, with its "Stop this sign-in" link (S59), or by
/// text.
pub(super) enum CodeMessage {
    Mail(OutgoingMail, NewStopLink),
    Text(OutgoingSms),
}

impl CodeMessage {
    /// The link to store in the step's commit, so it works as soon as the mail arrives.
    pub(super) fn stop_link(&self) -> Option<NewStopLink> {
        match self {
            Self::Mail(_, link) => Some(link.clone()),
            Self::Text(_) => None,
        }
    }
}

impl Gatehouse {
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
                self.prepare_code(&mut next_row, &row.email, &account_id, method, client)
                    .await?
            }
            Err(_) => None,
        };
        let Some(mail) = mail else {
            self.record_step(
                Event::CodeSent(Delivery::Refused),
                &row,
                &account_id,
                Some(Method::Proof(method.proof())),
                client,
            )
            .await;
            return Err(allowed.err().unwrap_or(SignInError::ResendLimit));
        };
        self.commit_and_send_code(&row, next_row, &mail, &account_id, client)
            .await
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
                client,
            )
            .await?
        else {
            return Err(SignInError::ResendLimit);
        };
        self.commit_and_send_code(&row, next_row, &message, &account_id, client)
            .await
    }

    /// Stores the new code, then sends it: a code is never sent that the flow cannot check.
    async fn commit_and_send_code(
        &self,
        row: &FlowRow,
        next_row: FlowRow,
        message: &CodeMessage,
        account_id: &AccountId,
        client: &ClientInfo,
    ) -> Result<(), SignInError> {
        let commit = FlowCommit {
            now: self.now(),
            expected_version: row.version,
            next: Some(next_row),
            stop_link: message.stop_link(),
            ..FlowCommit::default()
        };
        self.inner.store.commit_flow(&row.id, commit).await?;
        if self.send_code(message, account_id, client).await? {
            Ok(())
        } else {
            Err(SignInError::CodeNotSent)
        }
    }

    /// S27: from the account's credentials as they are now, the strongest second step:
    /// an authenticator app, else a verified phone, else e-mail.
    pub(super) async fn strongest_method(
        &self,
        account_id: &AccountId,
    ) -> Result<SecondStepMethod, AppError> {
        if self.has_authenticator(account_id).await? {
            return Ok(SecondStepMethod::Totp);
        }
        if self.verified_phone(account_id).await?.is_some() {
            return Ok(SecondStepMethod::Sms);
        }
        Ok(SecondStepMethod::EmailCode)
    }

    /// Generates a code into `row` if the account's hourly budget allows (S9), addressed by
    /// `method`; returns the message to send after the commit, or `None` when the budget is
    /// spent (or the phone is gone). A mail carries a new "Stop this sign-in" link bound
    /// to the flow, not to this code: after "Resend code" the first mail's link still stops
    /// the sign-in (S59). It lives as long as the code it comes with.
    pub(super) async fn prepare_code(
        &self,
        row: &mut FlowRow,
        email: &str,
        account_id: &AccountId,
        method: SecondStepMethod,
        client: &ClientInfo,
    ) -> Result<Option<CodeMessage>, SignInError> {
        let now = self.now();
        if !self.take_code_allowance(account_id).await? {
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
                let token = Token::generate();
                let link = format!("{}/sign-in/stop?token={}", self.link_base(), token.as_str());
                let stop = NewStopLink {
                    token_hash: token.hash().0,
                    account_id: account_id.clone(),
                    client_address: client.address.clone(),
                    created_at: now,
                    expires_at: now + CODE_LIFETIME_SECS,
                };
                let mail = sign_in_code(&email, &code, CODE_LIFETIME_SECS / 60, &link);
                CodeMessage::Mail(mail, stop)
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

    pub(super) async fn send_code(
        &self,
        message: &CodeMessage,
        account_id: &AccountId,
        client: &ClientInfo,
    ) -> Result<bool, AppError> {
        let mail = match message {
            // Texts pass the pumping limits inside `send_text`, which records the outcome.
            CodeMessage::Text(sms) => return self.send_text(account_id, sms, client).await,
            CodeMessage::Mail(mail, _) => mail,
        };
        let sent = self.send_mail(mail).await;
        if let Err(error) = &sent {
            tracing::error!(%error, "could not send a sign-in code");
        }
        self.record(Record {
            event: Event::CodeSent(if sent.is_ok() {
                Delivery::Sent
            } else {
                Delivery::Failed
            }),
            account_id: Some(account_id),
            email: Some(mail.to.as_str()),
            method: Some(Method::Proof(Proof::EmailCode)),
            client,
        })
        .await;
        Ok(sent.is_ok())
    }
}
