//! HTTP for the product: the routes' handlers, cookies, the pages (one askama template per
//! page, escaped by askama) and the one place where a failure becomes a status. Handlers
//! read the request, call one `Product` method and map its outcome; they decide nothing
//! about OpenID Connect.

use crate::product::{Callback, Failure, Now, Product};
use askama::Template;
use axum::extract::{RawQuery, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{AppendHeaders, Html, IntoResponse, Redirect, Response};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Names the pending sign-in of this browser.
pub const LOGIN_COOKIE: &str = "demo_product_login";
/// Names the product session of this browser.
pub const SESSION_COOKIE: &str = "demo_product_session";

/// Nothing from elsewhere, no scripts, never in a frame. There is no `form-action`: the
/// sign-in and sign-out forms answer with a redirect to Gatehouse, another origin.
const CSP: &str = "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("../static/demo.css");

/// What the handlers share.
pub struct Site {
    pub product: Product,
    /// This product's origin (`scheme://host[:port]`), for the cross-site check.
    pub origin: String,
    /// Served over HTTPS, so cookies are `Secure`.
    pub secure: bool,
}

pub type SiteState = State<Arc<Site>>;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    name: &'a str,
}

#[derive(Template)]
#[template(path = "work.html")]
struct WorkPage<'a> {
    name: &'a str,
    email: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    name: &'a str,
    heading: &'a str,
    message: &'a str,
    error: Option<&'a str>,
    description: Option<&'a str>,
}

fn now() -> Now {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Now {
        instant: Instant::now(),
        unix,
    }
}

/// Renders a page; a template error is ours, logged, and shown as a plain 500.
fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "demo product template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong in the demo product.",
            )
                .into_response()
        }
    }
}

/// The value of cookie `name` in a request.
fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// A `Set-Cookie` value: HttpOnly and SameSite=Lax always, so scripts cannot read it and
/// other sites' POSTs do not carry it; `max_age` of `None` is a browser-session cookie.
fn set_cookie(site: &Site, name: &str, value: &str, max_age: Option<u64>) -> String {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(seconds) = max_age {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    if site.secure {
        cookie.push_str("; Secure");
    }
    cookie
}

fn clear_cookie(site: &Site, name: &str) -> String {
    set_cookie(site, name, "", Some(0))
}

/// A POST another site made this browser send: `Sec-Fetch-Site: cross-site`, or an
/// `Origin` that is neither this product's public origin nor the host it was reached at.
/// Requests without `Origin` (tools, old browsers) pass; SameSite=Lax keeps the session
/// cookie off their cross-site POSTs anyway.
fn cross_site(headers: &HeaderMap, origin: &str) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return true;
    }
    let Some(sent) = headers.get(ORIGIN) else {
        return false;
    };
    let Ok(sent) = sent.to_str() else {
        return true;
    };
    if sent == origin {
        return false;
    }
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    !matches!((sent.split_once("://"), host), (Some((_, authority)), Some(host)) if authority == host)
}

/// The one place where failures become statuses and pages; every variant is named.
fn failure_page(site: &Site, failure: &Failure) -> Response {
    let name = site.product.settings.name.as_str();
    let did_not_complete = "Sign-in did not complete";
    let (status, heading, message, error, description): (_, _, _, Option<&str>, Option<String>) =
        match failure {
            Failure::NotStartedHere => (
                StatusCode::BAD_REQUEST,
                "This sign-in did not start here",
                "This answer from Gatehouse does not belong to a sign-in started in this \
                 browser, or the sign-in took more than 10 minutes. Start again.",
                None,
                None,
            ),
            Failure::Denied { error, description } => (
                StatusCode::BAD_REQUEST,
                did_not_complete,
                "Gatehouse ended the sign-in and sent back this error.",
                Some(error.as_str()),
                description.clone(),
            ),
            Failure::Unreachable(_) => (
                StatusCode::BAD_GATEWAY,
                "Gatehouse could not be reached",
                "The product could not reach Gatehouse to complete this step. Try again in a \
                 moment.",
                Some("temporarily_unavailable"),
                None,
            ),
            Failure::TokenRefused { error, description } => (
                StatusCode::BAD_GATEWAY,
                did_not_complete,
                "Gatehouse refused to complete the sign-in.",
                Some(error.as_str()),
                description.clone(),
            ),
            Failure::BadAnswer(detail) => (
                StatusCode::BAD_GATEWAY,
                did_not_complete,
                "Gatehouse answered in a way this product did not expect.",
                Some("invalid_response"),
                Some(detail.clone()),
            ),
            Failure::BadIdToken(why) => (
                StatusCode::BAD_GATEWAY,
                did_not_complete,
                "The ID token Gatehouse sent did not pass this product's checks.",
                Some("invalid_id_token"),
                Some(why.to_string()),
            ),
        };
    tracing::warn!(error = %failure, "demo product: sign-in step failed");
    render(
        status,
        &ErrorPage {
            name,
            heading,
            message,
            error,
            description: description.as_deref(),
        },
    )
}

/// Adds security headers to every response, and `no-store` unless a handler chose.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: the latter would make browsers send `Origin: null`
    // on this product's own forms, which the cross-site check refuses.
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

pub async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// `GET /`: the welcome page, or the work page for a signed-in person.
pub async fn home(State(site): SiteState, headers: HeaderMap) -> Response {
    let name = site.product.settings.name.as_str();
    let cookie = read_cookie(&headers, SESSION_COOKIE);
    match site.product.session(cookie.as_deref(), now()) {
        Some(session) => render(
            StatusCode::OK,
            &WorkPage {
                name,
                email: &session.email,
            },
        ),
        None => render(StatusCode::OK, &HomePage { name }),
    }
}

/// `GET` or `POST /login`: starts a sign-in and sends the browser to Gatehouse.
pub async fn login(State(site): SiteState) -> Response {
    match site.product.start_login(now()).await {
        Ok(started) => {
            let max_age = crate::product::LOGIN_MAX_AGE.as_secs();
            (
                AppendHeaders([(
                    SET_COOKIE,
                    set_cookie(&site, LOGIN_COOKIE, &started.cookie, Some(max_age)),
                )]),
                Redirect::to(&started.location),
            )
                .into_response()
        }
        Err(failure) => failure_page(&site, &failure),
    }
}

/// `GET /callback`: Gatehouse's answer. Success starts a product session.
pub async fn callback(
    State(site): SiteState,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let login = read_cookie(&headers, LOGIN_COOKIE);
    let callback = parse_callback(query.as_deref().unwrap_or_default());
    match site
        .product
        .finish_login(login.as_deref(), callback, now())
        .await
    {
        Ok(session) => (
            AppendHeaders([
                (SET_COOKIE, clear_cookie(&site, LOGIN_COOKIE)),
                (
                    SET_COOKIE,
                    set_cookie(&site, SESSION_COOKIE, &session, None),
                ),
            ]),
            Redirect::to("/"),
        )
            .into_response(),
        // The browser's own pending sign-in, if any, is still good: keep its cookie.
        Err(failure @ Failure::NotStartedHere) => failure_page(&site, &failure),
        Err(failure) => (
            AppendHeaders([(SET_COOKIE, clear_cookie(&site, LOGIN_COOKIE))]),
            failure_page(&site, &failure),
        )
            .into_response(),
    }
}

/// Reads the authorization response; a repeated parameter counts once, the first time.
fn parse_callback(query: &str) -> Callback {
    let mut callback = Callback::default();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match key.as_ref() {
            "code" => &mut callback.code,
            "state" => &mut callback.state,
            "iss" => &mut callback.iss,
            "error" => &mut callback.error,
            "error_description" => &mut callback.error_description,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value.into_owned());
        }
    }
    callback
}

/// `POST /logout`: ends the product session, then the Gatehouse session.
pub async fn logout(State(site): SiteState, headers: HeaderMap) -> Response {
    if cross_site(&headers, &site.origin) {
        return render(
            StatusCode::FORBIDDEN,
            &ErrorPage {
                name: &site.product.settings.name,
                heading: "This form came from another site",
                message: "The sign-out was sent from another site and was refused.",
                error: None,
                description: None,
            },
        );
    }
    let cookie = read_cookie(&headers, SESSION_COOKIE);
    let outcome = site.product.sign_out(cookie.as_deref(), now()).await;
    let clear = AppendHeaders([(SET_COOKIE, clear_cookie(&site, SESSION_COOKIE))]);
    match outcome {
        Ok(Some(end_session)) => (clear, Redirect::to(&end_session)).into_response(),
        Ok(None) => (clear, Redirect::to("/")).into_response(),
        Err(failure) => (clear, failure_page(&site, &failure)).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    const ORIGIN_URL: &str = "http://127.0.0.1:8081";

    #[test]
    fn own_and_absent_origins_pass_the_cross_site_check() {
        assert!(!cross_site(&headers(&[]), ORIGIN_URL));
        assert!(!cross_site(&headers(&[("origin", ORIGIN_URL)]), ORIGIN_URL));
        assert!(!cross_site(
            &headers(&[
                ("origin", "http://localhost:8081"),
                ("host", "localhost:8081")
            ]),
            ORIGIN_URL
        ));
    }

    #[test]
    fn other_origins_fail_the_cross_site_check() {
        assert!(cross_site(
            &headers(&[
                ("origin", "http://127.0.0.1:8080"),
                ("host", "127.0.0.1:8081")
            ]),
            ORIGIN_URL
        ));
        assert!(cross_site(&headers(&[("origin", "null")]), ORIGIN_URL));
        assert!(cross_site(
            &headers(&[("sec-fetch-site", "cross-site")]),
            ORIGIN_URL
        ));
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let map = headers(&[(
            "cookie",
            "gatehouse_session=x; demo_product_session_old=y; demo_product_session=z",
        )]);
        assert_eq!(read_cookie(&map, SESSION_COOKIE).as_deref(), Some("z"));
        assert_eq!(read_cookie(&map, LOGIN_COOKIE), None);
    }

    #[test]
    fn the_callback_query_is_decoded_and_first_values_win() {
        let callback = parse_callback(
            "code=abc&state=s%2B1&iss=http%3A%2F%2F127.0.0.1%3A8080&state=other&extra=1",
        );
        assert_eq!(callback.code.as_deref(), Some("abc"));
        assert_eq!(callback.state.as_deref(), Some("s+1"));
        assert_eq!(callback.iss.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(callback.error, None);
    }

    #[test]
    fn the_work_page_escapes_what_it_shows() {
        let html = WorkPage {
            name: "Demo <product>",
            email: "<script>alert(1)</script>@example.com",
        }
        .render()
        .unwrap();
        assert!(html.contains("You are now signed in to Demo &#60;product&#62; and ready to work"));
        assert!(html.contains(
            "<strong id=\"email\">&#60;script&#62;alert(1)&#60;/script&#62;@example.com</strong>"
        ));
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn the_home_page_has_title_heading_and_sign_in_button() {
        let html = HomePage {
            name: "Demo product",
        }
        .render()
        .unwrap();
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("<title>Demo product</title>"));
        assert!(html.contains("<h1>Demo product</h1>"));
        assert!(html.contains("<main"));
        assert!(html.contains(">Sign in with Gatehouse</button>"));
    }
}
