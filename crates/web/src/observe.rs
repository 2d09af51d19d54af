//! What operators see of each request: its `X-Request-Id` (on the response, and in the
//! extensions for the `Client` extractor, so the audit events of the request carry it), a
//! tracing span holding the id around everything the request logs, one log line when it is
//! answered (route, status, latency), and its metrics.
//!
//! The outermost layer, so that every answer, a 404 or a refused form included, is seen.
//! It reads the matched route's template, never the path, and logs nothing a person typed.

use crate::metrics::{request_finished, UNMATCHED};
use crate::request_id::{RequestId, X_REQUEST_ID};
use crate::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;
use std::time::Instant;
use tracing::Instrument;

pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_string();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    let id = RequestId::for_request(peer, request.headers(), &state.trusted_proxies);
    request.extensions_mut().insert(id.clone());
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span).await;
    let status = response.status();
    let latency = started.elapsed();
    request_finished(&route, status, latency);
    tracing::info!(
        request_id = %id,
        route = %route,
        status = status.as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request"
    );
    // Always valid: a proxy's id passed `is_sane`, a generated one is hex.
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    response
}
