//! Changing the e-mail address from the account page (S34, S52).

use super::render;
use crate::client::Client;
use crate::cookies::CookieName;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{app_error, error_page, see_other};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use gatehouse_app::email_change::EmailChangeError;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "verify_email_change.html")]
struct VerifyPage<'a> {
    csrf: &'a str,
    masked: &'a str,
    error: Option<&'a str>,
}

fn session_cookie(state: &AppState, headers: &HeaderMap) -> String {
    state
        .cookies
        .read(headers, CookieName::Session)
        .unwrap_or_default()
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
        Ok(masked) => render(
            StatusCode::OK,
            &VerifyPage {
                csrf: &csrf.0,
                masked: &masked,
                error: None,
            },
        ),
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
                render(
                    status,
                    &VerifyPage {
                        csrf: &csrf.0,
                        masked: &masked,
                        error: Some(&message),
                    },
                )
            }
        },
    }
}
