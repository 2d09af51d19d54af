//! "Set up an authenticator app" on the account page: start, show the QR code and the
//! secret, confirm with a code, or remove (S15, S18, S34).

use super::{render, EmptyForm};
use crate::client::Client;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{authenticator_failure, see_other, Failure};
use crate::session::RecentSession;
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use gatehouse_app::authenticator::PendingAuthenticator;
use qrcode::render::svg;
use qrcode::QrCode;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "authenticator.html")]
struct AuthenticatorPage<'a> {
    csrf: &'a str,
    qr_svg: &'a str,
    secret: &'a str,
    error: Option<&'a str>,
}

/// An inline SVG of the otpauth URI: no script, no external image, nothing for CSP to block.
fn qr_svg(uri: &str) -> String {
    match QrCode::new(uri.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<svg::Color>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build();
            // Drop the XML declaration: the SVG sits inside HTML.
            let start = svg.find("<svg").unwrap_or(0);
            svg[start..].replacen(
                "<svg",
                "<svg role=\"img\" aria-label=\"QR code for your authenticator app\"",
                1,
            )
        }
        Err(_) => String::new(),
    }
}

fn page(
    csrf: &str,
    pending: &PendingAuthenticator,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let svg = qr_svg(&pending.uri);
    render(
        status,
        &AuthenticatorPage {
            csrf,
            qr_svg: &svg,
            secret: &pending.secret,
            error,
        },
    )
}

pub async fn get_authenticator(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    RecentSession(session): RecentSession,
) -> Response {
    match state.app.pending_authenticator(&session).await {
        Ok(pending) => page(&csrf.0, &pending, StatusCode::OK, None),
        Err(error) => authenticator_failure(error).into_response(),
    }
}

pub async fn post_start(
    State(state): State<AppState>,
    RecentSession(session): RecentSession,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    match state.app.start_authenticator(&session).await {
        Ok(()) => see_other("/account/authenticator"),
        Err(error) => authenticator_failure(error).into_response(),
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    code: String,
}

pub async fn post_confirm(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    RecentSession(session): RecentSession,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Response {
    match state
        .app
        .confirm_authenticator(&session, &form.code, &client)
        .await
    {
        Ok(()) => see_other("/account?notice=authenticator-added"),
        Err(error) => match authenticator_failure(error) {
            Failure::Show { status, message } => {
                match state.app.pending_authenticator(&session).await {
                    Ok(pending) => page(&csrf.0, &pending, status, Some(&message)),
                    Err(_) => see_other("/account"),
                }
            }
            other => other.into_response(),
        },
    }
}

pub async fn post_remove(
    State(state): State<AppState>,
    Client(client): Client,
    RecentSession(session): RecentSession,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    match state.app.remove_authenticator(&session, &client).await {
        Ok(()) => see_other("/account?notice=authenticator-removed"),
        Err(error) => authenticator_failure(error).into_response(),
    }
}
