//! Checkpoint calls: retried while the storage or the upstream is briefly unavailable,
//! timed, logged and counted in the metrics.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pipeline_checkpoint_host::{AckError, CheckpointError, Error, StorageError};

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

    /// Times and counts a read of the durable offset.
    pub(super) fn read(&self, call: impl FnOnce() -> Result<u64, Error>) -> Result<u64, Error> {
        let started = Instant::now();
        let result = call();
        if let (Some(metrics), Err(e)) = (&self.metrics, &result) {
            metrics.checkpoint_failed(&self.tenant, failure_kind(e), started.elapsed());
        }
        result
    }

    /// Makes `offset` durable and acknowledges its batch by `call`, retried while it
    /// fails as unavailable; each attempt timed and counted.
    pub(super) fn write(
        &self,
        offset: u64,
        call: impl FnMut() -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.attempts(offset, true, call)
    }

    /// Repeats the write of the durable `offset`, which only acknowledges: retried
    /// as [`Self::write`], counting failures but no checkpoint.
    pub(super) fn acknowledge(
        &self,
        offset: u64,
        call: impl FnMut() -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.attempts(offset, false, call)
    }

    fn attempts(
        &self,
        offset: u64,
        counts: bool,
        mut call: impl FnMut() -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut pauses = RETRY_PAUSES.iter();
        loop {
            let started = Instant::now();
            let result = call();
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
                    thread::sleep(*pause);
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
