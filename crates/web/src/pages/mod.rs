//! The pages: one askama template struct per page, and the handlers that fill them.

pub mod account;
pub mod authenticator;
pub mod email_change;
pub mod oidc;
pub mod phone;
pub mod reset;
pub mod signin;
pub mod signup;

use crate::cookies::CookieName;
use crate::error::{health_failed, see_other, template_failed};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use gatehouse_core::FlowStep;

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub message: &'a str,
}

/// "Enter the code we sent": one page for every code that confirms an address or a phone
/// (a new phone, a new e-mail address, a sign-up).
#[derive(Template)]
#[template(path = "confirm_code.html")]
pub struct ConfirmCodePage<'a> {
    pub csrf: &'a str,
    pub heading: &'a str,
    /// "We sent a code to" or "We texted a code to".
    pub sent: &'a str,
    pub masked: &'a str,
    /// What the code is for, as a sentence.
    pub purpose: &'a str,
    pub action: &'a str,
    pub cancel: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// A form with no field but its CSRF token: a button.
#[derive(serde::Deserialize)]
pub struct EmptyForm {}

/// Where the page for a step lives.
pub fn path_of_step(step: FlowStep) -> &'static str {
    match step {
        FlowStep::Password => "/sign-in/password",
        FlowStep::SecondStep => "/sign-in/code",
        FlowStep::SaveBackupCode { .. } => "/sign-in/save-backup-code",
        FlowStep::SignedIn { .. } => "/account",
        FlowStep::Ended { .. } => "/sign-in?notice=too-many-codes",
    }
}

/// Renders a template; a template error is ours, logged, and shown as a plain 500.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => template_failed(&error),
    }
}

pub async fn root(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.cookies.read(&headers, CookieName::Session) {
        Some(_) => see_other("/account"),
        None => see_other("/sign-in"),
    }
}

pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.app.health().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(error) => health_failed(&error),
    }
}

pub async fn not_found() -> Response {
    crate::error::not_found()
}

pub async fn stylesheet() -> Response {
    static_file(
        "text/css; charset=utf-8",
        include_str!("../../static/gatehouse.css"),
    )
}

pub async fn copy_script() -> Response {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("../../static/copy.js"),
    )
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
