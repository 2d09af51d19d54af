//! The OpenID Connect and OAuth endpoints products call directly: discovery, JWKS, token,
//! userinfo, revocation, introspection. JSON in RFC 6749 §5.2's error shape, never an HTML
//! page, and `Cache-Control: no-store` on every token response (S45).
//!
//! None of them reads a cookie: they are authenticated by client credentials or bearer
//! tokens only, so cross-origin reads (`Access-Control-Allow-Origin: *`, no credentials) are
//! safe and let single-page apps use them.

use crate::client::Client;
use crate::error::{protocol_error, token_error};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gatehouse_app::oidc::tokens::{ClientCredentials, Introspection, TokenError, TokenRequest};
use serde_json::json;
use std::collections::HashMap;

/// Answers CORS preflights and allows any origin to read (no cookies are involved).
pub async fn cors(request: Request, next: Next) -> Response {
    let mut response = if request.method() == Method::OPTIONS {
        let mut preflight = StatusCode::NO_CONTENT.into_response();
        let headers = preflight.headers_mut();
        headers.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        headers.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        preflight
    } else {
        next.run(request).await
    };
    response
        .headers_mut()
        .insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

pub async fn discovery(State(state): State<AppState>) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        state.discovery.clone(),
    )
        .into_response()
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    match state.app.jwks_body().await {
        Ok(body) => (
            [
                (CONTENT_TYPE, HeaderValue::from_static("application/json")),
                // Short: a rotated key must reach products well within a token's lifetime.
                (
                    CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=60"),
                ),
            ],
            body,
        )
            .into_response(),
        Err(error) => protocol_error(error),
    }
}

/// An `application/x-www-form-urlencoded` body as single-valued parameters (RFC 6749
/// §3.2: repeated parameters are an error).
fn form(headers: &HeaderMap, body: &Bytes) -> Result<HashMap<String, String>, TokenError> {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !is_form {
        return Err(TokenError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    single_valued(body).ok_or(TokenError::InvalidRequest(
        "the body is not a valid form, or a parameter was repeated",
    ))
}

/// Form-encoded parameters, each at most once (RFC 6749 §3.1, §3.2: a repeated parameter is
/// an error, and we will not guess which one counts).
pub(crate) fn single_valued(encoded: &[u8]) -> Option<HashMap<String, String>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(encoded).ok()?;
    let mut map = HashMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        if map.insert(name, value).is_some() {
            return None;
        }
    }
    Some(map)
}

/// RFC 6749 §2.3.1: HTTP Basic (each part form-encoded) or the body, never both.
fn credentials(
    headers: &HeaderMap,
    form: &mut HashMap<String, String>,
) -> Result<ClientCredentials, TokenError> {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    let body_id = form.remove("client_id");
    let body_secret = form.remove("client_secret");
    let Some(encoded) = basic else {
        return Ok(ClientCredentials {
            client_id: body_id,
            secret: body_secret,
            basic: false,
        });
    };
    let invalid = TokenError::InvalidClient { basic: true };
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| invalid)?;
    let text = String::from_utf8(decoded).map_err(|_| TokenError::InvalidClient { basic: true })?;
    let (id, secret) = text
        .split_once(':')
        .ok_or(TokenError::InvalidClient { basic: true })?;
    let unescape = |part: &str| -> Result<String, TokenError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={part}"))
            .map_err(|_| TokenError::InvalidClient { basic: true })?;
        Ok(pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default())
    };
    let (id, secret) = (unescape(id)?, unescape(secret)?);
    if body_secret.is_some() || body_id.as_deref().is_some_and(|b| b != id) {
        return Err(TokenError::InvalidRequest(
            "use one client authentication method",
        ));
    }
    Ok(ClientCredentials {
        client_id: Some(id),
        secret: Some(secret).filter(|s| !s.is_empty()),
        basic: true,
    })
}

/// `POST /oauth2/token`.
pub async fn token(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let mut form = form(&headers, &body)?;
        let credentials = credentials(&headers, &mut form)?;
        let request = TokenRequest {
            grant_type: form.remove("grant_type"),
            code: form.remove("code"),
            redirect_uri: form.remove("redirect_uri"),
            code_verifier: form.remove("code_verifier"),
            refresh_token: form.remove("refresh_token"),
            scope: form.remove("scope"),
        };
        state.app.token(&credentials, &request, &client).await
    }
    .await;
    no_store(match result {
        Ok(issued) => {
            let mut body = json!({
                "access_token": issued.access_token.as_str(),
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
                "id_token": issued.id_token,
                "scope": issued.scope,
            });
            if let (Some(refresh), Some(fields)) = (&issued.refresh_token, body.as_object_mut()) {
                fields.insert("refresh_token".into(), refresh.as_str().into());
            }
            Json(body).into_response()
        }
        Err(error) => token_error(error),
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// `GET|POST /oauth2/userinfo` (RFC 6750 §3 for the error).
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers) else {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return no_store(response);
    };
    no_store(match state.app.userinfo(token).await {
        Ok(Some(claims)) => Json(claims).into_response(),
        Ok(None) => {
            let mut response = (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "invalid_token", "error_description": "the access token is not valid"})),
            )
                .into_response();
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            response
        }
        Err(error) => protocol_error(error),
    })
}

/// The client's credentials and the `token` parameter of revocation and introspection.
fn token_parameter(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(ClientCredentials, String), TokenError> {
    let mut form = form(headers, body)?;
    let credentials = credentials(headers, &mut form)?;
    let token = form
        .remove("token")
        .ok_or(TokenError::InvalidRequest("token is required"))?;
    Ok((credentials, token))
}

/// `POST /oauth2/revoke` (RFC 7009): 200 whether or not the token was known.
pub async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let (credentials, token) = token_parameter(&headers, &body)?;
        state.app.revoke_token(&credentials, &token).await
    }
    .await;
    no_store(match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => token_error(error),
    })
}

/// `POST /oauth2/introspect` (RFC 7662).
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let (credentials, token) = token_parameter(&headers, &body)?;
        state.app.introspect(&credentials, &token).await
    }
    .await;
    no_store(match result {
        Ok(Introspection::Inactive) => Json(json!({ "active": false })).into_response(),
        Ok(Introspection::Active {
            scope,
            client_id,
            sub,
            exp,
            iat,
            token_type,
        }) => Json(json!({
            "active": true,
            "scope": scope,
            "client_id": client_id,
            "sub": sub,
            "exp": exp,
            "iat": iat,
            "token_type": token_type,
            "iss": state.app.issuer(),
        }))
        .into_response(),
        Err(error) => token_error(error),
    })
}
