//! Exit statuses: one per class of failure, so a supervisor can tell "retry later"
//! from "a human must look" without reading the message.

use std::process::ExitCode;

use pipeline_checkpoint_host::{CheckpointError, Error as HostError, Fault, StorageError};

use crate::pipeline::{OwnershipError, PipelineError};

/// A command line that is not acceptable (a bad flag value, a bad id): status 2, as
/// clap gives for what it refuses itself.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The failure classes and their statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 1: anything else (an I/O error of the state directory, a component that does
    /// not load).
    Other = 1,
    /// 2: the command line.
    Usage = 2,
    /// 3: corrupt or inconsistent data: the record, the sink, the ack log or the
    /// source. A human must look; `reset` is the way out for a record.
    Corrupt = 3,
    /// 4: another writer: fenced by a successor, or the state directory is held.
    Contended = 4,
    /// 5: the storage (or the upstream: Redis) is unavailable; retrying later may succeed.
    Unavailable = 5,
    /// 6: a limit of the component's sandbox was crossed.
    Limit = 6,
}

impl Failure {
    /// The class of `error`, from the first cause in its chain that says.
    pub fn of(error: &anyhow::Error) -> Self {
        error.chain().find_map(classify).unwrap_or(Failure::Other)
    }

    /// The exit status.
    pub fn code(self) -> ExitCode {
        ExitCode::from(self as u8)
    }
}

fn classify(cause: &(dyn std::error::Error + 'static)) -> Option<Failure> {
    if cause.is::<UsageError>() || cause.is::<clap::Error>() {
        return Some(Failure::Usage);
    }
    if cause.is::<OwnershipError>() {
        return Some(Failure::Contended);
    }
    if let Some(e) = cause.downcast_ref::<PipelineError>() {
        return match e {
            PipelineError::Source { .. } | PipelineError::Sink { .. } => Some(Failure::Corrupt),
            PipelineError::Mismatch(_) => Some(Failure::Corrupt),
            PipelineError::Locked(_) => Some(Failure::Contended),
            PipelineError::Redis(e) if e.is_unavailable() => Some(Failure::Unavailable),
            _ => None,
        };
    }
    if let Some(e) = cause.downcast_ref::<HostError>() {
        return match e {
            HostError::Checkpoint(e) => Some(checkpoint(e)),
            HostError::Limit(_) => Some(Failure::Limit),
            _ => None,
        };
    }
    if let Some(e) = cause.downcast_ref::<CheckpointError>() {
        return Some(checkpoint(e));
    }
    if let Some(Fault::Error(e)) = cause.downcast_ref::<Fault<StorageError>>() {
        return Some(storage(e));
    }
    cause.downcast_ref::<StorageError>().map(storage)
}

fn checkpoint(error: &CheckpointError) -> Failure {
    match error {
        CheckpointError::CorruptRecord(_) => Failure::Corrupt,
        CheckpointError::Fenced(_) | CheckpointError::OffsetRegression { .. } => Failure::Contended,
        CheckpointError::WriteFailed(e) | CheckpointError::ReadFailed(e) => storage(e),
        CheckpointError::AckFailed(_) => Failure::Unavailable,
        _ => Failure::Other,
    }
}

fn storage(error: &StorageError) -> Failure {
    match error {
        StorageError::Unavailable(_) => Failure::Unavailable,
        StorageError::InvalidData(_) => Failure::Corrupt,
        StorageError::Conflict(_) => Failure::Contended,
        StorageError::InvalidKey(_) => Failure::Usage,
        _ => Failure::Other,
    }
}
