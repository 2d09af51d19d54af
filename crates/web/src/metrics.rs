//! Every metric `web` records: the HTTP requests, by route and status, and how long they
//! took. Names and labels live here, so the middleware's call is one line.
//!
//! The route is axum's matched template (`/sign-in/code`), never the path a client sent:
//! paths are chosen by whoever sends them, so as labels they would grow without end and
//! could carry personal data. A request that matched no route is "unmatched".

use axum::http::StatusCode;
use metrics::{counter, histogram};
use std::time::Duration;

const REQUESTS: &str = "gatehouse_http_requests_total";
/// The latency histogram; the server gives it `REQUEST_DURATION_BUCKETS`.
pub const REQUEST_DURATION: &str = "gatehouse_http_request_duration_seconds";
/// From a few milliseconds (a code check) to the seconds a queued password hash may take.
pub const REQUEST_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// The route label of a request that matched no route.
pub(crate) const UNMATCHED: &str = "unmatched";

/// One answered request.
pub(crate) fn request_finished(route: &str, status: StatusCode, latency: Duration) {
    counter!(
        REQUESTS,
        "route" => route.to_string(),
        "status" => status.as_u16().to_string()
    )
    .increment(1);
    histogram!(REQUEST_DURATION, "route" => route.to_string()).record(latency.as_secs_f64());
}
