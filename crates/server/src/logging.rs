//! Logging on stderr, as text (today's lines, for people) or as one JSON object per line
//! (`GATEHOUSE_LOG_FORMAT=json`, for log pipelines). Which lines are written is
//! `GATEHOUSE_LOG` (an `EnvFilter`, default `info,sqlx=warn`) in both.
//!
//! A JSON line holds `timestamp`, `level`, `target`, `message` and the event's own fields
//! at the top level (a request's `request_id`, `route`, `status`, `latency_ms`), and the
//! enclosing request's span (`span.request_id`) on every line logged while serving it.
//! Standard output is not a log: it carries the `listening on http://ADDR` line that
//! scripts and tests wait for (DESIGN.md §4), plain in both formats.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the subscriber once; a second call (another command in the same process, a
/// test) leaves the first in place.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("GATEHOUSE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
