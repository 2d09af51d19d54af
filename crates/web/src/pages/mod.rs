//! The pages: one askama template struct per page, and the handlers that fill them. The
//! shape every handler shares lives here once: `PageRequest` (what it extracts besides its
//! session and form), `answer` (a result, or the page again with `error`'s message) and
//! `or_failure` (a result, or the failure's own answer). No page chooses a status.

pub mod account;
pub mod authenticator;
pub mod confirm;
pub mod email_change;
pub mod oidc;
pub mod passkeys;
pub mod phone;
pub mod recovery;
pub mod reset;
pub mod review;
pub mod signin;
pub mod signup;
pub mod stop;

use crate::client::Client;
use crate::cookies::CookieName;
use crate::csrf::CsrfToken;
use crate::error::{health_failed, see_other, template_failed, Failure};
use crate::AppState;
use askama::Template;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use gatehouse_app::{ClientInfo, Gatehouse};
use gatehouse_core::FlowStep;

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub message: &'a str,
}

/// A use case's result as the page's answer: `Ok` is what the page does next (a redirect,
/// a page); an error becomes a `Failure` through its mapping in `error`, which chooses
/// every status, and a message to show is drawn by `show`, the page the action came from.
/// This is the one shape of every form handler, so no page matches on `Failure` itself.
pub async fn answer<E>(
    result: Result<Response, E>,
    failure: fn(E) -> Failure,
    show: impl AsyncFnOnce(StatusCode, &str) -> Response,
) -> Response {
    match result.map_err(failure) {
        Ok(response) => response,
        Err(Failure::Show { status, message }) => show(status, &message).await,
        Err(other) => other.into_response(),
    }
}

/// The form of every page that asks for one code.
#[derive(serde::Deserialize)]
pub struct CodeForm {
    pub code: String,
}

/// What a page's handler takes besides its session and its form: the app, who is asking
/// (for the activity list and the rate limits), and this browser's CSRF token, to draw a
/// page again when an action is refused. Extracted in the order the handlers used to take
/// them one by one, so a missing session still answers before a bad form.
pub struct PageRequest {
    state: AppState,
    csrf: CsrfToken,
    pub client: ClientInfo,
}

impl FromRequestParts<AppState> for PageRequest {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Extension(csrf) = Extension::<CsrfToken>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(Client(client)) = Client::from_request_parts(parts, state).await;
        Ok(Self {
            state: state.clone(),
            csrf,
            client,
        })
    }
}

impl PageRequest {
    pub fn app(&self) -> &Gatehouse {
        &self.state.app
    }

    pub fn csrf(&self) -> &str {
        &self.csrf.0
    }
}

/// A GET or a button with no form of its own to draw again: `Ok` is its answer, and a
/// failure answers for itself (the error page, a redirect), as `failure` chooses.
pub fn or_failure<E>(result: Result<Response, E>, failure: fn(E) -> Failure) -> Response {
    result.unwrap_or_else(|error| failure(error).into_response())
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

/// Whether a load balancer should send this node traffic: the database answers and its
/// schema is current. `/healthz` above only says the process is up.
pub async fn readyz(State(state): State<AppState>) -> Response {
    crate::error::readiness(state.app.readiness().await)
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

/// The two WebAuthn ceremonies (S58), the only script the sign-in needs.
pub async fn passkeys_script() -> Response {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("../../static/passkeys.js"),
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
