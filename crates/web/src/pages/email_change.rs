//! Changing the e-mail address from the account page (S34, S52): `NewEmail`, started,
//! shown and confirmed through `confirm`'s handlers; and the old address's "Cancel this
//! change" page for a change that waits 24 hours after a backup-code sign-in (issue 12).

use super::confirm::{CodedChange, ConfirmCode};
use super::{answer, render, PageRequest};
use crate::csrf::CsrfForm;
use crate::error::{cancel_email_change_failure, email_change_failure, see_other, Failure};
use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_app::email_change::{EmailChangeError, EmailChangeOutcome};
use gatehouse_app::sessions::FreshSession;
use gatehouse_app::{ClientInfo, Gatehouse};
use gatehouse_core::display::format_utc;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct StartForm {
    new_email: String,
}

/// A new address: sent a code, the account's once the code is entered; the old address is
/// told either way (S52).
pub struct NewEmail;

impl CodedChange for NewEmail {
    type Start = StartForm;
    type Error = EmailChangeError;
    const PAGE: ConfirmCode = ConfirmCode {
        heading: "Confirm your new email address",
        sent: "We sent a code to",
        purpose: "Enter it to make this your account's address.",
        action: "/account/email",
        cancel: Some("/account"),
    };
    const DONE: &'static str = "/account?notice=email-changed";
    const FAILURE: fn(EmailChangeError) -> Failure = email_change_failure;

    async fn start(
        app: &Gatehouse,
        session: &FreshSession,
        form: &StartForm,
        _client: &ClientInfo,
    ) -> Result<(), EmailChangeError> {
        app.start_email_change(session, &form.new_email).await
    }

    async fn pending(app: &Gatehouse, session: &FreshSession) -> Result<String, EmailChangeError> {
        app.pending_email_change(session).await
    }

    async fn confirm(
        app: &Gatehouse,
        session: &FreshSession,
        code: &str,
        client: &ClientInfo,
    ) -> Result<&'static str, EmailChangeError> {
        let outcome = app.confirm_email_change(session, code, client).await?;
        Ok(match outcome {
            EmailChangeOutcome::Changed => Self::DONE,
            EmailChangeOutcome::Waiting { .. } => "/account?notice=email-change-waiting",
        })
    }
}

/// The cancel link's page (S59): what it would cancel and the button "Cancel this change";
/// opening it changes nothing. After the button, or for a link with nothing to cancel, the
/// same page says so.
#[derive(Template)]
#[template(path = "cancel_email_change.html")]
struct CancelPage<'a> {
    csrf: &'a str,
    token: &'a str,
    /// The masked new address and when it takes effect; `None` once there is no button.
    waiting: Option<(String, String)>,
    show_next_steps: bool,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

#[derive(Deserialize, Default)]
pub struct CancelQuery {
    #[serde(default)]
    token: String,
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct CancelForm {
    token: String,
}

const CANCELLED: &str = "The change was cancelled. Your email address stays as it is.";

fn cancel_page(
    page: &PageRequest,
    status: StatusCode,
    waiting: Option<(String, String)>,
    token: &str,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let show_next_steps = waiting.is_none();
    render(
        status,
        &CancelPage {
            csrf: page.csrf(),
            token,
            waiting,
            show_next_steps,
            notice,
            error,
        },
    )
}

pub async fn get_cancel(page: PageRequest, Query(query): Query<CancelQuery>) -> Response {
    if query.notice.as_deref() == Some("cancelled") {
        return cancel_page(&page, StatusCode::OK, None, "", Some(CANCELLED), None);
    }
    let result = page.app().email_change_to_cancel(&query.token).await;
    let shown = result.map(|waiting| {
        let line = (waiting.masked_new_email, format_utc(waiting.effective_at));
        cancel_page(&page, StatusCode::OK, Some(line), &query.token, None, None)
    });
    answer(
        shown,
        cancel_email_change_failure,
        async |status, message| cancel_page(&page, status, None, "", None, Some(message)),
    )
    .await
}

pub async fn post_cancel(page: PageRequest, CsrfForm(form): CsrfForm<CancelForm>) -> Response {
    let result = page
        .app()
        .cancel_email_change(&form.token, &page.client)
        .await;
    let done = result.map(|()| see_other("/email-change/cancel?notice=cancelled"));
    answer(
        done,
        cancel_email_change_failure,
        async |status, message| cancel_page(&page, status, None, "", None, Some(message)),
    )
    .await
}
