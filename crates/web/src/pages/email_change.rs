//! Changing the e-mail address from the account page (S34, S52).

use super::account::on_account_page;
use super::render;
use crate::client::Client;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{email_change_failure, see_other, Failure};
use crate::session::RecentSession;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;

/// The page that asks for the code sent to the new address.
fn verify_page(csrf: &str, masked: &str, status: StatusCode, error: Option<&str>) -> Response {
    let page = super::ConfirmCodePage {
        csrf,
        heading: "Confirm your new email address",
        sent: "We sent a code to",
        masked,
        purpose: "Enter it to make this your account's address.",
        action: "/account/email",
        cancel: Some("/account"),
        error,
    };
    render(status, &page)
}

#[derive(Deserialize)]
pub struct StartForm {
    new_email: String,
}

pub async fn post_start(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    RecentSession(session): RecentSession,
    CsrfForm(form): CsrfForm<StartForm>,
) -> Response {
    match state
        .app
        .start_email_change(&session, &form.new_email)
        .await
    {
        Ok(()) => see_other("/account/email"),
        Err(error) => on_account_page(&state, &csrf.0, &session, email_change_failure(error)).await,
    }
}

pub async fn get_verify(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    RecentSession(session): RecentSession,
) -> Response {
    match state.app.pending_email_change(&session).await {
        Ok(masked) => verify_page(&csrf.0, &masked, StatusCode::OK, None),
        Err(error) => email_change_failure(error).into_response(),
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
    match state
        .app
        .confirm_email_change(&session, &form.code, &client)
        .await
    {
        Ok(()) => see_other("/account?notice=email-changed"),
        Err(error) => match email_change_failure(error) {
            Failure::Show { status, message } => {
                let masked = state
                    .app
                    .pending_email_change(&session)
                    .await
                    .unwrap_or_default();
                verify_page(&csrf.0, &masked, status, Some(&message))
            }
            other => other.into_response(),
        },
    }
}
