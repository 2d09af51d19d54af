//! The pages of the OpenID Connect provider: the authorization endpoint and its
//! continuation after the sign-in, the consent page for third-party products, and the
//! sign-out confirmation of RP-initiated logout.
//!
//! A redirect to a product that follows a form goes through the "Returning you to …" page:
//! browsers apply the form page's CSP `form-action 'self'` to every hop of a form's redirect
//! chain, so a 303 that ends on a product's origin would be blocked.

use super::render;
use crate::client::Client;
use crate::cookies::CookieName;
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{app_error, logout_refused, see_other, unanswerable, Rejection};
use crate::protocol::single_valued;
use crate::AppState;
use askama::Template;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use gatehouse_app::oidc::authorize::{AuthorizationParams, AuthorizeOutcome};
use gatehouse_app::oidc::logout::{LogoutOutcome, LogoutParams};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "oidc_returning.html")]
struct ReturningPage<'a> {
    client_name: &'a str,
    lead: &'a str,
    location: &'a str,
}

#[derive(Template)]
#[template(path = "oidc_consent.html")]
struct ConsentPage<'a> {
    csrf: &'a str,
    handle: &'a str,
    client_name: &'a str,
    scopes: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "oidc_logout.html")]
struct LogoutPage<'a> {
    csrf: &'a str,
    client_name: Option<&'a str>,
    id_token_hint: &'a str,
    post_logout_redirect_uri: &'a str,
    state: &'a str,
    client_id: &'a str,
    /// Declining leaves the Gatehouse session alone and goes where the product asked.
    stay_href: &'a str,
}

/// What a scope means, in the words the consent page uses.
fn describe_scope(scope: &str) -> Option<&'static str> {
    match scope {
        "openid" => Some("Who you are on this Gatehouse (an identifier that never changes)"),
        "email" => Some("Your email address"),
        "profile" => Some("Your basic profile"),
        "offline_access" => Some("To keep you signed in while you are away"),
        _ => None,
    }
}

/// The session cookie, if any: the use cases here answer without one too.
fn session_cookie(state: &AppState, headers: &HeaderMap) -> Option<String> {
    state
        .cookies
        .read(headers, CookieName::Session)
        .filter(|c| !c.is_empty())
}

/// How an outcome reaches the browser. `after_form` routes a product redirect through the
/// "Returning you to …" page.
fn respond(outcome: AuthorizeOutcome, after_form: bool, csrf: &str) -> Response {
    match outcome {
        AuthorizeOutcome::Refused(reason) => unanswerable(reason),
        AuthorizeOutcome::ToClient {
            location,
            client_name,
        } if after_form => render(
            StatusCode::OK,
            &ReturningPage {
                client_name: &client_name,
                lead: "You're signed in. Taking you back now.",
                location: &location,
            },
        ),
        AuthorizeOutcome::ToClient { location, .. } => see_other(&location),
        AuthorizeOutcome::SignIn {
            continue_path,
            login_hint,
        } => {
            let mut pairs = vec![("return_to", continue_path.as_str())];
            if let Some(hint) = login_hint.as_deref() {
                pairs.push(("login_hint", hint));
            }
            let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            see_other(&format!("/sign-in?{query}"))
        }
        AuthorizeOutcome::Consent {
            handle,
            client_name,
            scopes,
        } => render(
            StatusCode::OK,
            &ConsentPage {
                csrf,
                handle: &handle,
                client_name: &client_name,
                scopes: scopes.iter().filter_map(|s| describe_scope(s)).collect(),
            },
        ),
    }
}

/// `GET /oauth2/authorize`.
pub async fn get_authorize(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(mut query) = single_valued(query.unwrap_or_default().as_bytes()) else {
        return Rejection::RepeatedParameter.into_response();
    };
    let params = AuthorizationParams {
        response_type: query.remove("response_type"),
        client_id: query.remove("client_id"),
        redirect_uri: query.remove("redirect_uri"),
        scope: query.remove("scope"),
        state: query.remove("state"),
        nonce: query.remove("nonce"),
        code_challenge: query.remove("code_challenge"),
        code_challenge_method: query.remove("code_challenge_method"),
        prompt: query.remove("prompt"),
        max_age: query.remove("max_age"),
        login_hint: query.remove("login_hint"),
        request: query
            .remove("request")
            .or_else(|| query.remove("request_uri")),
        response_mode: query.remove("response_mode"),
    };
    let session = session_cookie(&state, &headers);
    match state
        .app
        .authorize(params, session.as_deref(), &client)
        .await
    {
        Ok(outcome) => respond(outcome, false, &csrf.0),
        Err(error) => app_error(error),
    }
}

/// `POST /oauth2/authorize`: OpenID Connect Core §3.1.2.1 has the endpoint take POST as well
/// as GET (mod_auth_openidc's `OIDCProviderAuthRequestMethod POST` sends a self-submitting
/// form). The form becomes the query of a 303 to `GET /oauth2/authorize`, so one handler reads
/// every request, and the browser's next request, a top-level GET, carries the SameSite=Lax
/// session cookie that a cross-site POST never does: a live session is seen, `prompt=none`
/// works. Nothing changes here, so no CSRF token is asked (S35 is about state changes).
pub async fn post_authorize(body: bytes::Bytes) -> Response {
    let Ok(fields) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return Rejection::BadForm.into_response();
    };
    // Re-encoded, never copied: the Location holds only what the form decoder understood.
    match serde_urlencoded::to_string(&fields) {
        Ok(query) => see_other(&format!("/oauth2/authorize?{query}")),
        Err(_) => Rejection::BadForm.into_response(),
    }
}

#[derive(Deserialize)]
pub struct ContinueQuery {
    request: Option<String>,
}

/// `GET /oauth2/continue`: where the sign-in returns to.
pub async fn get_continue(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    headers: HeaderMap,
    Query(query): Query<ContinueQuery>,
) -> Response {
    let session = session_cookie(&state, &headers);
    let handle = query.request.unwrap_or_default();
    match state
        .app
        .continue_authorization(&handle, session.as_deref(), &client)
        .await
    {
        Ok(outcome) => respond(outcome, true, &csrf.0),
        Err(error) => app_error(error),
    }
}

#[derive(Deserialize)]
pub struct ConsentForm {
    request: String,
    decision: String,
}

/// `POST /oauth2/consent`.
pub async fn post_consent(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Client(client): Client,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<ConsentForm>,
) -> Response {
    let session = session_cookie(&state, &headers);
    let allow = form.decision == "allow";
    match state
        .app
        .decide_consent(&form.request, allow, session.as_deref(), &client)
        .await
    {
        Ok(outcome) => respond(outcome, true, &csrf.0),
        Err(error) => app_error(error),
    }
}

#[derive(Deserialize, Default)]
pub struct LogoutQuery {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
}

impl LogoutQuery {
    fn params(&self) -> LogoutParams {
        let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        LogoutParams {
            id_token_hint: given(&self.id_token_hint),
            post_logout_redirect_uri: given(&self.post_logout_redirect_uri),
            state: given(&self.state),
            client_id: given(&self.client_id),
        }
    }
}

/// Where the browser goes after signing out, and the product's name; or the error page.
async fn plan_logout(
    state: &AppState,
    request: &LogoutQuery,
) -> Result<(Option<String>, Option<String>), Response> {
    match state.app.plan_logout(&request.params()).await {
        Ok(LogoutOutcome::Refused(reason)) => Err(logout_refused(reason)),
        Ok(LogoutOutcome::Proceed {
            redirect,
            client_name,
        }) => Ok((redirect, client_name)),
        Err(error) => Err(app_error(error)),
    }
}

/// `GET /oauth2/logout`: with a session, ask first (S35: signing out is a POST); without
/// one, go straight where the product asked.
pub async fn get_logout(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Query(query): Query<LogoutQuery>,
) -> Response {
    let (redirect, client_name) = match plan_logout(&state, &query).await {
        Ok(plan) => plan,
        Err(refusal) => return refusal,
    };
    if !super::signin::has_live_session(&state, &headers).await {
        return see_other(redirect.as_deref().unwrap_or("/sign-in?notice=signed-out"));
    }
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    render(
        StatusCode::OK,
        &LogoutPage {
            csrf: &csrf.0,
            client_name: client_name.as_deref(),
            id_token_hint: &text(&query.id_token_hint),
            post_logout_redirect_uri: &text(&query.post_logout_redirect_uri),
            state: &text(&query.state),
            client_id: &text(&query.client_id),
            stay_href: redirect.as_deref().unwrap_or("/account"),
        },
    )
}

/// `POST /oauth2/logout`: the confirmation. The target is checked again, never trusted
/// from the form.
pub async fn post_logout(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<LogoutQuery>,
) -> Response {
    let (redirect, client_name) = match plan_logout(&state, &form).await {
        Ok(plan) => plan,
        Err(refusal) => return refusal,
    };
    if let Some(cookie) = session_cookie(&state, &headers) {
        if let Err(error) = state.app.sign_out(&cookie, &client).await {
            return app_error(error);
        }
    }
    let clear = state.cookies.clear(CookieName::Session);
    let mut response = match (redirect, client_name) {
        (Some(location), Some(name)) => render(
            StatusCode::OK,
            &ReturningPage {
                client_name: &name,
                lead: "You're signed out. Taking you back now.",
                location: &location,
            },
        ),
        _ => see_other("/sign-in?notice=signed-out"),
    };
    if let Ok(value) = clear.parse() {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, value);
    }
    response.into_response()
}
