//! "Set up an authenticator app" on the account page: start, show the QR code and the
//! secret, confirm with a code, or remove (S15, S18, S34).

use super::{render, session_cookie, EmptyForm};
use crate::client::Client;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{app_error, error_page, see_other};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use gatehouse_app::authenticator::{AuthenticatorError, PendingAuthenticator};
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

/// Where a failed authenticator action leads; every variant decided by name.
fn failure(error: AuthenticatorError) -> Result<Response, (StatusCode, String)> {
    let message = error.to_string();
    match error {
        AuthenticatorError::NotSignedIn => Ok(see_other("/sign-in?return_to=/account")),
        AuthenticatorError::NeedsFreshSignIn => Ok(see_other(
            "/sign-in?return_to=/account&notice=reauthenticate",
        )),
        AuthenticatorError::AlreadySetUp | AuthenticatorError::NotStarted => {
            Ok(see_other("/account"))
        }
        AuthenticatorError::WrongCode => Err((StatusCode::UNAUTHORIZED, message)),
        AuthenticatorError::TooManyAttempts => Err((StatusCode::TOO_MANY_REQUESTS, message)),
        AuthenticatorError::App(app) => Ok(app_error(app)),
    }
}

pub async fn get_authenticator(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
) -> Response {
    match state
        .app
        .pending_authenticator(&session_cookie(&state, &headers))
        .await
    {
        Ok(pending) => page(&csrf.0, &pending, StatusCode::OK, None),
        Err(error) => {
            failure(error).unwrap_or_else(|(status, message)| error_page(status, &message))
        }
    }
}

pub async fn post_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    match state
        .app
        .start_authenticator(&session_cookie(&state, &headers))
        .await
    {
        Ok(()) => see_other("/account/authenticator"),
        Err(error) => {
            failure(error).unwrap_or_else(|(status, message)| error_page(status, &message))
        }
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
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Response {
    let cookie = session_cookie(&state, &headers);
    match state
        .app
        .confirm_authenticator(&cookie, &form.code, &client)
        .await
    {
        Ok(()) => see_other("/account?notice=authenticator-added"),
        Err(error) => match failure(error) {
            Ok(response) => response,
            Err((status, message)) => match state.app.pending_authenticator(&cookie).await {
                Ok(pending) => page(&csrf.0, &pending, status, Some(&message)),
                Err(_) => see_other("/account"),
            },
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
        .remove_authenticator(&session_cookie(&state, &headers), &client)
        .await
    {
        Ok(()) => see_other("/account?notice=authenticator-removed"),
        Err(error) => {
            failure(error).unwrap_or_else(|(status, message)| error_page(status, &message))
        }
    }
}
