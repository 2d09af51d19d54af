//! The phone on the account page: add, verify with a texted code, remove (S13, S34).

use super::account::on_account_page;
use super::{render, EmptyForm};
use crate::client::Client;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{phone_failure, see_other, Failure};
use crate::session::RecentSession;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;

/// The page that asks for the code texted to a new phone.
fn verify_page(csrf: &str, masked: &str, status: StatusCode, error: Option<&str>) -> Response {
    let page = super::ConfirmCodePage {
        csrf,
        heading: "Verify your phone",
        sent: "We texted a code to",
        masked,
        purpose: "Enter it to start using this phone for sign-in codes.",
        action: "/account/phone",
        cancel: Some("/account"),
        error,
    };
    render(status, &page)
}

#[derive(Deserialize)]
pub struct AddForm {
    phone: String,
}

pub async fn post_start(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    RecentSession(session): RecentSession,
    CsrfForm(form): CsrfForm<AddForm>,
) -> Response {
    match state.app.start_phone(&session, &form.phone, &client).await {
        Ok(()) => see_other("/account/phone"),
        Err(error) => on_account_page(&state, &csrf.0, &session, phone_failure(error)).await,
    }
}

pub async fn get_verify(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    RecentSession(session): RecentSession,
) -> Response {
    match state.app.pending_phone(&session).await {
        Ok(masked) => verify_page(&csrf.0, &masked, StatusCode::OK, None),
        Err(error) => phone_failure(error).into_response(),
    }
}

#[derive(Deserialize)]
pub struct VerifyForm {
    code: String,
}

pub async fn post_verify(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    RecentSession(session): RecentSession,
    CsrfForm(form): CsrfForm<VerifyForm>,
) -> Response {
    match state.app.verify_phone(&session, &form.code, &client).await {
        Ok(()) => see_other("/account?notice=phone-added"),
        Err(error) => match phone_failure(error) {
            Failure::Show { status, message } => {
                let masked = state.app.pending_phone(&session).await.unwrap_or_default();
                verify_page(&csrf.0, &masked, status, Some(&message))
            }
            other => other.into_response(),
        },
    }
}

pub async fn post_remove(
    State(state): State<AppState>,
    Client(client): Client,
    RecentSession(session): RecentSession,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    match state.app.remove_phone(&session, &client).await {
        Ok(()) => see_other("/account?notice=phone-removed"),
        Err(error) => phone_failure(error).into_response(),
    }
}
