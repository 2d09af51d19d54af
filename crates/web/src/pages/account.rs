//! The account page (`/account`) and signing out.

use super::render;
use crate::client::Client;
use crate::cookies::CookieName;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{app_error, see_other};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    csrf: &'a str,
    email: &'a str,
    used_backup_code: bool,
}

pub async fn get_account(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
) -> Response {
    let Some(cookie) = state.cookies.read(&headers, CookieName::Session) else {
        return see_other("/sign-in?return_to=/account");
    };
    match state.app.find_session(&cookie).await {
        Ok(Some(session)) => render(
            StatusCode::OK,
            &AccountPage {
                csrf: &csrf.0,
                email: &session.email,
                used_backup_code: session.proof == "backup_code",
            },
        ),
        Ok(None) => see_other("/sign-in?return_to=/account"),
        Err(error) => app_error(error),
    }
}

#[derive(Deserialize)]
pub struct SignOutForm {}

pub async fn post_sign_out(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    CsrfForm(SignOutForm {}): CsrfForm<SignOutForm>,
) -> Response {
    if let Some(cookie) = state.cookies.read(&headers, CookieName::Session) {
        if let Err(error) = state.app.sign_out(&cookie, &client).await {
            return app_error(error);
        }
    }
    (
        [(SET_COOKIE, state.cookies.clear(CookieName::Session))],
        see_other("/sign-in?notice=signed-out"),
    )
        .into_response()
}
