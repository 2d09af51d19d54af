//! The sign-in pages of DESIGN.md §1, one GET and one POST per step. The names on these
//! pages ("Email", "Next", "Password", "Sign in", "Verification code", "Verify", "Resend
//! code", "Trust this device", "Use a backup code", "Backup code", "Save your backup code",
//! "I have saved this code for future use") are what people, screen readers and the browser
//! tests rely on: keep them.

use super::{path_of_step, render, EmptyForm};
use crate::client::Client;
use crate::cookies::CookieName;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{see_other, sign_in_failure, Failure};
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use gatehouse_app::sign_in::{FlowView, Progress, SignInError, StepOutcome};
use gatehouse_core::flow::FLOW_LIFETIME_SECS;
use gatehouse_core::{FlowStep, SecondStepMethod};
use serde::Deserialize;

/// Messages chosen by a fixed key in the URL, never reflected from it.
fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "expired" => Some("Your sign-in expired. Please start again."),
        "too-many-codes" => Some("Too many wrong codes. Please sign in again."),
        "signed-out" => Some("You have signed out."),
        "account-created" => Some("Your account is ready. Sign in to finish setting it up."),
        "password-reset" => Some("Your password was reset. Sign in with your new password."),
        "reauthenticate" => Some("For your security, sign in again before changing how you sign in."),
        "sent" => Some("We sent a new code."),
        "backup-code-replaced" => Some(
            "A newer backup code was shown in another window, so the one you saw is void. Sign in again to get your code.",
        ),
        _ => None,
    }
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    return_to: Option<String>,
    notice: Option<String>,
    /// A product's `login_hint` (S43): the address to fill in, nothing more.
    login_hint: Option<String>,
}

// ----- step 1: e-mail -----

#[derive(Template)]
#[template(path = "sign_in_email.html")]
struct EmailPage<'a> {
    csrf: &'a str,
    /// Whether "Create account" is offered.
    sign_up: bool,
    email: &'a str,
    return_to: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

pub async fn get_email(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Query(query): Query<PageQuery>,
) -> Response {
    let page = EmailPage {
        csrf: &csrf.0,
        sign_up: state.app.sign_up_open(),
        email: query.login_hint.as_deref().unwrap_or_default(),
        return_to: query.return_to.as_deref().unwrap_or_default(),
        notice: notice_text(query.notice.as_deref()),
        error: None,
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct EmailForm {
    email: String,
    #[serde(default)]
    return_to: String,
}

pub async fn post_email(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    CsrfForm(form): CsrfForm<EmailForm>,
) -> Response {
    let return_to = Some(form.return_to.as_str()).filter(|r| !r.is_empty());
    match state.app.start_sign_in(&form.email, return_to).await {
        // S46: the same answer for every well-formed address, known or not.
        Ok(token) => (
            [(
                SET_COOKIE,
                state
                    .cookies
                    .set(CookieName::Flow, token.as_str(), Some(FLOW_LIFETIME_SECS)),
            )],
            see_other("/sign-in/password"),
        )
            .into_response(),
        Err(error) => match sign_in_failure(error) {
            Failure::Show { status, message } => render(
                status,
                &EmailPage {
                    csrf: &csrf.0,
                    sign_up: state.app.sign_up_open(),
                    email: &form.email,
                    return_to: &form.return_to,
                    notice: None,
                    error: Some(&message),
                },
            ),
            other => other.into_response(),
        },
    }
}

// ----- shared plumbing for the steps after the e-mail -----

/// Loads the sign-in of this browser and checks it is at `expected`; otherwise sends the
/// person to where they actually are.
async fn current_step(
    state: &AppState,
    headers: &HeaderMap,
    expected: fn(FlowStep) -> bool,
) -> Result<FlowView, Response> {
    match state.app.view_sign_in(&flow_cookie(state, headers)).await {
        Ok(view) if expected(view.step) => Ok(view),
        Ok(view) => Err(see_other(path_of_step(view.step))),
        // A sign-in that just finished (a double click on the last button, the back button)
        // has no flow any more, but a live session: show the account, not "expired".
        Err(SignInError::NoSignIn) if has_live_session(state, headers).await => {
            Err(see_other("/account"))
        }
        Err(error) => Err(failure_response(error, |_, _| see_other("/sign-in"))),
    }
}

/// Maps a failed step: redirects and internal errors are decided by `error`; a message to
/// show is handed to `show`, which re-renders the step's own page.
fn failure_response(
    error: SignInError,
    show: impl FnOnce(StatusCode, &str) -> Response,
) -> Response {
    match sign_in_failure(error) {
        Failure::Show { status, message } => show(status, &message),
        other => other.into_response(),
    }
}

/// The sign-in handle this browser holds ("" when none: the use case then answers NoSignIn).
fn flow_cookie(state: &AppState, headers: &HeaderMap) -> String {
    state
        .cookies
        .read(headers, CookieName::Flow)
        .unwrap_or_default()
}

/// Maps a failed POST step. The use case checked the step itself, so the flow is loaded again
/// only when its page must be shown with a message (`show`), never on the way in.
async fn step_failed(
    state: &AppState,
    headers: &HeaderMap,
    flow: &str,
    error: SignInError,
    show: impl FnOnce(&FlowView, StatusCode, &str) -> Response,
) -> Response {
    // A sign-in that just finished (a double click on the last button, the back button)
    // has no flow any more, but a live session: show the account, not "expired".
    if matches!(error, SignInError::NoSignIn) && has_live_session(state, headers).await {
        return see_other("/account");
    }
    match sign_in_failure(error) {
        Failure::Show { status, message } => match state.app.view_sign_in(flow).await {
            Ok(view) => show(&view, status, &message),
            Err(error) => failure_response(error, |_, _| see_other("/sign-in")),
        },
        other => other.into_response(),
    }
}

/// Where a successful step leads, with the cookies it sets. While the sign-in goes on, the
/// flow cookie is set again: the server gives the flow a fresh lifetime at the password step,
/// and the browser must keep the handle as long.
fn progress_response(state: &AppState, flow: &str, outcome: StepOutcome) -> Response {
    let cookies = state.cookies;
    let mut set_cookies = Vec::new();
    if let Some(trust) = &outcome.trust_token {
        let max_age = state.app.settings().trust_days * 24 * 60 * 60;
        set_cookies.push(cookies.set(CookieName::Trust, trust.as_str(), Some(max_age)));
    }
    let location = match &outcome.progress {
        Progress::Next(step) => {
            set_cookies.push(cookies.set(CookieName::Flow, flow, Some(FLOW_LIFETIME_SECS)));
            path_of_step(*step).to_string()
        }
        Progress::SignedIn { session, return_to } => {
            set_cookies.push(cookies.set(CookieName::Session, session.as_str(), None));
            set_cookies.push(cookies.clear(CookieName::Flow));
            return_to.clone().unwrap_or_else(|| "/account".into())
        }
    };
    let mut response = see_other(&location);
    for cookie in set_cookies {
        if let Ok(value) = cookie.parse() {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

pub(super) async fn has_live_session(state: &AppState, headers: &HeaderMap) -> bool {
    match state.cookies.read(headers, CookieName::Session) {
        Some(cookie) => matches!(state.app.find_session(&cookie).await, Ok(Some(_))),
        None => false,
    }
}

fn is_password(step: FlowStep) -> bool {
    step == FlowStep::Password
}

fn is_second_step(step: FlowStep) -> bool {
    step == FlowStep::SecondStep
}

fn is_save_backup_code(step: FlowStep) -> bool {
    matches!(step, FlowStep::SaveBackupCode { .. })
}

// ----- step 2: password -----

#[derive(Template)]
#[template(path = "sign_in_password.html")]
struct PasswordPage<'a> {
    csrf: &'a str,
    email: &'a str,
    /// "Not you?": a fresh start that keeps where the sign-in was going.
    not_you: String,
    error: Option<&'a str>,
}

fn password_page(csrf: &str, view: &FlowView, status: StatusCode, error: Option<&str>) -> Response {
    render(
        status,
        &PasswordPage {
            csrf,
            email: &view.email,
            not_you: match view.return_to.as_deref() {
                Some(path) => format!(
                    "/sign-in?{}",
                    serde_urlencoded::to_string([("return_to", path)]).unwrap_or_default()
                ),
                None => "/sign-in".into(),
            },
            error,
        },
    )
}

pub async fn get_password(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
) -> Response {
    match current_step(&state, &headers, is_password).await {
        Ok(view) => password_page(&csrf.0, &view, StatusCode::OK, None),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

pub async fn post_password(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Response {
    let flow = flow_cookie(&state, &headers);
    let trust = state.cookies.read(&headers, CookieName::Trust);
    match state
        .app
        .submit_password(&flow, &form.password, trust.as_deref(), &client)
        .await
    {
        Ok(outcome) => progress_response(&state, &flow, outcome),
        Err(error) => {
            step_failed(&state, &headers, &flow, error, |view, status, message| {
                password_page(&csrf.0, view, status, Some(message))
            })
            .await
        }
    }
}

// ----- step 3: the e-mailed code -----

#[derive(Template)]
#[template(path = "sign_in_code.html")]
struct CodePage<'a> {
    csrf: &'a str,
    masked_email: &'a str,
    /// The code comes from an authenticator app rather than an e-mail.
    authenticator: bool,
    /// The code was texted to this phone ("•••• 0123") rather than e-mailed.
    texted_to: Option<&'a str>,
    /// How long "Trust this device" lasts (S26), as the operator configured it.
    trust_days: i64,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

const NOT_SENT: &str =
    "We could not send a code just now. Use \"Resend code\" in a moment, or use a backup code.";

fn code_page(
    csrf: &str,
    view: &FlowView,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let error = error.or((!view.code_sent).then_some(NOT_SENT));
    render(
        status,
        &CodePage {
            csrf,
            masked_email: &view.masked_email,
            authenticator: view.method == Some(SecondStepMethod::Totp),
            texted_to: view
                .phone
                .as_deref()
                .filter(|_| view.method == Some(SecondStepMethod::Sms)),
            trust_days: view.trust_days,
            notice,
            error,
        },
    )
}

pub async fn get_code(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    match current_step(&state, &headers, is_second_step).await {
        Ok(view) => code_page(
            &csrf.0,
            &view,
            StatusCode::OK,
            notice_text(query.notice.as_deref()),
            None,
        ),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
    /// The checkbox: present ("on") when ticked, absent otherwise.
    trust_device: Option<String>,
}

pub async fn post_code(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    let flow = flow_cookie(&state, &headers);
    let trust = form.trust_device.is_some();
    match state
        .app
        .submit_code(&flow, &form.code, trust, &client)
        .await
    {
        Ok(outcome) => progress_response(&state, &flow, outcome),
        Err(error) => {
            step_failed(&state, &headers, &flow, error, |view, status, message| {
                code_page(&csrf.0, view, status, None, Some(message))
            })
            .await
        }
    }
}

pub async fn post_resend(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    headers: HeaderMap,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    let flow = flow_cookie(&state, &headers);
    match state.app.resend_code(&flow, &client).await {
        Ok(()) => see_other("/sign-in/code?notice=sent"),
        Err(error) => {
            step_failed(&state, &headers, &flow, error, |view, status, message| {
                code_page(&csrf.0, view, status, None, Some(message))
            })
            .await
        }
    }
}

// ----- step 3, the other way: a backup code -----

#[derive(Template)]
#[template(path = "sign_in_backup_code.html")]
struct BackupCodePage<'a> {
    csrf: &'a str,
    error: Option<&'a str>,
}

pub async fn get_backup_code(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
) -> Response {
    match current_step(&state, &headers, is_second_step).await {
        Ok(_) => render(
            StatusCode::OK,
            &BackupCodePage {
                csrf: &csrf.0,
                error: None,
            },
        ),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
pub struct BackupCodeForm {
    backup_code: String,
}

pub async fn post_backup_code(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<BackupCodeForm>,
) -> Response {
    let flow = flow_cookie(&state, &headers);
    match state
        .app
        .submit_backup_code(&flow, &form.backup_code, &client)
        .await
    {
        Ok(outcome) => progress_response(&state, &flow, outcome),
        Err(error) => {
            step_failed(&state, &headers, &flow, error, |_, status, message| {
                render(
                    status,
                    &BackupCodePage {
                        csrf: &csrf.0,
                        error: Some(message),
                    },
                )
            })
            .await
        }
    }
}

// ----- step 4: save the new backup code -----

#[derive(Template)]
#[template(path = "save_backup_code.html")]
pub(crate) struct SaveBackupCodePage<'a> {
    pub(crate) csrf: &'a str,
    /// Where "I have saved this code for future use" posts, and where "Download" points:
    /// the sign-in's own, or the account page's.
    pub(crate) confirm_action: &'a str,
    pub(crate) download_href: &'a str,
    pub(crate) codes: &'a [String],
    pub(crate) error: Option<&'a str>,
}

pub async fn get_save_backup_code(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
) -> Response {
    match current_step(&state, &headers, is_save_backup_code).await {
        Ok(view) => render(
            StatusCode::OK,
            &SaveBackupCodePage {
                csrf: &csrf.0,
                confirm_action: "/sign-in/save-backup-code",
                download_href: "/sign-in/save-backup-code/download",
                codes: &view.backup_codes,
                error: None,
            },
        ),
        Err(response) => response,
    }
}

pub async fn post_save_backup_code(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    headers: HeaderMap,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    let flow = flow_cookie(&state, &headers);
    match state.app.confirm_backup_code_saved(&flow, &client).await {
        Ok(outcome) => progress_response(&state, &flow, outcome),
        Err(error) => {
            step_failed(&state, &headers, &flow, error, |view, status, message| {
                render(
                    status,
                    &SaveBackupCodePage {
                        csrf: &csrf.0,
                        confirm_action: "/sign-in/save-backup-code",
                        download_href: "/sign-in/save-backup-code/download",
                        codes: &view.backup_codes,
                        error: Some(message),
                    },
                )
            })
            .await
        }
    }
}

/// "Download": the pending code as a text file. A GET that changes nothing.
pub async fn get_backup_code_file(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match current_step(&state, &headers, is_save_backup_code).await {
        Ok(view) => backup_code_file(&view.email, &view.backup_codes),
        Err(response) => response,
    }
}

/// The backup codes as a text file to keep, for both "Download" links.
pub(crate) fn backup_code_file(email: &str, codes: &[String]) -> Response {
    let mut text = format!(
        "Gatehouse backup code for {email}\r\n\r\n\
         Use it to sign in if you cannot get a verification code.\r\n\
         It works once; after it is used you will be given a new one.\r\n\r\n"
    );
    for code in codes {
        text.push_str(code);
        text.push_str("\r\n");
    }
    (
        [
            (CONTENT_TYPE, "text/plain; charset=utf-8"),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"gatehouse-backup-code.txt\"",
            ),
        ],
        text,
    )
        .into_response()
}

// ----- "Try another way" -----

#[derive(Template)]
#[template(path = "another_way.html")]
struct AnotherWayPage<'a> {
    csrf: &'a str,
    authenticator: bool,
    /// "•••• 0123" when a code can be texted instead of the app's.
    text_to: Option<&'a str>,
}

/// The other ways through the second step that this account has.
pub async fn get_another_way(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
) -> Response {
    match current_step(&state, &headers, is_second_step).await {
        Ok(view) => {
            let authenticator = view.method == Some(SecondStepMethod::Totp);
            render(
                StatusCode::OK,
                &AnotherWayPage {
                    csrf: &csrf.0,
                    authenticator,
                    text_to: view.phone.as_deref().filter(|_| authenticator),
                },
            )
        }
        Err(response) => response,
    }
}

/// "Text a code to •••• 0123" instead of the app's code.
pub async fn post_text_instead(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    headers: HeaderMap,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    let flow = flow_cookie(&state, &headers);
    match state.app.switch_to_text_message(&flow, &client).await {
        Ok(()) => see_other("/sign-in/code"),
        Err(error) => {
            step_failed(&state, &headers, &flow, error, |view, status, message| {
                code_page(&csrf.0, view, status, None, Some(message))
            })
            .await
        }
    }
}
