//! Who is signed in, as extractors: a handler that needs a session takes `SignedInSession`,
//! one that changes how someone signs in takes `RecentSession` (S34). Without one, the
//! request never reaches the handler: the extractor answers with the one redirect to the
//! sign-in that `error::session_refused` chooses. The freshness rule itself is `app`'s
//! (`FreshSession` can only come from `Gatehouse::fresh_session`); this module only reads
//! the cookie.

use crate::cookies::CookieName;
use crate::error::{app_error, session_refused};
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;
use gatehouse_app::sessions::{FreshSession, SessionRefusal, SignedIn};

/// The session cookie's value, empty when there is none (`app` reads an empty or unknown
/// value as "not signed in").
fn session_cookie(state: &AppState, parts: &Parts) -> String {
    state
        .cookies
        .read(&parts.headers, CookieName::Session)
        .unwrap_or_default()
}

/// A live session.
pub struct SignedInSession(pub SignedIn);

impl FromRequestParts<AppState> for SignedInSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match state.app.find_session(&session_cookie(state, parts)).await {
            Ok(Some(session)) => Ok(Self(session)),
            Ok(None) => Err(session_refused(SessionRefusal::NotSignedIn)),
            Err(error) => Err(app_error(error)),
        }
    }
}

/// A live session that signed in recently enough for a security change (S34).
pub struct RecentSession(pub FreshSession);

impl FromRequestParts<AppState> for RecentSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        state
            .app
            .fresh_session(&session_cookie(state, parts))
            .await
            .map(Self)
            .map_err(session_refused)
    }
}
