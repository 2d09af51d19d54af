//! "Wasn't you? Stop this sign-in." (S59): the link's page shows one button, "Stop this
//! sign-in", and changes nothing (mail scanners open links); the button's POST ends the
//! sign-in, and the page after it says someone knows the password, with "Change your
//! password" and the recent activity. A link that cannot stop anything says why on the same
//! page, with the same two ways on.

use super::{answer, render, PageRequest};
use crate::csrf::CsrfForm;
use crate::error::{see_other, stop_failure};
use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "stop_sign_in.html")]
struct StopPage<'a> {
    csrf: &'a str,
    token: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "sign_in_stopped.html")]
struct StoppedPage;

#[derive(Deserialize, Default)]
pub struct StopQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct StopForm {
    token: String,
}

fn refused(page: &PageRequest, status: StatusCode, message: &str) -> Response {
    let page = StopPage {
        csrf: page.csrf(),
        token: "",
        error: Some(message),
    };
    render(status, &page)
}

/// The link: the button, or why there is nothing to stop. Changes nothing.
pub async fn get_stop(page: PageRequest, Query(query): Query<StopQuery>) -> Response {
    let result = page.app().stop_link_state(&query.token).await;
    let shown = result.map(|()| {
        let form = StopPage {
            csrf: page.csrf(),
            token: &query.token,
            error: None,
        };
        render(StatusCode::OK, &form)
    });
    answer(shown, stop_failure, async |status, message| {
        refused(&page, status, message)
    })
    .await
}

/// "Stop this sign-in".
pub async fn post_stop(page: PageRequest, CsrfForm(form): CsrfForm<StopForm>) -> Response {
    let result = page.app().stop_sign_in(&form.token, &page.client).await;
    let done = result.map(|()| see_other("/sign-in/stopped"));
    answer(done, stop_failure, async |status, message| {
        refused(&page, status, message)
    })
    .await
}

pub async fn get_stopped() -> Response {
    render(StatusCode::OK, &StoppedPage)
}
