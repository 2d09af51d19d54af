//! The one place where outcomes become statuses: one mapping per use-case error (and for the
//! OpenID Connect pages' refusals, the missing session and the rejected request), each
//! naming every variant with no catch-all arm, so a new kind of failure forces a decision
//! here. Pages only choose which page shows the message (`words` has the words). Internal
//! causes are logged once, with their whole chain, and never shown.

use crate::pages::{path_of_step, ErrorPage};
use crate::words;
use askama::Template;
use axum::http::header::RETRY_AFTER;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use gatehouse_app::authenticator::AuthenticatorError;
use gatehouse_app::email_change::{CancelEmailChangeError, EmailChangeError};
use gatehouse_app::oidc::authorize::Unanswerable;
use gatehouse_app::oidc::logout::LogoutRefusal;
use gatehouse_app::oidc::tokens::TokenError;
use gatehouse_app::passkeys::PasskeyError;
use gatehouse_app::password_change::PasswordChangeError;
use gatehouse_app::password_reset::ResetError;
use gatehouse_app::phone::PhoneError;
use gatehouse_app::recovery::RecoveryLinkError;
use gatehouse_app::self_service::SelfServiceError;
use gatehouse_app::sessions::SessionRefusal;
use gatehouse_app::sign_in::SignInError;
use gatehouse_app::sign_up::SignUpError;
use gatehouse_app::stop_sign_in::StopError;
use gatehouse_app::{AppError, Readiness};
use std::borrow::Cow;

/// Requests refused before reaching a use case.
#[derive(Debug)]
pub enum Rejection {
    CrossSite,
    CsrfMismatch,
    BadForm,
    /// S57: a body over the limit every route has (`BODY_LIMIT_BYTES`).
    TooLarge,
    /// A protocol request with a parameter given twice (RFC 6749 §3.1).
    RepeatedParameter,
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
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "The form was too large to be read. Go back and try again.",
            ),
            Self::RepeatedParameter => (
                StatusCode::BAD_REQUEST,
                "The sign-in request from the product was malformed (a parameter was repeated).",
            ),
        };
        error_page(status, message)
    }
}

/// What a page does with a refused action: the status and the words are chosen here, the
/// page only decides where a message is shown.
pub enum Failure {
    /// Show the page the action came from again, with this message.
    Show {
        status: StatusCode,
        message: Cow<'static, str>,
    },
    /// Nothing on the form can fix it (a dead link): the error page, with this message.
    Stop {
        status: StatusCode,
        message: Cow<'static, str>,
    },
    /// Go somewhere else (the current step, a fresh start, the account page).
    Redirect(String),
    /// Something no person caused.
    Internal(Response),
}

/// A page with no form of its own (a GET) shows a message on the error page.
impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Self::Show { status, message } | Self::Stop { status, message } => {
                error_page(status, &message)
            }
            Self::Redirect(path) => see_other(&path),
            Self::Internal(response) => response,
        }
    }
}

fn show(status: StatusCode, message: Cow<'static, str>) -> Failure {
    Failure::Show { status, message }
}

fn redirect(path: &str) -> Failure {
    Failure::Redirect(path.into())
}

pub fn sign_in_failure(error: SignInError) -> Failure {
    let message = words::sign_in(&error);
    match error {
        SignInError::InvalidEmail
        | SignInError::MalformedCode
        | SignInError::MalformedBackupCode => show(StatusCode::UNPROCESSABLE_ENTITY, message),
        SignInError::InvalidCredentials | SignInError::WrongCode | SignInError::WrongBackupCode => {
            show(StatusCode::UNAUTHORIZED, message)
        }
        SignInError::CodeExpired | SignInError::PasskeyRefused => {
            show(StatusCode::UNAUTHORIZED, message)
        }
        SignInError::SecondStepLocked
        | SignInError::TooManySignIns
        | SignInError::ResendTooSoon(_)
        | SignInError::ResendLimit => show(StatusCode::TOO_MANY_REQUESTS, message),
        SignInError::TryAgain => show(StatusCode::CONFLICT, message),
        SignInError::CodeNotSent => show(StatusCode::SERVICE_UNAVAILABLE, message),
        SignInError::NoSignIn => redirect("/sign-in?notice=expired"),
        SignInError::TooManyAttempts => redirect("/sign-in?notice=too-many-codes"),
        SignInError::BackupCodeReplaced => redirect("/sign-in?notice=backup-code-replaced"),
        SignInError::WrongStep(step) => redirect(path_of_step(step)),
        SignInError::App(app) => Failure::Internal(app_error(app)),
    }
}

/// The one answer to "no session" or "not recent enough" (S34): back to the sign-in, which
/// returns to the account page.
pub fn session_refused(refusal: SessionRefusal) -> Response {
    match refusal {
        SessionRefusal::NotSignedIn => see_other("/sign-in?return_to=/account"),
        SessionRefusal::TooOld => see_other("/sign-in?return_to=/account&notice=reauthenticate"),
        SessionRefusal::App(app) => app_error(app),
    }
}

pub fn phone_failure(error: PhoneError) -> Failure {
    let message = words::phone(&error);
    match error {
        PhoneError::NotStarted => redirect("/account"),
        PhoneError::InvalidNumber(_) | PhoneError::MalformedCode => {
            show(StatusCode::UNPROCESSABLE_ENTITY, message)
        }
        PhoneError::WrongCode => show(StatusCode::UNAUTHORIZED, message),
        PhoneError::CodeExpired | PhoneError::TooManyAttempts => show(StatusCode::GONE, message),
        PhoneError::NotSent => show(StatusCode::TOO_MANY_REQUESTS, message),
        PhoneError::AlreadySetUp => show(StatusCode::CONFLICT, message),
        PhoneError::App(app) => Failure::Internal(app_error(app)),
    }
}

pub fn email_change_failure(error: EmailChangeError) -> Failure {
    let message = words::email_change(&error);
    match error {
        EmailChangeError::NotStarted => redirect("/account"),
        EmailChangeError::InvalidEmail
        | EmailChangeError::Unchanged
        | EmailChangeError::MalformedCode => show(StatusCode::UNPROCESSABLE_ENTITY, message),
        EmailChangeError::WrongCode => show(StatusCode::UNAUTHORIZED, message),
        EmailChangeError::TooManyAttempts => show(StatusCode::GONE, message),
        EmailChangeError::App(app) => Failure::Internal(app_error(app)),
    }
}

pub fn authenticator_failure(error: AuthenticatorError) -> Failure {
    let message = words::authenticator(&error);
    match error {
        AuthenticatorError::AlreadySetUp | AuthenticatorError::NotStarted => redirect("/account"),
        AuthenticatorError::WrongCode => show(StatusCode::UNAUTHORIZED, message),
        AuthenticatorError::TooManyAttempts => show(StatusCode::TOO_MANY_REQUESTS, message),
        AuthenticatorError::App(app) => Failure::Internal(app_error(app)),
    }
}

pub fn passkey_failure(error: PasskeyError) -> Failure {
    let message = words::passkey(&error);
    match error {
        PasskeyError::Unavailable => show(StatusCode::SERVICE_UNAVAILABLE, message),
        PasskeyError::NotStarted | PasskeyError::Refused => {
            show(StatusCode::UNPROCESSABLE_ENTITY, message)
        }
        PasskeyError::InvalidName => show(StatusCode::UNPROCESSABLE_ENTITY, message),
        PasskeyError::AlreadyRegistered => show(StatusCode::CONFLICT, message),
        PasskeyError::NotFound => show(StatusCode::NOT_FOUND, message),
        PasskeyError::TooMany => show(StatusCode::TOO_MANY_REQUESTS, message),
        PasskeyError::App(app) => Failure::Internal(app_error(app)),
    }
}

pub fn self_service_failure(error: SelfServiceError) -> Failure {
    let message = words::self_service(&error);
    match error {
        SelfServiceError::NoPendingBackupCode => redirect("/account"),
        SelfServiceError::UnknownDevice
        | SelfServiceError::UnknownProduct
        | SelfServiceError::UnknownSession => show(StatusCode::NOT_FOUND, message),
        SelfServiceError::App(app) => Failure::Internal(app_error(app)),
    }
}

pub fn password_change_failure(error: PasswordChangeError) -> Failure {
    let message = words::password_change(&error);
    match error {
        PasswordChangeError::WrongCurrentPassword => show(StatusCode::UNAUTHORIZED, message),
        PasswordChangeError::WeakPassword(_) | PasswordChangeError::Unchanged => {
            show(StatusCode::UNPROCESSABLE_ENTITY, message)
        }
        PasswordChangeError::Conflict => show(StatusCode::CONFLICT, message),
        PasswordChangeError::App(app) => Failure::Internal(app_error(app)),
    }
}

pub fn reset_failure(error: ResetError) -> Failure {
    let message = words::reset(&error);
    match error {
        ResetError::InvalidEmail | ResetError::WeakPassword(_) => {
            show(StatusCode::UNPROCESSABLE_ENTITY, message)
        }
        ResetError::InvalidLink => Failure::Stop {
            status: StatusCode::GONE,
            message,
        },
        ResetError::App(app) => Failure::Internal(app_error(app)),
    }
}

/// The recovery and recovery-cancel pages (issue 12): a dead link stops with 410.
pub fn recovery_failure(error: RecoveryLinkError) -> Failure {
    let message = words::recovery(&error);
    match error {
        RecoveryLinkError::InvalidLink => Failure::Stop {
            status: StatusCode::GONE,
            message,
        },
        RecoveryLinkError::App(app) => Failure::Internal(app_error(app)),
    }
}

/// S59: a stop link that cannot stop anything says so on its own page and changes nothing.
pub fn stop_failure(error: StopError) -> Failure {
    let message = words::stop(&error);
    match error {
        StopError::InvalidLink => show(StatusCode::GONE, message),
        StopError::AlreadyStopped | StopError::SignInOver => show(StatusCode::CONFLICT, message),
        StopError::App(app) => Failure::Internal(app_error(app)),
    }
}

/// S59: a cancel link with nothing (any more) to cancel.
pub fn cancel_email_change_failure(error: CancelEmailChangeError) -> Failure {
    let message = words::cancel_email_change(&error);
    match error {
        CancelEmailChangeError::NothingToCancel => show(StatusCode::GONE, message),
        CancelEmailChangeError::App(app) => Failure::Internal(app_error(app)),
    }
}

pub fn sign_up_failure(error: SignUpError) -> Failure {
    let message = words::sign_up(&error);
    match error {
        SignUpError::Closed => Failure::Stop {
            status: StatusCode::NOT_FOUND,
            message,
        },
        SignUpError::InvalidEmail | SignUpError::WeakPassword(_) | SignUpError::MalformedCode => {
            show(StatusCode::UNPROCESSABLE_ENTITY, message)
        }
        SignUpError::WrongCode => show(StatusCode::UNAUTHORIZED, message),
        SignUpError::TooManyFromHere => show(StatusCode::TOO_MANY_REQUESTS, message),
        SignUpError::NoSignUp | SignUpError::TooManyAttempts => redirect("/sign-up"),
        SignUpError::App(app) => Failure::Internal(app_error(app)),
    }
}

/// S38: an authorization request that cannot even be answered by a redirect.
pub fn unanswerable(reason: Unanswerable) -> Response {
    let status = match reason {
        Unanswerable::UnknownClient | Unanswerable::BadRedirectUri | Unanswerable::RequestGone => {
            StatusCode::BAD_REQUEST
        }
        Unanswerable::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
    };
    error_page(status, words::unanswerable(reason))
}

/// S37: a sign-out request that names no place we may send the browser to.
pub fn logout_refused(reason: LogoutRefusal) -> Response {
    error_page(StatusCode::BAD_REQUEST, words::logout_refused(reason))
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
            tracing::error!(error = %Chain(&error), "request failed");
            error_page(StatusCode::INTERNAL_SERVER_ERROR, words::OUR_SIDE)
        }
    }
}

/// An error and every cause under it, `outer: inner: innermost`, for the log.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

/// A template that failed to render is ours: logged, and answered as a plain 500.
pub fn template_failed(error: &askama::Error) -> Response {
    tracing::error!(error = %Chain(error), "template failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side.",
    )
        .into_response()
}

/// `/healthz` when the database does not answer: plain text for load balancers.
pub fn health_failed(error: &AppError) -> Response {
    tracing::error!(error = %Chain(error), "health check failed");
    (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
}

/// `/readyz`: plain text for load balancers, saying which of the two is wrong.
pub fn readiness(outcome: Result<Readiness, AppError>) -> Response {
    match outcome {
        Ok(Readiness::Ready) => (StatusCode::OK, "ready").into_response(),
        Ok(Readiness::SchemaNotCurrent) => {
            tracing::warn!("not ready: a migration of this version is not applied");
            (StatusCode::SERVICE_UNAVAILABLE, "schema not current").into_response()
        }
        Err(error) => {
            tracing::error!(error = %Chain(&error), "not ready: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

pub fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, words::NOT_FOUND)
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
        tracing::error!(error = %Chain(&error), "protocol request failed");
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::LOCATION;

    #[derive(Debug)]
    struct Corrupt(std::io::Error);

    impl std::fmt::Display for Corrupt {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("the key row is corrupt")
        }
    }

    impl std::error::Error for Corrupt {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_log_line_shows_every_cause_of_an_unexpected_failure() {
        let cause = Corrupt(std::io::Error::other("short read"));
        let error = AppError::Unexpected(Box::new(cause));
        assert_eq!(
            Chain(&error).to_string(),
            "unexpected: the key row is corrupt: short read"
        );
    }

    #[test]
    fn no_session_and_an_old_sign_in_each_redirect_once_to_the_sign_in() {
        let location = |refusal| {
            let response = session_refused(refusal);
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            response.headers()[LOCATION].to_str().unwrap().to_string()
        };
        assert_eq!(
            location(SessionRefusal::NotSignedIn),
            "/sign-in?return_to=/account"
        );
        assert_eq!(
            location(SessionRefusal::TooOld),
            "/sign-in?return_to=/account&notice=reauthenticate"
        );
    }

    #[test]
    fn a_message_with_data_keeps_its_words() {
        let Failure::Show { status, message } = sign_in_failure(SignInError::ResendTooSoon(42))
        else {
            panic!("shown on the page")
        };
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            message,
            "Please wait 42 seconds before asking for another code"
        );
    }
}
