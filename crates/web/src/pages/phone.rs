//! The phone on the account page: add and verify with a texted code (`NewPhone`, through
//! `confirm`'s handlers), remove (S13, S34).

use super::confirm::{CodedChange, ConfirmCode};
use super::{or_failure, EmptyForm};
use crate::client::Client;
use crate::csrf::CsrfForm;
use crate::error::{phone_failure, see_other, Failure};
use crate::session::RecentSession;
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use gatehouse_app::phone::PhoneError;
use gatehouse_app::sessions::FreshSession;
use gatehouse_app::{ClientInfo, Gatehouse};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct AddForm {
    phone: String,
}

/// A phone being added: texted a code, in use once the code is entered.
pub struct NewPhone;

impl CodedChange for NewPhone {
    type Start = AddForm;
    type Error = PhoneError;
    const PAGE: ConfirmCode = ConfirmCode {
        heading: "Verify your phone",
        sent: "We texted a code to",
        purpose: "Enter it to start using this phone for sign-in codes.",
        action: "/account/phone",
        cancel: Some("/account"),
    };
    const DONE: &'static str = "/account?notice=phone-added";
    const FAILURE: fn(PhoneError) -> Failure = phone_failure;

    async fn start(
        app: &Gatehouse,
        session: &FreshSession,
        form: &AddForm,
        client: &ClientInfo,
    ) -> Result<(), PhoneError> {
        app.start_phone(session, &form.phone, client).await
    }

    async fn pending(app: &Gatehouse, session: &FreshSession) -> Result<String, PhoneError> {
        app.pending_phone(session).await
    }

    async fn confirm(
        app: &Gatehouse,
        session: &FreshSession,
        code: &str,
        client: &ClientInfo,
    ) -> Result<&'static str, PhoneError> {
        app.verify_phone(session, code, client).await?;
        Ok(Self::DONE)
    }
}

pub async fn post_remove(
    State(state): State<AppState>,
    Client(client): Client,
    RecentSession(session): RecentSession,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    let result = state.app.remove_phone(&session, &client).await;
    let done = result.map(|()| see_other("/account?notice=phone-removed"));
    or_failure(done, phone_failure)
}
