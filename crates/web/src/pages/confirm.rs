//! "Enter the code we sent": the one page that confirms an address or a phone with a code
//! (a new phone, a new e-mail address, a sign-up), and the handlers of the account changes
//! it confirms. A change says its words and its `app` calls (`CodedChange`); starting it,
//! showing its page and checking its code are then one set of handlers for every change.
//! What a refusal looks like is `error`'s choice, never this module's.

use super::{answer, or_failure, render, CodeForm, PageRequest};
use crate::csrf::CsrfForm;
use crate::error::{see_other, Failure};
use crate::session::RecentSession;
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_app::sessions::FreshSession;
use gatehouse_app::{ClientInfo, Gatehouse};
use serde::de::DeserializeOwned;
use std::future::Future;

/// "Enter the code we sent": one page for every code that confirms an address or a phone
/// (a new phone, a new e-mail address, a sign-up).
#[derive(Template)]
#[template(path = "confirm_code.html")]
struct ConfirmCodePage<'a> {
    csrf: &'a str,
    heading: &'a str,
    /// "We sent a code to" or "We texted a code to".
    sent: &'a str,
    masked: &'a str,
    /// What the code is for, as a sentence.
    purpose: &'a str,
    action: &'a str,
    cancel: Option<&'a str>,
    error: Option<&'a str>,
}

/// What one use of the confirm-code page says and where it posts. The three uses (a new
/// phone, a new e-mail address, a sign-up) differ only in these words and in which `app`
/// calls find the pending code and check it, so the GET and the POST live here once.
pub struct ConfirmCode {
    pub heading: &'static str,
    pub sent: &'static str,
    pub purpose: &'static str,
    pub action: &'static str,
    pub cancel: Option<&'static str>,
}

impl ConfirmCode {
    fn render(
        &self,
        csrf: &str,
        masked: &str,
        status: StatusCode,
        error: Option<&str>,
    ) -> Response {
        let page = ConfirmCodePage {
            csrf,
            heading: self.heading,
            sent: self.sent,
            masked,
            purpose: self.purpose,
            action: self.action,
            cancel: self.cancel,
            error,
        };
        render(status, &page)
    }

    /// The GET: the page for the pending code (`pending` is where it went, masked), or, with
    /// nothing pending, whatever `failure` chooses.
    pub fn show<E>(
        &self,
        csrf: &str,
        pending: Result<String, E>,
        failure: fn(E) -> Failure,
    ) -> Response {
        let shown = pending.map(|masked| self.render(csrf, &masked, StatusCode::OK, None));
        or_failure(shown, failure)
    }

    /// The POST: where a correct code leads, or the page again with the message. Where the
    /// code went is looked up again (`pending`) only when the page must be drawn.
    pub async fn answer<E>(
        &self,
        csrf: &str,
        result: Result<Response, E>,
        failure: fn(E) -> Failure,
        pending: impl AsyncFnOnce() -> Result<String, E>,
    ) -> Response {
        answer(result, failure, async |status, message| {
            let masked = pending().await.unwrap_or_default();
            self.render(csrf, &masked, status, Some(message))
        })
        .await
    }
}

/// A change on the account page that a code confirms (S34: each needs a recent sign-in).
pub trait CodedChange {
    /// The account page's form that starts the change.
    type Start: DeserializeOwned + Send;
    type Error: Send;
    /// The confirm-code page; the start leads to its `action`.
    const PAGE: ConfirmCode;
    /// Where a confirmed change leads.
    const DONE: &'static str;
    /// The change's mapping in `error`.
    const FAILURE: fn(Self::Error) -> Failure;

    fn start(
        app: &Gatehouse,
        session: &FreshSession,
        form: &Self::Start,
        client: &ClientInfo,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Where the code went, masked.
    fn pending(
        app: &Gatehouse,
        session: &FreshSession,
    ) -> impl Future<Output = Result<String, Self::Error>> + Send;

    /// Checks the code; `Ok` names where the person goes (usually `DONE`).
    fn confirm(
        app: &Gatehouse,
        session: &FreshSession,
        code: &str,
        client: &ClientInfo,
    ) -> impl Future<Output = Result<&'static str, Self::Error>> + Send;
}

/// The account page's form: on to the code page, or the account page with the refusal.
pub async fn post_start<C: CodedChange>(
    action: PageRequest,
    RecentSession(session): RecentSession,
    CsrfForm(form): CsrfForm<C::Start>,
) -> Response {
    let result = C::start(action.app(), &session, &form, &action.client).await;
    let done = result.map(|()| see_other(C::PAGE.action));
    action.on_account_page(&session, done, C::FAILURE).await
}

pub async fn get_code<C: CodedChange>(
    action: PageRequest,
    RecentSession(session): RecentSession,
) -> Response {
    let pending = C::pending(action.app(), &session).await;
    C::PAGE.show(action.csrf(), pending, C::FAILURE)
}

pub async fn post_code<C: CodedChange>(
    action: PageRequest,
    RecentSession(session): RecentSession,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    let result = C::confirm(action.app(), &session, &form.code, &action.client).await;
    let done = result.map(see_other);
    let pending = async || C::pending(action.app(), &session).await;
    C::PAGE
        .answer(action.csrf(), done, C::FAILURE, pending)
        .await
}
