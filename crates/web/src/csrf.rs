//! CSRF protection for every POST, the sign-in forms included (S35).
//!
//! Two independent checks: a cross-site `Origin` (or `Sec-Fetch-Site: cross-site`) is
//! refused outright, and the form must carry a `csrf` field equal to this browser's CSRF
//! cookie (the double-submit pattern; the cookie is HttpOnly and SameSite=Lax, so another
//! site can neither read it nor send it along with a cross-site POST).

use crate::cookies::CookieName;
use crate::error::Rejection;
use crate::AppState;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{HOST, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

/// This browser's CSRF token, for the forms a page renders.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

fn generate() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Gives every browser a CSRF cookie on its first request and hands the token to handlers.
pub async fn ensure_cookie(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let existing = state
        .cookies
        .read(request.headers(), CookieName::Csrf)
        .filter(|t| t.len() == 43);
    let (token, fresh) = match existing {
        Some(token) => (token, false),
        None => (generate(), true),
    };
    request.extensions_mut().insert(CsrfToken(token.clone()));
    let mut response = next.run(request).await;
    if fresh {
        if let Ok(value) = HeaderValue::from_str(&state.cookies.set(CookieName::Csrf, &token, None))
        {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// A form body that passed both CSRF checks, deserialised into `T`.
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Rejection;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if is_cross_site(request.headers(), state.public_origin.as_deref()) {
            return Err(Rejection::CrossSite);
        }
        let token = request
            .extensions()
            .get::<CsrfToken>()
            .map(|t| t.0.clone())
            .ok_or(Rejection::CsrfMismatch)?;
        let body = bytes::Bytes::from_request(request, state)
            .await
            .map_err(|refused| {
                if refused.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Rejection::TooLarge
                } else {
                    Rejection::BadForm
                }
            })?;
        let fields: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&body).map_err(|_| Rejection::BadForm)?;
        let presented = fields
            .iter()
            .find(|(name, _)| name == "csrf")
            .map(|(_, value)| value.as_bytes())
            .unwrap_or_default();
        if !bool::from(presented.ct_eq(token.as_bytes())) {
            return Err(Rejection::CsrfMismatch);
        }
        let form = serde_urlencoded::from_bytes(&body).map_err(|_| Rejection::BadForm)?;
        Ok(Self(form))
    }
}

/// True when the browser says the request comes from another site.
///
/// Browsers that send `Sec-Fetch-Site` are believed: only `same-origin` (and `none`, a
/// request the person started themselves) pass; `same-site` is refused too, since a sibling
/// subdomain is not us. Without it, a present `Origin` must be the configured public origin
/// (scheme included) or, when none is configured, name the `Host` asked for. `Origin: null`
/// passes on to the token check: Chromium sends it for same-origin posts from pages with
/// `Referrer-Policy: no-referrer` (S36), and a cross-site attacker still cannot know the
/// token.
fn is_cross_site(headers: &HeaderMap, public_origin: Option<&str>) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Old browsers and non-browser clients send no Origin; the token check still holds.
        return false;
    };
    if origin == "null" {
        return false;
    }
    if let Some(public) = public_origin {
        return !origin.eq_ignore_ascii_case(public);
    }
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or("");
    origin_host.is_empty() || !origin_host.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn same_origin_posts_pass_and_cross_site_ones_do_not() {
        let pass = [
            headers(&[("host", "id.example"), ("origin", "https://id.example")]),
            headers(&[("host", "id.example")]),
            // Chromium, same-origin form, Referrer-Policy: no-referrer.
            headers(&[
                ("host", "id.example"),
                ("origin", "null"),
                ("sec-fetch-site", "same-origin"),
            ]),
            headers(&[("host", "id.example"), ("origin", "null")]),
        ];
        for h in &pass {
            assert!(!is_cross_site(h, None), "{h:?}");
        }
        let refuse = [
            headers(&[("host", "id.example"), ("origin", "https://evil.example")]),
            headers(&[("host", "id.example"), ("sec-fetch-site", "cross-site")]),
            headers(&[
                ("host", "id.example"),
                ("origin", "null"),
                ("sec-fetch-site", "cross-site"),
            ]),
            headers(&[("host", "id.example"), ("sec-fetch-site", "same-site")]),
        ];
        for h in &refuse {
            assert!(is_cross_site(h, None), "{h:?}");
        }
    }

    #[test]
    fn behind_a_proxy_the_configured_origin_decides_scheme_included() {
        let public = Some("https://id.example");
        let proxied = headers(&[("host", "backend:8080"), ("origin", "https://id.example")]);
        assert!(!is_cross_site(&proxied, public));
        let downgraded = headers(&[("host", "id.example"), ("origin", "http://id.example")]);
        assert!(is_cross_site(&downgraded, public));
    }
}
