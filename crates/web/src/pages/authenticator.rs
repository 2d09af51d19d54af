//! "Set up an authenticator app" on the account page: start, show the QR code and the
//! secret, confirm with a code, or remove (S15, S18, S34).

use super::{answer, or_failure, render, CodeForm, EmptyForm, PageRequest};
use crate::client::Client;
use crate::csrf::CsrfForm;
use crate::error::{authenticator_failure, see_other};
use crate::session::RecentSession;
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_app::authenticator::PendingAuthenticator;
use qrcode::render::svg;
use qrcode::QrCode;

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
    action: PageRequest,
    RecentSession(session): RecentSession,
) -> Response {
    let pending = action.app().pending_authenticator(&session).await;
    let shown = pending.map(|pending| page(action.csrf(), &pending, StatusCode::OK, None));
    or_failure(shown, authenticator_failure)
}

pub async fn post_start(
    State(state): State<AppState>,
    RecentSession(session): RecentSession,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    let result = state.app.start_authenticator(&session).await;
    or_failure(
        result.map(|()| see_other("/account/authenticator")),
        authenticator_failure,
    )
}

pub async fn post_confirm(
    action: PageRequest,
    RecentSession(session): RecentSession,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    let result = action
        .app()
        .confirm_authenticator(&session, &form.code, &action.client);
    let done = result
        .await
        .map(|()| see_other("/account?notice=authenticator-added"));
    answer(done, authenticator_failure, async |status, message| {
        match action.app().pending_authenticator(&session).await {
            Ok(pending) => page(action.csrf(), &pending, status, Some(message)),
            // The set-up ended in another window meanwhile: nothing left to show.
            Err(_) => see_other("/account"),
        }
    })
    .await
}

pub async fn post_remove(
    State(state): State<AppState>,
    Client(client): Client,
    RecentSession(session): RecentSession,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    let result = state.app.remove_authenticator(&session, &client).await;
    let done = result.map(|()| see_other("/account?notice=authenticator-removed"));
    or_failure(done, authenticator_failure)
}
