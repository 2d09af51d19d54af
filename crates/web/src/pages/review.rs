//! "You signed in with your backup code" (issue 12): after a sign-in whose second step was
//! the backup code (and saving the next one), this page lists the account's trusted
//! devices, sessions and last security events, each device and session with a "Revoke"
//! button, and "Everything looks right" goes on to wherever the sign-in was going (the
//! account page, or a product's waiting request). A session that signed in another way
//! is sent straight on.

use super::account::{activity_lines, device_lines, ActivityLine, DeviceLine};
use super::{answer, render, PageRequest};
use crate::csrf::CsrfForm;
use crate::error::{app_error, see_other, self_service_failure};
use crate::session::{RecentSession, SignedInSession};
use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_app::sessions::SignedIn;
use gatehouse_core::display::format_utc;
use gatehouse_core::ReturnTo;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "backup_code_review.html")]
struct ReviewPage<'a> {
    csrf: &'a str,
    email: &'a str,
    /// Carried through the revoke buttons, so "Everything looks right" still goes on.
    return_to: &'a str,
    /// Where "Everything looks right" leads (S37: a same-origin path only).
    continue_to: &'a str,
    devices: Vec<DeviceLine>,
    sessions: Vec<SessionLine>,
    activity: Vec<ActivityLine>,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

struct SessionLine {
    id: String,
    browser: String,
    address: String,
    signed_in_at: String,
    current: bool,
}

/// Where the review leads when the sign-in was going to `return_to`, as a path for the
/// review's own address.
pub(crate) fn review_path(return_to: Option<&str>) -> String {
    match return_to.and_then(ReturnTo::parse) {
        Some(to) => match serde_urlencoded::to_string([("return_to", to.as_str())]) {
            Ok(query) => format!("/sign-in/review?{query}"),
            Err(_) => "/sign-in/review".into(),
        },
        None => "/sign-in/review".into(),
    }
}

/// Messages chosen by a fixed key in the URL, never reflected from it.
fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "device-revoked" => Some("That device will be asked for a code next time."),
        "session-revoked" => Some("That session was signed out."),
        _ => None,
    }
}

#[derive(Deserialize, Default)]
pub struct ReviewQuery {
    return_to: Option<String>,
    notice: Option<String>,
}

async fn review_page(
    page: &PageRequest,
    session: &SignedIn,
    return_to: Option<&str>,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let return_to = return_to.and_then(ReturnTo::parse);
    let continue_to = return_to
        .as_ref()
        .map_or("/account", |to| to.as_str())
        .to_string();
    let overview = match page.app().backup_code_review(session).await {
        Ok(Some(overview)) => overview,
        Ok(None) => return see_other(&continue_to),
        Err(error) => return app_error(error),
    };
    let devices = device_lines(&overview.devices);
    let sessions = overview
        .sessions
        .iter()
        .map(|s| SessionLine {
            id: s.id.clone(),
            browser: s.browser.clone(),
            address: s.address.clone().unwrap_or_default(),
            signed_in_at: format_utc(s.signed_in_at),
            current: s.current,
        })
        .collect();
    let activity = activity_lines(&overview.activity);
    render(
        status,
        &ReviewPage {
            csrf: page.csrf(),
            email: &overview.session.email,
            return_to: return_to.as_ref().map_or("", |to| to.as_str()),
            continue_to: &continue_to,
            devices,
            sessions,
            activity,
            notice,
            error,
        },
    )
}

pub async fn get_review(
    page: PageRequest,
    Query(query): Query<ReviewQuery>,
    SignedInSession(session): SignedInSession,
) -> Response {
    let notice = notice_text(query.notice.as_deref());
    let return_to = query.return_to.as_deref();
    review_page(&page, &session, return_to, StatusCode::OK, notice, None).await
}

/// The review again after a revoke, with its notice, still going where it went.
fn back_to_review(return_to: &str, notice: &str) -> Response {
    let path = review_path(Some(return_to).filter(|r| !r.is_empty()));
    let joiner = if path.contains('?') { '&' } else { '?' };
    see_other(&format!("{path}{joiner}notice={notice}"))
}

#[derive(Deserialize)]
pub struct RevokeDeviceForm {
    device_id: String,
    #[serde(default)]
    return_to: String,
}

/// S29, S34: one trusted device, as on the account page.
pub async fn post_revoke_device(
    page: PageRequest,
    RecentSession(session): RecentSession,
    CsrfForm(form): CsrfForm<RevokeDeviceForm>,
) -> Response {
    let result = page
        .app()
        .revoke_devices(&session, Some(&form.device_id), &page.client)
        .await;
    let done = result.map(|()| back_to_review(&form.return_to, "device-revoked"));
    answer(done, self_service_failure, async |status, message| {
        let return_to = Some(form.return_to.as_str()).filter(|r| !r.is_empty());
        review_page(&page, &session, return_to, status, None, Some(message)).await
    })
    .await
}

#[derive(Deserialize)]
pub struct RevokeSessionForm {
    session_id: String,
    #[serde(default)]
    return_to: String,
}

/// S33: one other session of the account.
pub async fn post_revoke_session(
    page: PageRequest,
    SignedInSession(session): SignedInSession,
    CsrfForm(form): CsrfForm<RevokeSessionForm>,
) -> Response {
    let result = page
        .app()
        .end_one_session(&session, &form.session_id, &page.client)
        .await;
    let done = result.map(|()| back_to_review(&form.return_to, "session-revoked"));
    answer(done, self_service_failure, async |status, message| {
        let return_to = Some(form.return_to.as_str()).filter(|r| !r.is_empty());
        review_page(&page, &session, return_to, status, None, Some(message)).await
    })
    .await
}
