//! The sign-in pages of DESIGN.md §1, one GET and one POST per step. The names on these
//! pages ("Email", "Next", "Password", "Sign in", "Verification code", "Verify", "Resend
//! code", "Trust this device", "Use a backup code", "Backup code", "Save your backup code",
//! "I have saved this code for future use") are what people, screen readers and the browser
//! tests rely on: keep them.

use super::{answer, path_of_step, render, EmptyForm, PageRequest};
use crate::client::Client;
use crate::cookies::CookieName;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{see_other, sign_in_failure};
use crate::AppState;
use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use gatehouse_app::sign_in::{BrowserCookies, FlowView, Progress, SignInError, StepOutcome};
use gatehouse_core::flow::FLOW_LIFETIME_SECS;
use gatehouse_core::{FlowStep, Proof, SecondStepMethod};
use serde::Deserialize;

/// The device cookie lives as long as the server remembers a browser (S56).
const DEVICE_COOKIE_DAYS: i64 = 365;

/// Messages chosen by a fixed key in the URL, never reflected from it.
fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "expired" => Some("Your sign-in expired. Please start again."),
        "too-many-codes" => Some("Too many wrong codes. Please sign in again."),
        "signed-out" => Some("You have signed out."),
        "account-created" => Some("Your account is ready. Sign in to finish setting it up."),
        "password-reset" => Some("Your password was reset. Sign in with your new password."),
        "recovered" => Some("Your account was recovered. Sign in with your password: we will email you a code, then show you a new backup code."),
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
    Client(client): Client,
    CsrfForm(form): CsrfForm<EmailForm>,
) -> Response {
    let return_to = Some(form.return_to.as_str()).filter(|r| !r.is_empty());
    let result = state
        .app
        .start_sign_in(&form.email, return_to, &client)
        .await;
    // S46: the same answer for every well-formed address, known or not.
    let next = result.map(|token| {
        let lifetime = Some(FLOW_LIFETIME_SECS);
        let cookie = state
            .cookies
            .set(CookieName::Flow, token.as_str(), lifetime);
        ([(SET_COOKIE, cookie)], see_other("/sign-in/password")).into_response()
    });
    answer(next, sign_in_failure, async |status, message| {
        let page = EmailPage {
            csrf: &csrf.0,
            sign_up: state.app.sign_up_open(),
            email: &form.email,
            return_to: &form.return_to,
            notice: None,
            error: Some(message),
        };
        render(status, &page)
    })
    .await
}

// ----- shared plumbing for the steps after the e-mail -----

/// What every step after the e-mail works with: the app, who is asking, this browser's
/// cookies and its sign-in handle ("" when none: the use case then answers NoSignIn), and
/// the CSRF token to draw the step's page. Each step's GET and POST are then one call each (`show`, `answer`).
pub struct StepRequest {
    request: PageRequest,
    headers: HeaderMap,
    flow: String,
}

impl FromRequestParts<AppState> for StepRequest {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let request = PageRequest::from_request_parts(parts, state).await?;
        let flow = state.cookies.read(&parts.headers, CookieName::Flow);
        Ok(Self {
            request,
            headers: parts.headers.clone(),
            flow: flow.unwrap_or_default(),
        })
    }
}

/// A step is a page request with a sign-in: `app()`, `csrf()` and `client` are the page's.
impl std::ops::Deref for StepRequest {
    type Target = PageRequest;

    fn deref(&self) -> &PageRequest {
        &self.request
    }
}

/// The pages of the steps after the e-mail. Each is drawn by its GET and, with the message,
/// when its POST is refused.
#[derive(Clone, Copy)]
enum StepPage {
    Password,
    Code,
    BackupCode,
    SaveBackupCode,
}

impl StepPage {
    /// Whether the sign-in is at this page's step; at any other the person is sent on.
    fn belongs_to(self, step: FlowStep) -> bool {
        match self {
            Self::Password => step == FlowStep::Password,
            Self::Code | Self::BackupCode => step == FlowStep::SecondStep,
            Self::SaveBackupCode => matches!(step, FlowStep::SaveBackupCode { .. }),
        }
    }

    fn render(
        self,
        csrf: &str,
        view: &FlowView,
        status: StatusCode,
        notice: Option<&str>,
        error: Option<&str>,
    ) -> Response {
        match self {
            Self::Password => password_page(csrf, view, status, error),
            Self::Code => code_page(csrf, view, status, notice, error),
            Self::BackupCode => render(status, &BackupCodePage { csrf, error }),
            Self::SaveBackupCode => render(
                status,
                &SaveBackupCodePage {
                    csrf,
                    confirm_action: "/sign-in/save-backup-code",
                    download_href: "/sign-in/save-backup-code/download",
                    codes: &view.backup_codes,
                    error,
                },
            ),
        }
    }
}

impl StepRequest {
    /// Loads the sign-in of this browser and checks it is at `page`'s step; otherwise sends
    /// the person to where they actually are.
    async fn view(&self, page: StepPage) -> Result<FlowView, Response> {
        match self.app().view_sign_in(&self.flow).await {
            Ok(view) if page.belongs_to(view.step) => Ok(view),
            Ok(view) => Err(see_other(path_of_step(view.step))),
            Err(error) if self.just_finished(&error).await => Err(see_other("/account")),
            Err(error) => Err(restart(error).await),
        }
    }

    /// A step's GET: its page, or the way to where the sign-in is.
    async fn show(&self, page: StepPage, notice: Option<&str>) -> Response {
        match self.view(page).await {
            Ok(view) => page.render(self.csrf(), &view, StatusCode::OK, notice, None),
            Err(response) => response,
        }
    }

    /// A step's POST: `result` is where a step that went through leads; a refused one shows
    /// `page` again with the message. The use case checked the step itself, so the flow is
    /// loaded again only to draw that page, never on the way in.
    async fn answer(&self, page: StepPage, result: Result<Response, SignInError>) -> Response {
        if let Err(error) = &result {
            if self.just_finished(error).await {
                return see_other("/account");
            }
        }
        answer(result, sign_in_failure, async |status, message| match self
            .app()
            .view_sign_in(&self.flow)
            .await
        {
            Ok(view) => page.render(self.csrf(), &view, status, None, Some(message)),
            Err(error) => restart(error).await,
        })
        .await
    }

    /// A step's POST that moves the sign-in on: where it leads, or `page` with the message.
    async fn advance(&self, page: StepPage, result: Result<StepOutcome, SignInError>) -> Response {
        self.answer(page, result.map(|outcome| self.progress(outcome)))
            .await
    }

    /// A sign-in that just finished (a double click on the last button, the back button)
    /// has no flow any more, but a live session: show the account, not "expired".
    async fn just_finished(&self, error: &SignInError) -> bool {
        matches!(error, SignInError::NoSignIn)
            && has_live_session(&self.request.state, &self.headers).await
    }

    /// Where a successful step leads, with the cookies it sets. While the sign-in goes on,
    /// the flow cookie is set again: the server gives the flow a fresh lifetime at the
    /// password step, and the browser must keep the handle as long.
    fn progress(&self, outcome: StepOutcome) -> Response {
        let cookies = self.request.state.cookies;
        let mut set_cookies = Vec::new();
        if let Some(device) = &outcome.device_token {
            let max_age = DEVICE_COOKIE_DAYS * 24 * 60 * 60;
            set_cookies.push(cookies.set(CookieName::Device, device.as_str(), Some(max_age)));
        }
        if let Some(trust) = &outcome.trust_token {
            let max_age = self.app().settings().trust_days * 24 * 60 * 60;
            set_cookies.push(cookies.set(CookieName::Trust, trust.as_str(), Some(max_age)));
        }
        let location = match &outcome.progress {
            Progress::Next(step) => {
                let lifetime = Some(FLOW_LIFETIME_SECS);
                set_cookies.push(cookies.set(CookieName::Flow, &self.flow, lifetime));
                path_of_step(*step).to_string()
            }
            Progress::SignedIn {
                session,
                return_to,
                proof,
            } => {
                set_cookies.push(cookies.set(CookieName::Session, session.as_str(), None));
                set_cookies.push(cookies.clear(CookieName::Flow));
                match proof {
                    // Issue 12: a backup-code sign-in is reviewed before it goes on.
                    Proof::BackupCode => super::review::review_path(return_to.as_deref()),
                    Proof::TrustedDevice
                    | Proof::EmailCode
                    | Proof::Totp
                    | Proof::Sms
                    | Proof::Passkey => return_to.clone().unwrap_or_else(|| "/account".into()),
                }
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
}

/// A failure with no step page to show it on: redirects and internal errors as `error`
/// decides; a message would need the page, so the sign-in starts again.
async fn restart(error: SignInError) -> Response {
    answer(Err(error), sign_in_failure, async |_, _| {
        see_other("/sign-in")
    })
    .await
}

pub(super) async fn has_live_session(state: &AppState, headers: &HeaderMap) -> bool {
    match state.cookies.read(headers, CookieName::Session) {
        Some(cookie) => matches!(state.app.find_session(&cookie).await, Ok(Some(_))),
        None => false,
    }
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

pub async fn get_password(step: StepRequest) -> Response {
    step.show(StepPage::Password, None).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

pub async fn post_password(step: StepRequest, CsrfForm(form): CsrfForm<PasswordForm>) -> Response {
    let cookies = step.request.state.cookies;
    let trust = cookies.read(&step.headers, CookieName::Trust);
    let device = cookies.read(&step.headers, CookieName::Device);
    let browser = BrowserCookies {
        trust: trust.as_deref(),
        device: device.as_deref(),
    };
    let result = step
        .app()
        .submit_password(&step.flow, &form.password, browser, &step.client)
        .await;
    step.advance(StepPage::Password, result).await
}

// ----- a passkey instead of the password and the code (S58) -----

#[derive(Deserialize)]
pub struct PasskeyForm {
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    credential: String,
    #[serde(default)]
    return_to: String,
}

impl StepRequest {
    /// The device cookie (S56): a passkey sign-in makes the browser known too. A trust
    /// cookie plays no part: there is no code to skip.
    fn device_cookie(&self) -> Option<String> {
        self.request
            .state
            .cookies
            .read(&self.headers, CookieName::Device)
    }
}

/// "Sign in with a passkey" on the e-mail page: a discoverable credential names the
/// account; a new sign-in begins and, with a verified person, ends here.
pub async fn post_passkey(step: StepRequest, CsrfForm(form): CsrfForm<PasskeyForm>) -> Response {
    let device = step.device_cookie();
    let browser = BrowserCookies {
        trust: None,
        device: device.as_deref(),
    };
    let return_to = Some(form.return_to.as_str()).filter(|r| !r.is_empty());
    let result = step
        .app()
        .sign_in_with_passkey(
            None,
            &form.ceremony,
            &form.credential,
            return_to,
            browser,
            &step.client,
        )
        .await;
    let done = match result {
        Ok(done) => {
            let step = StepRequest {
                flow: done.flow_token.as_str().to_string(),
                ..step
            };
            return step.progress(done.outcome);
        }
        Err(error) => Err(error),
    };
    answer(done, sign_in_failure, async |status, message| {
        let page = EmailPage {
            csrf: step.csrf(),
            sign_up: step.app().sign_up_open(),
            email: "",
            return_to: &form.return_to,
            notice: None,
            error: Some(message),
        };
        render(status, &page)
    })
    .await
}

/// "Sign in with a passkey" on the password page: the passkey must be the address's.
pub async fn post_password_passkey(
    step: StepRequest,
    CsrfForm(form): CsrfForm<PasskeyForm>,
) -> Response {
    let device = step.device_cookie();
    let browser = BrowserCookies {
        trust: None,
        device: device.as_deref(),
    };
    let result = step
        .app()
        .sign_in_with_passkey(
            Some(&step.flow),
            &form.ceremony,
            &form.credential,
            None,
            browser,
            &step.client,
        )
        .await;
    step.advance(StepPage::Password, result.map(|done| done.outcome))
        .await
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

pub async fn get_code(step: StepRequest, Query(query): Query<PageQuery>) -> Response {
    let notice = notice_text(query.notice.as_deref());
    step.show(StepPage::Code, notice).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
    /// The checkbox: present ("on") when ticked, absent otherwise.
    trust_device: Option<String>,
}

pub async fn post_code(step: StepRequest, CsrfForm(form): CsrfForm<CodeForm>) -> Response {
    let trust = form.trust_device.is_some();
    let result = step
        .app()
        .submit_code(&step.flow, &form.code, trust, &step.client)
        .await;
    step.advance(StepPage::Code, result).await
}

pub async fn post_resend(
    step: StepRequest,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    let result = step.app().resend_code(&step.flow, &step.client).await;
    let next = result.map(|()| see_other("/sign-in/code?notice=sent"));
    step.answer(StepPage::Code, next).await
}

// ----- step 3, the other way: a backup code -----

#[derive(Template)]
#[template(path = "sign_in_backup_code.html")]
struct BackupCodePage<'a> {
    csrf: &'a str,
    error: Option<&'a str>,
}

pub async fn get_backup_code(step: StepRequest) -> Response {
    step.show(StepPage::BackupCode, None).await
}

#[derive(Deserialize)]
pub struct BackupCodeForm {
    backup_code: String,
}

pub async fn post_backup_code(
    step: StepRequest,
    CsrfForm(form): CsrfForm<BackupCodeForm>,
) -> Response {
    let result = step
        .app()
        .submit_backup_code(&step.flow, &form.backup_code, &step.client)
        .await;
    step.advance(StepPage::BackupCode, result).await
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

pub async fn get_save_backup_code(step: StepRequest) -> Response {
    step.show(StepPage::SaveBackupCode, None).await
}

pub async fn post_save_backup_code(
    step: StepRequest,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    let result = step
        .app()
        .confirm_backup_code_saved(&step.flow, &step.client);
    step.advance(StepPage::SaveBackupCode, result.await).await
}

/// "Download": the pending code as a text file. A GET that changes nothing.
pub async fn get_backup_code_file(step: StepRequest) -> Response {
    match step.view(StepPage::SaveBackupCode).await {
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
pub async fn get_another_way(step: StepRequest) -> Response {
    // "Try another way" is a choice at the code step, so it is there when the code page is.
    match step.view(StepPage::Code).await {
        Ok(view) => {
            let authenticator = view.method == Some(SecondStepMethod::Totp);
            let page = AnotherWayPage {
                csrf: step.csrf(),
                authenticator,
                text_to: view.phone.as_deref().filter(|_| authenticator),
            };
            render(StatusCode::OK, &page)
        }
        Err(response) => response,
    }
}

/// "Text a code to •••• 0123" instead of the app's code.
pub async fn post_text_instead(
    step: StepRequest,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    let result = step
        .app()
        .switch_to_text_message(&step.flow, &step.client)
        .await;
    let next = result.map(|()| see_other("/sign-in/code"));
    step.answer(StepPage::Code, next).await
}
