//! "Forgot password?" and the reset link's page.

use super::render;
use crate::client::Client;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{reset_failure, see_other, Failure};
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "forgot_password.html")]
struct ForgotPage<'a> {
    csrf: &'a str,
    email: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPage<'a> {
    csrf: &'a str,
    token: &'a str,
    masked_email: &'a str,
    error: Option<&'a str>,
}

#[derive(Deserialize, Default)]
pub struct ForgotQuery {
    notice: Option<String>,
}

/// S46: the same words whether or not the address has an account.
const SENT: &str = "If an account exists for that address, we sent it a link to reset the password. The link is valid for 60 minutes.";

pub async fn get_forgot(
    Extension(csrf): Extension<CsrfToken>,
    Query(query): Query<ForgotQuery>,
) -> Response {
    let notice = (query.notice.as_deref() == Some("sent")).then_some(SENT);
    render(
        StatusCode::OK,
        &ForgotPage {
            csrf: &csrf.0,
            email: "",
            notice,
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct ForgotForm {
    email: String,
}

pub async fn post_forgot(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    CsrfForm(form): CsrfForm<ForgotForm>,
) -> Response {
    match state.app.request_password_reset(&form.email, &client).await {
        Ok(()) => see_other("/forgot-password?notice=sent"),
        Err(error) => match reset_failure(error) {
            Failure::Show { status, message } => render(
                status,
                &ForgotPage {
                    csrf: &csrf.0,
                    email: &form.email,
                    notice: None,
                    error: Some(&message),
                },
            ),
            other => other.into_response(),
        },
    }
}

#[derive(Deserialize, Default)]
pub struct ResetQuery {
    #[serde(default)]
    token: String,
}

pub async fn get_reset(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Query(query): Query<ResetQuery>,
) -> Response {
    match state.app.password_reset_target(&query.token).await {
        Ok(masked) => render(
            StatusCode::OK,
            &ResetPage {
                csrf: &csrf.0,
                token: &query.token,
                masked_email: &masked,
                error: None,
            },
        ),
        Err(error) => reset_failure(error).into_response(),
    }
}

#[derive(Deserialize)]
pub struct ResetForm {
    token: String,
    new_password: String,
}

pub async fn post_reset(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    CsrfForm(form): CsrfForm<ResetForm>,
) -> Response {
    match state
        .app
        .reset_password(&form.token, &form.new_password, &client)
        .await
    {
        Ok(()) => see_other("/sign-in?notice=password-reset"),
        Err(error) => match reset_failure(error) {
            Failure::Show { status, message } => {
                let masked = state
                    .app
                    .password_reset_target(&form.token)
                    .await
                    .unwrap_or_default();
                render(
                    status,
                    &ResetPage {
                        csrf: &csrf.0,
                        token: &form.token,
                        masked_email: &masked,
                        error: Some(&message),
                    },
                )
            }
            other => other.into_response(),
        },
    }
}
