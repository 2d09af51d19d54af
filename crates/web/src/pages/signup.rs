//! "Create account" (off unless the operator turns it on) and its e-mail verification.

use super::confirm::ConfirmCode;
use super::{answer, not_found, render, CodeForm};
use crate::client::Client;
use crate::cookies::CookieName;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{see_other, sign_up_failure};
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
const VERIFY: ConfirmCode = ConfirmCode {
    heading: "Check your email",
    sent: "We sent a code to",
    purpose: "Enter it to finish creating your account.",
    action: "/sign-up/verify",
    cancel: None,
};

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
    let result = state
        .app
        .start_sign_up(&form.email, &form.password, &client);
    let done = result.await.map(|token| {
        let cookie =
            state
                .cookies
                .set(CookieName::SignUp, token.as_str(), Some(CODE_LIFETIME_SECS));
        ([(SET_COOKIE, cookie)], see_other("/sign-up/verify")).into_response()
    });
    answer(done, sign_up_failure, async |status, message| {
        let page = SignUpPage {
            csrf: &csrf.0,
            email: &form.email,
            error: Some(message),
        };
        render(status, &page)
    })
    .await
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
    let token = sign_up_cookie(&state, &headers);
    VERIFY.show(
        &csrf.0,
        state.app.sign_up_target(&token).await,
        sign_up_failure,
    )
}

pub async fn post_verify(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    let token = sign_up_cookie(&state, &headers);
    let result = state.app.verify_sign_up(&token, &form.code, &client).await;
    let done = result.map(|()| {
        let cookie = state.cookies.clear(CookieName::SignUp);
        (
            [(SET_COOKIE, cookie)],
            see_other("/sign-in?notice=account-created"),
        )
            .into_response()
    });
    let pending = async || state.app.sign_up_target(&token).await;
    VERIFY.answer(&csrf.0, done, sign_up_failure, pending).await
}
