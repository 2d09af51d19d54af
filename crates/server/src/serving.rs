//! Serving HTTP/1.1 over the listener, with every connection and request bounded (S57):
//!
//! - a cap on open connections: once `max_connections` are open, the next ones are not
//!   accepted until one closes; they wait in the kernel's listen queue, connected but
//!   unanswered, rather than being refused (a short burst passes, slowly; a flood cannot
//!   make us hold more than the cap);
//! - a header-read timeout: a client that has not finished its request head within
//!   `header_read_timeout` is cut off (slowloris); the same clock closes a keep-alive
//!   connection that sits idle that long;
//! - a request timeout: a request not answered within `request_timeout` is answered 408
//!   when its body had not all arrived (a body trickled byte by byte), else 503;
//! - graceful shutdown: on the signal, stop accepting, let requests in flight finish, close
//!   idle connections.
//!
//! The body limit is the router's (`gatehouse_web::BODY_LIMIT_BYTES`). This module knows
//! connections and time, nothing of what a request means: the router answers everything.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, Request, Response, StatusCode};
use axum::Router;
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// The bounds of S57 that belong to connections rather than to pages.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the requests in
/// flight finish and returns once every connection has closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = pin!(shutdown);
    // `stopping` tells the connections to finish; every connection holds a `still_open`
    // receiver, so `closed()` on its sender is "all connections are gone".
    let (stopping, stop) = watch::channel(false);
    let (still_open, open) = watch::channel(());
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        // A permit first: at the cap, nothing more is accepted until a connection closes.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let connection = Connection {
                    router: router.clone(),
                    limits,
                    peer,
                    _permit: permit,
                    _open: open.clone(),
                };
                tokio::spawn(connection.serve(stream, stop.clone()));
            }
            Err(error) => pause_after(&error).await,
        }
    }
    drop(listener);
    drop(open);
    let _ = stopping.send(true);
    still_open.closed().await;
}

/// An accept that failed: a connection that died before it was accepted costs nothing; a
/// full file table (EMFILE) or the like would fail again at once, so wait a moment rather
/// than spin.
async fn pause_after(error: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::warn!(%error, "cannot accept a connection");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// One accepted connection and what it holds while open: its place under the cap, and its
/// part in "every connection has closed".
struct Connection {
    router: Router,
    limits: Limits,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
    _open: watch::Receiver<()>,
}

impl Connection {
    async fn serve(self, stream: TcpStream, stop: watch::Receiver<bool>) {
        let (router, limits, peer) = (self.router.clone(), self.limits, self.peer);
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            answer_in_time(router.clone(), request, peer, limits.request_timeout)
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .keep_alive(true);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let mut connection = pin!(connection);
        let finished = tokio::select! {
            finished = connection.as_mut() => finished,
            () = stopping(stop) => {
                // Idle: closed now. Busy: the response in flight goes out first.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(error) = finished {
            // A client that vanished or timed out: theirs to notice, not an operator's.
            tracing::debug!(%error, peer = %self.peer, "connection ended");
        }
    }
}

/// Completes once the server is shutting down.
async fn stopping(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Runs the router on one request, with the peer's address for the `ConnectInfo` handlers
/// read (S50), under the request timeout.
async fn answer_in_time(
    router: Router,
    request: Request<Incoming>,
    peer: SocketAddr,
    limit: Duration,
) -> Result<Response<Body>, Infallible> {
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    let body = WatchedBody::new(body);
    let arrived = Arc::clone(&body.arrived);
    let request = Request::from_parts(parts, Body::new(body));
    let answer = hyper::service::Service::call(&TowerToHyperService::new(router), request);
    match tokio::time::timeout(limit, answer).await {
        Ok(response) => response,
        Err(_) if !arrived.load(Ordering::Acquire) => Ok(too_slow(
            StatusCode::REQUEST_TIMEOUT,
            "The request did not arrive in time.",
        )),
        Err(_) => Ok(too_slow(
            StatusCode::SERVICE_UNAVAILABLE,
            "The request took too long. Try again in a moment.",
        )),
    }
}

/// The answer to a request cut off by the request timeout. The connection closes after it:
/// after a 408 the rest of the body is still on its way, and nothing else can be read.
fn too_slow(status: StatusCode, message: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
    }
    response
}

/// A request body that notes when its last byte has arrived, so a request cut off by the
/// timeout can tell a slow client (408) from a slow answer (503).
struct WatchedBody {
    inner: Incoming,
    arrived: Arc<AtomicBool>,
}

impl WatchedBody {
    fn new(inner: Incoming) -> Self {
        let arrived = Arc::new(AtomicBool::new(hyper::body::Body::is_end_stream(&inner)));
        Self { inner, arrived }
    }
}

impl hyper::body::Body for WatchedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        let ended =
            matches!(frame, Poll::Ready(None)) || hyper::body::Body::is_end_stream(&self.inner);
        if ended {
            self.arrived.store(true, Ordering::Release);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::{get, post};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server of `router` under `limits` on a free port, and the switch that stops it.
    async fn start(
        router: Router,
        limits: Limits,
    ) -> (
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, limits, async move {
            let _ = stopped.await;
        }));
        (address, stop, server)
    }

    fn limits(request_timeout: Duration) -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(30),
            request_timeout,
            max_connections: 16,
        }
    }

    /// Sends `request` on a new connection and reads the whole answer, until it closes.
    async fn exchange(address: SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    }

    fn slow_router() -> Router {
        Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    "done"
                }),
            )
            .route(
                "/peer",
                post(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
            )
    }

    #[tokio::test]
    async fn a_handler_slower_than_the_request_timeout_is_answered_503() {
        // S57: the person is told at once to try again, rather than left waiting.
        let (address, _stop, _server) = start(slow_router(), limits(Duration::from_secs(1))).await;
        let started = std::time::Instant::now();
        let answer = exchange(address, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("took too long"), "{answer}");
        assert!(started.elapsed() < Duration::from_secs(3), "cut off at 1 s");
    }

    #[tokio::test]
    async fn handlers_read_the_peer_address() {
        // S50 starts from the TCP peer: `ConnectInfo` must reach the handlers.
        let (address, _stop, _server) = start(slow_router(), limits(Duration::from_secs(5))).await;
        let answer = exchange(
            address,
            "POST /peer HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("127.0.0.1:"), "{answer}");
    }

    #[tokio::test]
    async fn shutting_down_lets_the_request_in_flight_finish() {
        let (address, stop, server) = start(slow_router(), limits(Duration::from_secs(10))).await;
        let in_flight = tokio::spawn(exchange(address, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"));
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.send(()).unwrap();
        let answer = in_flight.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("done"), "{answer}");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
        assert!(
            TcpStream::connect(address).await.is_err(),
            "no longer accepting"
        );
    }
}
