//! Messages that leave Gatehouse: e-mail over SMTP (lettre), text messages through an SMS
//! provider's HTTP API, or an outbox folder when neither is configured, and their texts.
//!
//! This crate formats and sends; it decides nothing about who gets what. It must never log
//! a message body: codes are secrets (S11), so the log gets only the recipient (masked),
//! the subject and where the message went.

mod mailer;
mod sms;
mod templates;

pub use mailer::{DeliveryError, MailTransport, Mailer, OutboxMode};
pub use sms::{sms_code, OutgoingSms, SmsError, SmsSender, TwilioSettings, WebhookSettings};
pub use templates::{
    authenticator_added_notice, authenticator_removed_notice, backup_code_used_notice,
    email_change_cancelled_notice, email_change_code, email_change_waiting_notice,
    email_changed_notice, lockout_notice, new_device_notice, passkey_added_notice,
    passkey_cloned_notice, passkey_removed_notice, password_changed_notice, password_reset_link,
    password_reset_notice, phone_changed_notice, recovery_cancelled_notice,
    recovery_completed_notice, recovery_link, recovery_link_issued_notice, recovery_started_notice,
    sign_in_code, sign_up_code, sign_up_taken_notice, wrong_codes_notice, OutgoingMail,
};
