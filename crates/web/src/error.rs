//! The one place where outcomes become statuses. Every variant is matched by name, with no
//! catch-all arm, so a new kind of failure forces a decision here. Internal causes are
//! logged once and never shown.

use crate::pages::{path_of_step, ErrorPage};
use askama::Template;
use axum::http::header::RETRY_AFTER;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use gatehouse_app::oidc::tokens::TokenError;
use gatehouse_app::sign_in::SignInError;
use gatehouse_app::AppError;

/// Requests refused before reaching a use case.
#[derive(Debug)]
pub enum Rejection {
    CrossSite,
    CsrfMismatch,
    BadForm,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::CrossSite => (
                StatusCode::FORBIDDEN,
                "This form was sent from another site and was refused.",
            ),
            Self::CsrfMismatch => (
                StatusCode::FORBIDDEN,
                "This page was out of date. Go back, reload the page and try again.",
            ),
            Self::BadForm => (
                StatusCode::BAD_REQUEST,
                "The form was incomplete. Go back and try again.",
            ),
        };
        error_page(status, message)
    }
}

/// What a sign-in page does with a failed step.
pub enum Failure {
    /// Show the same page again with this message.
    Show { status: StatusCode, message: String },
    /// Go somewhere else (the current step, or a fresh start).
    Redirect(String),
    /// Something no person caused.
    Internal(Response),
}

pub fn sign_in_failure(error: SignInError) -> Failure {
    let message = error.to_string();
    let show = |status| Failure::Show {
        status,
        message: message.clone(),
    };
    match error {
        SignInError::InvalidEmail
        | SignInError::MalformedCode
        | SignInError::MalformedBackupCode => show(StatusCode::UNPROCESSABLE_ENTITY),
        SignInError::InvalidCredentials | SignInError::WrongCode | SignInError::WrongBackupCode => {
            show(StatusCode::UNAUTHORIZED)
        }
        SignInError::CodeExpired => show(StatusCode::UNAUTHORIZED),
        SignInError::SecondStepLocked
        | SignInError::ResendTooSoon(_)
        | SignInError::ResendLimit => show(StatusCode::TOO_MANY_REQUESTS),
        SignInError::TryAgain => show(StatusCode::CONFLICT),
        SignInError::CodeNotSent => show(StatusCode::SERVICE_UNAVAILABLE),
        SignInError::NoSignIn => Failure::Redirect("/sign-in?notice=expired".into()),
        SignInError::TooManyAttempts => Failure::Redirect("/sign-in?notice=too-many-codes".into()),
        SignInError::BackupCodeReplaced => {
            Failure::Redirect("/sign-in?notice=backup-code-replaced".into())
        }
        SignInError::WrongStep(step) => Failure::Redirect(path_of_step(step).into()),
        SignInError::App(app) => Failure::Internal(app_error(app)),
    }
}

pub fn app_error(error: AppError) -> Response {
    match error {
        AppError::Busy => {
            let mut response = error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Gatehouse is very busy right now. Please try again in a moment.",
            );
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("2"));
            response
        }
        AppError::Store(_)
        | AppError::Delivery(_)
        | AppError::Hashing(_)
        | AppError::Unexpected(_) => {
            tracing::error!(%error, "request failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side. Please try again.",
            )
        }
    }
}

pub fn error_page(status: StatusCode, message: &str) -> Response {
    let page = ErrorPage { message };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, message.to_string()).into_response(),
    }
}

pub fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// A failure of a JSON protocol endpoint: RFC 6749 §5.2's shape, never an HTML page.
pub fn protocol_error(error: AppError) -> Response {
    let busy = matches!(error, AppError::Busy);
    if !busy {
        tracing::error!(%error, "protocol request failed");
    }
    let (status, code) = if busy {
        (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, "server_error")
    };
    let mut response = (status, Json(serde_json::json!({ "error": code }))).into_response();
    if busy {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("2"));
    }
    response
}

/// RFC 6749 §5.2: 400 with the error's name; `invalid_client` is 401, and says `Basic`
/// when the client tried Basic.
pub fn token_error(error: TokenError) -> Response {
    let error = match error {
        TokenError::App(app) => return protocol_error(app),
        other => other,
    };
    let (status, code, description) = match &error {
        TokenError::InvalidRequest(why) => (StatusCode::BAD_REQUEST, "invalid_request", Some(*why)),
        TokenError::InvalidClient { .. } => (StatusCode::UNAUTHORIZED, "invalid_client", None),
        TokenError::InvalidGrant(why) => (StatusCode::BAD_REQUEST, "invalid_grant", Some(*why)),
        TokenError::UnsupportedGrantType => {
            (StatusCode::BAD_REQUEST, "unsupported_grant_type", None)
        }
        TokenError::InvalidScope => (StatusCode::BAD_REQUEST, "invalid_scope", None),
        TokenError::App(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", None),
    };
    let mut body = serde_json::json!({ "error": code });
    if let Some(description) = description {
        body["error_description"] = description.into();
    }
    let mut response = (status, Json(body)).into_response();
    if matches!(error, TokenError::InvalidClient { basic: true }) {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"gatehouse\""),
        );
    }
    response
}
