//! Whether this node should be sent traffic (`/readyz`), as opposed to whether the process
//! is up (`/healthz`). The check itself is the store's; this bounds how long it may take.

use crate::{AppError, Gatehouse};
use gatehouse_store::Readiness;
use std::time::Duration;

/// A load balancer's probe gives up after a few seconds; a database slower than this is,
/// for the probe, one that does not answer.
const READINESS_TIMEOUT: Duration = Duration::from_secs(3);

impl Gatehouse {
    /// `Ready` when the database answers and its schema is current; an error when the
    /// database does not answer in time.
    pub async fn readiness(&self) -> Result<Readiness, AppError> {
        match tokio::time::timeout(READINESS_TIMEOUT, self.inner.store.readiness()).await {
            Ok(readiness) => Ok(readiness?),
            Err(elapsed) => Err(AppError::unexpected(elapsed)),
        }
    }
}
