//! S57: every request is bounded in size and time, and connections in number. Raw TCP where
//! a well-behaved client library would hide what an attacker does (half a request line, a
//! body trickled byte by byte, connections held open).

use crate::helpers::TestApp;
use gatehouse_testkit::ServerOptions;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn spawn_with(settings: &[(&str, &str)]) -> TestApp {
    TestApp::spawn_with(ServerOptions {
        env: settings
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        ..Default::default()
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.server.base_url.trim_start_matches("http://");
    TcpStream::connect(address).await.unwrap()
}

/// Reads one response (head and a `Content-Length` body) from a kept-alive connection, or
/// `None` when nothing complete arrives within `wait`.
async fn read_response(stream: &mut (impl AsyncRead + Unpin), wait: Duration) -> Option<String> {
    let mut received = Vec::new();
    let deadline = Instant::now() + wait;
    loop {
        if let Some(end) = find(&received, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_string();
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                return Some(String::from_utf8_lossy(&received[..end + 4 + length]).to_string());
            }
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        let mut buffer = [0u8; 4096];
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: gatehouse\r\n\r\n";

/// Waits until the server closes `stream`, reading and dropping whatever it sends; the time
/// it took, or `None` if it stayed open for all of `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        let left = wait.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_line_is_cut_off() {
    // Slowloris: half a request line, then silence, holding a connection for ever.
    let app = spawn_with(&[("GATEHOUSE_HEADER_READ_TIMEOUT_SECS", "2")]).await;
    let mut stream = connect(&app).await;
    stream.write_all(b"GET /sign-in HT").await.unwrap();
    let closed = closed_within(&mut stream, Duration::from_secs(6)).await;
    let closed = closed.expect("S57: closed within the header-read timeout and a margin");
    assert!(closed >= Duration::from_millis(1500), "{closed:?}");

    // A kept-alive connection that goes quiet is closed by the same clock.
    let mut stream = connect(&app).await;
    stream.write_all(HEALTH).await.unwrap();
    let answer = read_response(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.is_some_and(|a| a.starts_with("HTTP/1.1 200")));
    assert!(closed_within(&mut stream, Duration::from_secs(6))
        .await
        .is_some());
}

#[tokio::test]
async fn a_form_over_16_kib_is_refused_with_413_and_one_under_is_read() {
    let app = spawn_with(&[]).await;
    let browser = app.browser();
    let over = "x".repeat(17 * 1024);
    let page = browser
        .post("/sign-in", &[("email", "ann@example.com"), ("pad", &over)])
        .await;
    assert_eq!(page.status, 413, "{}", page.body);
    assert!(page.html().has_text("too large"), "{}", page.body);
    // The protocol endpoints are forms too.
    let page = browser
        .post_raw("/oauth2/token", &[("grant_type", &over)], &[])
        .await;
    assert_eq!(page.status, 413, "{}", page.body);

    let under = "x".repeat(15 * 1024);
    let page = browser
        .post("/sign-in", &[("email", "ann@example.com"), ("pad", &under)])
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in/password"),
        "processed like any sign-in: {}",
        page.body
    );
}

#[tokio::test]
async fn a_body_trickled_byte_by_byte_is_cut_off_by_the_request_timeout() {
    let app = spawn_with(&[("GATEHOUSE_REQUEST_TIMEOUT_SECS", "2")]).await;
    let (mut from_server, mut to_server) = connect(&app).await.into_split();
    to_server
        .write_all(
            b"POST /oauth2/token HTTP/1.1\r\nHost: gatehouse\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n",
        )
        .await
        .unwrap();
    // One byte every 200 ms: the body would take 40 s to arrive.
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        for _ in 0..200 {
            if to_server.write_all(b"a").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let answer = read_response(&mut from_server, Duration::from_secs(6)).await;
    let waited = started.elapsed();
    trickle.abort();
    let answer = answer.expect("S57: answered within the request timeout and a margin");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = spawn_with(&[("GATEHOUSE_MAX_CONNECTIONS", "4")]).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(&app).await;
        stream.write_all(HEALTH).await.unwrap();
        let answer = read_response(&mut stream, Duration::from_secs(5)).await;
        assert!(answer.is_some_and(|a| a.starts_with("HTTP/1.1 200")));
        held.push(stream);
    }
    // S57: the fifth connects (the kernel queues it) but is not served while four are open.
    let mut fifth = connect(&app).await;
    fifth.write_all(HEALTH).await.unwrap();
    assert_eq!(
        read_response(&mut fifth, Duration::from_millis(1500)).await,
        None,
        "not served beyond the cap"
    );
    drop(held.pop());
    let answer = read_response(&mut fifth, Duration::from_secs(5)).await;
    assert!(
        answer.is_some_and(|a| a.starts_with("HTTP/1.1 200")),
        "served once a connection closed"
    );
}
