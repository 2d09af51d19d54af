//! "Create account" (off unless the operator turns it on) and its e-mail verification.

use super::{not_found, render};
use crate::client::Client;
use crate::cookies::CookieName;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{see_other, sign_up_failure, Failure};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use gatehouse_core::flow::CODE_LIFETIME_SECS;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "sign_up.html")]
struct SignUpPage<'a> {
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

/// The page that asks for the code sent to the address being signed up.
fn verify_page(csrf: &str, masked: &str, status: StatusCode, error: Option<&str>) -> Response {
    let page = super::ConfirmCodePage {
        csrf,
        heading: "Check your email",
        sent: "We sent a code to",
        masked,
        purpose: "Enter it to finish creating your account.",
        action: "/sign-up/verify",
        cancel: None,
        error,
    };
    render(status, &page)
}

pub async fn get_sign_up(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
) -> Response {
    if !state.app.sign_up_open() {
        return not_found().await;
    }
    render(
        StatusCode::OK,
        &SignUpPage {
            csrf: &csrf.0,
            email: "",
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct SignUpForm {
    email: String,
    password: String,
}

pub async fn post_sign_up(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    CsrfForm(form): CsrfForm<SignUpForm>,
) -> Response {
    match state
        .app
        .start_sign_up(&form.email, &form.password, &client)
        .await
    {
        Ok(token) => (
            [(
                SET_COOKIE,
                state
                    .cookies
                    .set(CookieName::SignUp, token.as_str(), Some(CODE_LIFETIME_SECS)),
            )],
            see_other("/sign-up/verify"),
        )
            .into_response(),
        Err(error) => match sign_up_failure(error) {
            Failure::Show { status, message } => render(
                status,
                &SignUpPage {
                    csrf: &csrf.0,
                    email: &form.email,
                    error: Some(&message),
                },
            ),
            other => other.into_response(),
        },
    }
}

fn sign_up_cookie(state: &AppState, headers: &HeaderMap) -> String {
    state
        .cookies
        .read(headers, CookieName::SignUp)
        .unwrap_or_default()
}

pub async fn get_verify(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
) -> Response {
    match state
        .app
        .sign_up_target(&sign_up_cookie(&state, &headers))
        .await
    {
        Ok(masked) => verify_page(&csrf.0, &masked, StatusCode::OK, None),
        Err(error) => sign_up_failure(error).into_response(),
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
    let token = sign_up_cookie(&state, &headers);
    match state.app.verify_sign_up(&token, &form.code, &client).await {
        Ok(()) => (
            [(SET_COOKIE, state.cookies.clear(CookieName::SignUp))],
            see_other("/sign-in?notice=account-created"),
        )
            .into_response(),
        Err(error) => match sign_up_failure(error) {
            Failure::Show { status, message } => {
                let masked = state.app.sign_up_target(&token).await.unwrap_or_default();
                verify_page(&csrf.0, &masked, status, Some(&message))
            }
            other => other.into_response(),
        },
    }
}
