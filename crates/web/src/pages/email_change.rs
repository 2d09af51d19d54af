//! Changing the e-mail address from the account page (S34, S52): `NewEmail`, started,
//! shown and confirmed through `confirm`'s handlers.

use super::confirm::{CodedChange, ConfirmCode};
use crate::error::{email_change_failure, Failure};
use gatehouse_app::email_change::EmailChangeError;
use gatehouse_app::sessions::FreshSession;
use gatehouse_app::{ClientInfo, Gatehouse};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct StartForm {
    new_email: String,
}

/// A new address: sent a code, the account's once the code is entered; the old address is
/// told either way (S52).
pub struct NewEmail;

impl CodedChange for NewEmail {
    type Start = StartForm;
    type Error = EmailChangeError;
    const PAGE: ConfirmCode = ConfirmCode {
        heading: "Confirm your new email address",
        sent: "We sent a code to",
        purpose: "Enter it to make this your account's address.",
        action: "/account/email",
        cancel: Some("/account"),
    };
    const DONE: &'static str = "/account?notice=email-changed";
    const FAILURE: fn(EmailChangeError) -> Failure = email_change_failure;

    async fn start(
        app: &Gatehouse,
        session: &FreshSession,
        form: &StartForm,
        _client: &ClientInfo,
    ) -> Result<(), EmailChangeError> {
        app.start_email_change(session, &form.new_email).await
    }

    async fn pending(app: &Gatehouse, session: &FreshSession) -> Result<String, EmailChangeError> {
        app.pending_email_change(session).await
    }

    async fn confirm(
        app: &Gatehouse,
        session: &FreshSession,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), EmailChangeError> {
        app.confirm_email_change(session, code, client).await
    }
}
