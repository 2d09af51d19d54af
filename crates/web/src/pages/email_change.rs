//! Changing the e-mail address from the account page (S34, S52).

use super::{render, session_cookie};
use crate::client::Client;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{app_error, error_page, see_other};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use gatehouse_app::email_change::EmailChangeError;
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

/// Every failure decided by name; `Err` carries a message for the page the action came from.
fn failure(error: EmailChangeError) -> Result<Response, (StatusCode, String)> {
    let message = error.to_string();
    match error {
        EmailChangeError::NotSignedIn => Ok(see_other("/sign-in?return_to=/account")),
        EmailChangeError::NeedsFreshSignIn => Ok(see_other(
            "/sign-in?return_to=/account&notice=reauthenticate",
        )),
        EmailChangeError::NotStarted => Ok(see_other("/account")),
        EmailChangeError::InvalidEmail
        | EmailChangeError::Unchanged
        | EmailChangeError::MalformedCode => Err((StatusCode::UNPROCESSABLE_ENTITY, message)),
        EmailChangeError::WrongCode => Err((StatusCode::UNAUTHORIZED, message)),
        EmailChangeError::TooManyAttempts => Err((StatusCode::GONE, message)),
        EmailChangeError::App(app) => Ok(app_error(app)),
    }
}

#[derive(Deserialize)]
pub struct StartForm {
    new_email: String,
}

pub async fn post_start(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<StartForm>,
) -> Response {
    match state
        .app
        .start_email_change(&session_cookie(&state, &headers), &form.new_email)
        .await
    {
        Ok(()) => see_other("/account/email"),
        Err(error) => match failure(error) {
            Ok(response) => response,
            Err((status, message)) => {
                super::account::account_page(
                    &state,
                    &csrf.0,
                    &headers,
                    status,
                    None,
                    Some(&message),
                )
                .await
            }
        },
    }
}

pub async fn get_verify(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
) -> Response {
    match state
        .app
        .pending_email_change(&session_cookie(&state, &headers))
        .await
    {
        Ok(masked) => verify_page(&csrf.0, &masked, StatusCode::OK, None),
        Err(error) => {
            failure(error).unwrap_or_else(|(status, message)| error_page(status, &message))
        }
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
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<VerifyForm>,
) -> Response {
    let cookie = session_cookie(&state, &headers);
    match state
        .app
        .confirm_email_change(&cookie, &form.code, &client)
        .await
    {
        Ok(()) => see_other("/account?notice=email-changed"),
        Err(error) => match failure(error) {
            Ok(response) => response,
            Err((status, message)) => {
                let masked = state
                    .app
                    .pending_email_change(&cookie)
                    .await
                    .unwrap_or_default();
                verify_page(&csrf.0, &masked, status, Some(&message))
            }
        },
    }
}
