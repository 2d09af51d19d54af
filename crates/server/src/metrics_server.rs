//! `/metrics` for Prometheus, on its own listener (`GATEHOUSE_METRICS_LISTEN`) and never on
//! the public one: the numbers tell an attacker how the throttles are doing. Off when the
//! setting is unset, and then no recorder is installed and every metric call is a no-op.
//!
//! The metrics themselves are named in `app::metrics` and `web::metrics`; this only
//! installs the recorder and answers scrapes.

use anyhow::{Context, Result};
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::time::Duration;

/// How often histograms are drained into their buckets between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Starts serving `/metrics` on `address` when it is set; logs the bound address (port 0
/// picks a free one) and prints nothing on stdout.
pub async fn start(address: Option<SocketAddr>) -> Result<()> {
    let Some(address) = address else {
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} for metrics"))?;
    let bound = listener.local_addr()?;
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(gatehouse_web::REQUEST_DURATION.into()),
            gatehouse_web::REQUEST_DURATION_BUCKETS,
        )
        .context("the request duration buckets")?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))?;
    spawn_upkeep(handle.clone());
    let router = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    handle.render(),
                )
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the metrics listener stopped");
        }
    });
    tracing::info!(metrics_address = %bound, "serving metrics at http://{bound}/metrics");
    Ok(())
}

fn spawn_upkeep(handle: PrometheusHandle) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_EVERY);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
}
