//! Passkeys (S58) on the account page: "Add a passkey", renaming one and "Remove"; and the
//! options both ceremonies start with. The ceremonies themselves run in the browser
//! (`static/passkeys.js`, the only script that needs to): it asks an `…/options` endpoint
//! (a POST with the CSRF token, answered with JSON), runs `navigator.credentials`, puts the
//! answer in the form's hidden `credential` field and posts the form as any other.

use super::{or_failure, PageRequest};
use crate::csrf::CsrfForm;
use crate::error::{passkey_failure, see_other};
use crate::session::{RecentSession, SignedInSession};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use gatehouse_app::passkeys::PasskeyChallenge;
use serde::Deserialize;

use super::EmptyForm;

/// A ceremony's start for the script: the handle to post back and the options for
/// `navigator.credentials`. The handle is a base64url token, safe in a JSON string.
pub(crate) fn challenge_json(challenge: &PasskeyChallenge) -> Response {
    let body = format!(
        "{{\"ceremony\":\"{}\",\"options\":{}}}",
        challenge.handle, challenge.options_json
    );
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}

/// "Add a passkey", first half: the options for `navigator.credentials.create` (S34: a
/// recent sign-in; an older one is sent to sign in again).
pub async fn post_enrolment_options(
    action: PageRequest,
    RecentSession(session): RecentSession,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    let result = action.app().start_passkey_enrolment(&session).await;
    or_failure(result.map(|c| challenge_json(&c)), passkey_failure)
}

#[derive(Deserialize)]
pub struct CeremonyForm {
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    credential: String,
}

/// "Add a passkey", second half: the browser's new credential.
pub async fn post_enrolment(
    action: PageRequest,
    RecentSession(session): RecentSession,
    CsrfForm(form): CsrfForm<CeremonyForm>,
) -> Response {
    let result = action
        .app()
        .finish_passkey_enrolment(&session, &form.ceremony, &form.credential, &action.client)
        .await;
    let done = result.map(|()| see_other("/account?notice=passkey-added"));
    action
        .on_account_page(&session, done, passkey_failure)
        .await
}

#[derive(Deserialize)]
pub struct RenameForm {
    passkey_id: String,
    name: String,
}

/// Renames a passkey: only its label on this page changes.
pub async fn post_rename(
    action: PageRequest,
    SignedInSession(session): SignedInSession,
    CsrfForm(form): CsrfForm<RenameForm>,
) -> Response {
    let result = action
        .app()
        .rename_passkey(&session, &form.passkey_id, &form.name)
        .await;
    let done = result.map(|()| see_other("/account?notice=passkey-renamed"));
    action
        .on_account_page(&session, done, passkey_failure)
        .await
}

#[derive(Deserialize)]
pub struct RemoveForm {
    passkey_id: String,
}

/// "Remove" (S34: a recent sign-in).
pub async fn post_remove(
    action: PageRequest,
    RecentSession(session): RecentSession,
    CsrfForm(form): CsrfForm<RemoveForm>,
) -> Response {
    let result = action
        .app()
        .remove_passkey(&session, &form.passkey_id, &action.client)
        .await;
    let done = result.map(|()| see_other("/account?notice=passkey-removed"));
    action
        .on_account_page(&session, done, passkey_failure)
        .await
}

/// "Sign in with a passkey", first half, on the e-mail and password pages: the options for
/// `navigator.credentials.get` (a discoverable credential; no session needed).
pub async fn post_sign_in_options(
    action: PageRequest,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Response {
    let result = action.app().start_passkey_sign_in(&action.client).await;
    or_failure(result.map(|c| challenge_json(&c)), passkey_failure)
}
