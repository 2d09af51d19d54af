//! The phone on the account page: add, verify with a texted code, remove (S13, S34).

use super::{render, session_cookie, EmptyForm};
use crate::client::Client;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{app_error, error_page, see_other};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use gatehouse_app::phone::PhoneError;
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

/// Where a failed phone action leads; every variant decided by name. `Err` carries a
/// message for the page the action came from.
fn failure(error: PhoneError) -> Result<Response, (StatusCode, String)> {
    let message = error.to_string();
    match error {
        PhoneError::NotSignedIn => Ok(see_other("/sign-in?return_to=/account")),
        PhoneError::NeedsFreshSignIn => Ok(see_other(
            "/sign-in?return_to=/account&notice=reauthenticate",
        )),
        PhoneError::NotStarted => Ok(see_other("/account")),
        PhoneError::InvalidNumber(_) | PhoneError::MalformedCode => {
            Err((StatusCode::UNPROCESSABLE_ENTITY, message))
        }
        PhoneError::WrongCode => Err((StatusCode::UNAUTHORIZED, message)),
        PhoneError::CodeExpired | PhoneError::TooManyAttempts => Err((StatusCode::GONE, message)),
        PhoneError::NotSent => Err((StatusCode::TOO_MANY_REQUESTS, message)),
        PhoneError::AlreadySetUp => Err((StatusCode::CONFLICT, message)),
        PhoneError::App(app) => Ok(app_error(app)),
    }
}

#[derive(Deserialize)]
pub struct AddForm {
    phone: String,
}

pub async fn post_start(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<AddForm>,
) -> Response {
    match state
        .app
        .start_phone(&session_cookie(&state, &headers), &form.phone, &client)
        .await
    {
        Ok(()) => see_other("/account/phone"),
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
        .pending_phone(&session_cookie(&state, &headers))
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
    match state.app.verify_phone(&cookie, &form.code, &client).await {
        Ok(()) => see_other("/account?notice=phone-added"),
        Err(error) => match failure(error) {
            Ok(response) => response,
            Err((status, message)) => {
                let masked = state.app.pending_phone(&cookie).await.unwrap_or_default();
                verify_page(&csrf.0, &masked, status, Some(&message))
            }
        },
    }
}

pub async fn post_remove(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    match state
        .app
        .remove_phone(&session_cookie(&state, &headers), &client)
        .await
    {
        Ok(()) => see_other("/account?notice=phone-removed"),
        Err(error) => {
            failure(error).unwrap_or_else(|(status, message)| error_page(status, &message))
        }
    }
}
