//! The account page (`/account`), changing the password, and signing out.

use super::render;
use crate::client::Client;
use crate::cookies::CookieName;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{app_error, see_other};
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use gatehouse_app::password_change::PasswordChangeError;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    csrf: &'a str,
    email: &'a str,
    used_backup_code: bool,
    has_authenticator: bool,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

#[derive(Deserialize, Default)]
pub struct AccountQuery {
    notice: Option<String>,
}

/// Messages chosen by a fixed key in the URL, never reflected from it.
fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "password-changed" => {
            Some("Your password was changed. Your other sessions were signed out.")
        }
        _ => None,
    }
}

/// Renders the account page for the session in `headers`, or sends the person to sign in.
async fn account_page(
    state: &AppState,
    csrf: &str,
    headers: &HeaderMap,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let Some(cookie) = state.cookies.read(headers, CookieName::Session) else {
        return see_other("/sign-in?return_to=/account");
    };
    let session = match state.app.find_session(&cookie).await {
        Ok(Some(session)) => session,
        Ok(None) => return see_other("/sign-in?return_to=/account"),
        Err(error) => return app_error(error),
    };
    match state.app.has_authenticator(&session.account_id).await {
        Ok(has_authenticator) => render(
            status,
            &AccountPage {
                csrf,
                email: &session.email,
                used_backup_code: session.proof == "backup_code",
                has_authenticator,
                notice,
                error,
            },
        ),
        Err(error) => app_error(error),
    }
}

pub async fn get_account(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Query(query): Query<AccountQuery>,
    headers: HeaderMap,
) -> Response {
    let notice = notice_text(query.notice.as_deref());
    account_page(&state, &csrf.0, &headers, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
pub struct PasswordChangeForm {
    current_password: String,
    new_password: String,
}

/// S6: the current password and a new one that passes the rules; other sessions end.
pub async fn post_password(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<PasswordChangeForm>,
) -> Response {
    let Some(cookie) = state.cookies.read(&headers, CookieName::Session) else {
        return see_other("/sign-in?return_to=/account");
    };
    let result = state
        .app
        .change_password(&cookie, &form.current_password, &form.new_password, &client)
        .await;
    match password_change_outcome(result) {
        Ok(response) => response,
        Err((status, message)) => {
            account_page(&state, &csrf.0, &headers, status, None, Some(&message)).await
        }
    }
}

/// Where a password change leads, or the status and message to show; every failure is
/// decided by name.
fn password_change_outcome(
    result: Result<(), PasswordChangeError>,
) -> Result<Response, (StatusCode, String)> {
    let error = match result {
        Ok(()) => return Ok(see_other("/account?notice=password-changed")),
        Err(error) => error,
    };
    let message = error.to_string();
    match error {
        PasswordChangeError::NotSignedIn => Ok(see_other("/sign-in?return_to=/account")),
        PasswordChangeError::WrongCurrentPassword => Err((StatusCode::UNAUTHORIZED, message)),
        PasswordChangeError::WeakPassword(_) | PasswordChangeError::Unchanged => {
            Err((StatusCode::UNPROCESSABLE_ENTITY, message))
        }
        PasswordChangeError::Conflict => Err((StatusCode::CONFLICT, message)),
        PasswordChangeError::App(app) => Ok(app_error(app)),
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
