//! The helpdesk recovery's two pages (issue 12, part 3): "Cancel this recovery", the link the
//! owner is mailed when a recovery starts, and "Recover your account", the single-use link
//! issued after the wait. Opening either (GET) changes nothing, since mail scanners open
//! links; only the button (POST with CSRF) acts (S59, S35).

use super::render;
use crate::client::Client;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{recovery_failure, see_other};
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use gatehouse_core::display::format_utc;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "recovery_cancel.html")]
struct CancelPage<'a> {
    csrf: &'a str,
    token: &'a str,
    masked_email: &'a str,
    started_at: String,
    ready_at: String,
}

#[derive(Template)]
#[template(path = "recovery_cancelled.html")]
struct CancelledPage;

#[derive(Template)]
#[template(path = "recover.html")]
struct RecoverPage<'a> {
    csrf: &'a str,
    token: &'a str,
    masked_email: &'a str,
}

#[derive(Deserialize, Default)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct TokenForm {
    token: String,
}

pub async fn get_cancel(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Query(query): Query<TokenQuery>,
) -> Response {
    match state.app.recovery_cancel_target(&query.token).await {
        Ok(target) => render(
            StatusCode::OK,
            &CancelPage {
                csrf: &csrf.0,
                token: &query.token,
                masked_email: &target.masked_email,
                started_at: format_utc(target.started_at),
                ready_at: format_utc(target.ready_at),
            },
        ),
        Err(error) => recovery_failure(error).into_response(),
    }
}

pub async fn post_cancel(
    State(state): State<AppState>,
    Client(client): Client,
    CsrfForm(form): CsrfForm<TokenForm>,
) -> Response {
    match state.app.cancel_recovery(&form.token, &client).await {
        Ok(()) => see_other("/recovery/cancelled"),
        Err(error) => recovery_failure(error).into_response(),
    }
}

pub async fn get_cancelled() -> Response {
    render(StatusCode::OK, &CancelledPage)
}

pub async fn get_recover(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Query(query): Query<TokenQuery>,
) -> Response {
    match state.app.recovery_target(&query.token).await {
        Ok(target) => render(
            StatusCode::OK,
            &RecoverPage {
                csrf: &csrf.0,
                token: &query.token,
                masked_email: &target.masked_email,
            },
        ),
        Err(error) => recovery_failure(error).into_response(),
    }
}

pub async fn post_recover(
    State(state): State<AppState>,
    Client(client): Client,
    CsrfForm(form): CsrfForm<TokenForm>,
) -> Response {
    match state.app.complete_recovery(&form.token, &client).await {
        Ok(()) => see_other("/sign-in?notice=recovered"),
        Err(error) => recovery_failure(error).into_response(),
    }
}
