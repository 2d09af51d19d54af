//! Who is asking: the peer address and the browser's name, for limits and the audit log.
//! The address is the TCP peer; `X-Forwarded-For` is not believed (S50) until trusted
//! proxies can be configured.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use gatehouse_app::ClientInfo;
use std::convert::Infallible;
use std::net::SocketAddr;

/// Enough of a user agent to tell browsers apart in a log; no more.
const MAX_USER_AGENT: usize = 256;

pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect());
        Ok(Self(ClientInfo {
            address,
            user_agent,
        }))
    }
}
