//! Typed errors: Rust mirrors of the WIT error variants, and the host's own [`Error`].

use thiserror::Error;

/// Why a storage call failed; mirrors `pipeline:checkpoint/storage.storage-error`.
///
/// Every case except [`StorageError::Abort`] is handed to the component as a returned
/// error. `Abort` is the host's way to stop the component's call outright: the call
/// traps, the component can do nothing more in it (in particular it acks nothing), and
/// [`crate::Manager`] reinstantiates the component before its next call.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StorageError {
    /// The key broke a naming rule; the text says which.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The storage is full; the previous value is intact.
    #[error("no space left: {0}")]
    NoSpace(String),
    /// The storage refused access.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// The stored bytes cannot be returned as text.
    #[error("invalid stored data: {0}")]
    InvalidData(String),
    /// The storage could not be reached.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Any other I/O failure.
    #[error("I/O error: {0}")]
    Io(String),
    /// A conditional put found another version stored than the one expected; nothing
    /// was written. Only [`crate::Storage::put_if`] returns it.
    #[error("conflicting write: {0}")]
    Conflict(String),
    /// Trap the component's call instead of returning an error to it.
    #[error("storage aborted the call: {0}")]
    Abort(String),
}

/// Why an acknowledgement failed; mirrors `pipeline:checkpoint/consumer.ack-error`.
///
/// As with [`StorageError::Abort`], [`AckError::Abort`] traps the component's call
/// instead of returning an error to it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AckError {
    /// The upstream refused the acknowledgement.
    #[error("ack rejected: {0}")]
    Rejected(String),
    /// The upstream could not be reached.
    #[error("consumer unavailable: {0}")]
    Unavailable(String),
    /// The ids handed over broke a host limit.
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    /// Trap the component's call instead of returning an error to it.
    #[error("consumer aborted the call: {0}")]
    Abort(String),
}

/// Why a checkpoint call failed, as the component reported it; mirrors
/// `pipeline:checkpoint/manager.checkpoint-error`. The WIT documents what each case
/// means for the caller.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckpointError {
    /// Storing the offset failed; nothing was acknowledged.
    #[error("checkpoint write failed, nothing acknowledged: {0}")]
    WriteFailed(StorageError),
    /// The offset is durable but the acknowledgement failed.
    #[error("checkpoint is durable but the ack failed (messages will be redelivered): {0}")]
    AckFailed(AckError),
    /// The offset is lower than the durable one.
    #[error("offset {requested} is lower than the durable offset {durable}; refused")]
    OffsetRegression {
        /// The durable offset.
        durable: u64,
        /// The refused offset.
        requested: u64,
    },
    /// The stored record cannot be understood.
    #[error("corrupt checkpoint record: {0}")]
    CorruptRecord(String),
    /// Reading the stored record failed.
    #[error("reading the checkpoint failed: {0}")]
    ReadFailed(StorageError),
    /// Another writer took the key over; this manager writes and acks nothing more.
    #[error("fenced, nothing acknowledged: {0}")]
    Fenced(String),
}

/// An error from the host library.
#[derive(Debug, Error)]
pub enum Error {
    /// The component returned a checkpoint error.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The component's call trapped (a guest fault, or a host `Abort`). The instance
    /// was discarded; the next call runs on a fresh one that starts from storage.
    #[error("component call trapped: {0:#}")]
    Trap(wasmtime::Error),
    /// The component could not be compiled, linked or instantiated.
    #[error("cannot load the checkpoint component: {0:#}")]
    Load(wasmtime::Error),
    /// The call crossed one of the instance's [`crate::Limits`] and was stopped. The
    /// instance was discarded, as after a trap; the next call runs on a fresh one.
    #[error("component call stopped at a limit: {0}")]
    Limit(crate::LimitExceeded),
}

impl Error {
    /// The checkpoint error the component returned, if that is what this is.
    pub fn checkpoint(&self) -> Option<&CheckpointError> {
        match self {
            Error::Checkpoint(e) => Some(e),
            _ => None,
        }
    }
}
