//! Checkpoint calls: retried while the storage or the upstream is briefly unavailable,
//! timed, logged and counted in the metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pipeline_checkpoint_host::{AckError, CheckpointError, Error, Manager, StorageError};

use super::failure_kind;
use crate::metrics::Metrics;

/// The pauses before each retry of a write that failed as unavailable. A write that
/// timed out may have landed: the retry's fresh read of the record (the component
/// reads after a failed put) finds out, so a worker that was paused past its
/// timeout learns that it was fenced instead of giving up as "unavailable".
const RETRY_PAUSES: [Duration; 2] = [Duration::from_millis(200), Duration::from_millis(1000)];

/// Checkpoint calls of one pipeline, for its tenant's metrics.
pub(super) struct Checkpointer {
    metrics: Option<Arc<Metrics>>,
    /// The tenant label: empty for a lone pipeline.
    tenant: String,
}

impl Checkpointer {
    pub(super) fn new(metrics: Option<Arc<Metrics>>, tenant: String) -> Self {
        Self { metrics, tenant }
    }

    /// Reads the durable offset, counting a failure.
    pub(super) async fn read(&self, manager: &mut Manager) -> Result<u64, Error> {
        let started = Instant::now();
        let result = manager.get_checkpoint().await;
        if let (Some(metrics), Err(e)) = (&self.metrics, &result) {
            metrics.checkpoint_failed(&self.tenant, failure_kind(e), started.elapsed());
        }
        result
    }

    /// Makes `offset` durable and acknowledges `ids`, retried while it fails as
    /// unavailable; each attempt timed and counted.
    pub(super) async fn write(
        &self,
        manager: &mut Manager,
        ids: &mut Vec<String>,
        offset: u64,
    ) -> Result<(), Error> {
        self.attempts(manager, ids, offset, true).await
    }

    /// Repeats the write of the durable `offset`, which only acknowledges `ids`:
    /// retried as [`Self::write`], counting failures but no checkpoint.
    pub(super) async fn acknowledge(
        &self,
        manager: &mut Manager,
        ids: &mut Vec<String>,
        offset: u64,
    ) -> Result<(), Error> {
        self.attempts(manager, ids, offset, false).await
    }

    async fn attempts(
        &self,
        manager: &mut Manager,
        ids: &mut Vec<String>,
        offset: u64,
        counts: bool,
    ) -> Result<(), Error> {
        let mut pauses = RETRY_PAUSES.iter();
        loop {
            let started = Instant::now();
            let result = manager.write_checkpoint_batch(ids, offset).await;
            let latency = started.elapsed();
            let Err(e) = result else {
                if let (Some(metrics), true) = (&self.metrics, counts) {
                    metrics.checkpoint_written(&self.tenant, latency, offset);
                }
                return Ok(());
            };
            if let Some(metrics) = &self.metrics {
                metrics.checkpoint_failed(&self.tenant, failure_kind(&e), latency);
            }
            match pauses.next().filter(|_| is_unavailable(&e)) {
                Some(pause) => {
                    tracing::warn!(tenant = %self.tenant, offset, error = %e, "checkpoint failed; retrying");
                    tokio::time::sleep(*pause).await;
                }
                None => {
                    tracing::warn!(tenant = %self.tenant, offset, error = %e, "checkpoint failed");
                    return Err(e);
                }
            }
        }
    }

    /// Records the durable offset and the lag behind the source.
    pub(super) fn position(&self, offset: u64, lag: u64) {
        if let Some(metrics) = &self.metrics {
            metrics.position(&self.tenant, offset, lag);
        }
    }
}

/// Whether a retry may succeed: the storage or the consumer could not be reached.
fn is_unavailable(error: &Error) -> bool {
    matches!(
        error.checkpoint(),
        Some(
            CheckpointError::WriteFailed(StorageError::Unavailable(_))
                | CheckpointError::ReadFailed(StorageError::Unavailable(_))
                | CheckpointError::AckFailed(AckError::Unavailable(_))
        )
    )
}
