//! The machine's floor for a JSON answer over HTTP/1.1: a bare axum handler with nothing
//! behind it, on the same runtime and stack as Gatehouse. `bench/near_limits.py` drives it
//! beside Gatehouse in the same run, so Gatehouse's endpoints are reported as a share of it.
//!
//! `cargo build --release -p gatehouse-web --example bare_json`, then run it: it prints
//! `listening on http://ADDRESS` like Gatehouse and answers `GET /json`.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let router = Router::new().route(
        "/json",
        get(|| async {
            // About the size of a userinfo answer.
            Json(json!({
                "sub": "0190c9d2-7a4e-7c3b-9a55-2f0e6c1d8b4a",
                "email": "bench@example.com",
                "email_verified": true,
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router).await
}
