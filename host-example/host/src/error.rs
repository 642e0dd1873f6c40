//! Typed errors: Rust mirrors of the WIT error variants, the host's own [`Error`], and
//! [`Fault`], how a host's storage or consumer stops a call outright.
//!
//! A failure of the host's own I/O keeps its cause: a [`StorageError`] made from an
//! `io::Error` holds it (and the path) as its [`std::error::Error::source`], and only
//! becomes the WIT `storage-error` the component sees, a case and a text, when it is
//! handed across the boundary.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use thiserror::Error;

/// What went wrong, and what caused it: the text of a [`StorageError`] case, and the
/// underlying error (an `io::Error`, a client library's) if there is one.
#[derive(Debug, Clone)]
pub struct Cause {
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Cause {
    /// A cause with text only.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A cause that keeps the error it came from.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// An I/O failure of `op` on `path`, keeping the `io::Error`.
    pub fn io(op: &str, path: &Path, error: io::Error) -> Self {
        Self::with_source(format!("{op} {}", path.display()), error)
    }

    /// The text without the source's.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The underlying error, if any.
    pub fn source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

/// The text and the source's, `op path: error`: what the component and a log see.
impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

/// Two causes are equal when they read the same: sources are compared by their text.
impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Cause {}

impl From<String> for Cause {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

/// Why a storage call failed; mirrors `pipeline:checkpoint/storage.storage-error`, case
/// for case. Its [`std::error::Error::source`] is the [`Cause`]'s underlying error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageError {
    /// The key broke a naming rule; the text says which.
    InvalidKey(String),
    /// The storage is full; the previous value is intact.
    NoSpace(Cause),
    /// The storage refused access.
    AccessDenied(Cause),
    /// The stored bytes cannot be returned as text, or are not what was asked for.
    InvalidData(Cause),
    /// The storage could not be reached, or did not answer in time.
    Unavailable(Cause),
    /// Any other I/O failure.
    Io(Cause),
    /// A conditional put found another version stored than the one expected; nothing
    /// was written. Only [`crate::Storage::put`] returns it.
    Conflict(String),
}

impl StorageError {
    /// The storage error for an I/O failure of `op` on `path`, by the error's kind.
    /// std decodes ENOSPC, EDQUOT, EACCES, EPERM and EROFS into these kinds on every
    /// platform, so no errno values are hard-coded.
    pub fn io(op: &str, path: &Path, error: io::Error) -> Self {
        let kind = error.kind();
        let cause = Cause::io(op, path, error);
        match kind {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Self::NoSpace(cause),
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                Self::AccessDenied(cause)
            }
            _ => Self::Io(cause),
        }
    }

    /// The case's name in the WIT, for messages and metrics.
    pub fn case(&self) -> &'static str {
        match self {
            Self::InvalidKey(_) => "invalid-key",
            Self::NoSpace(_) => "no-space",
            Self::AccessDenied(_) => "access-denied",
            Self::InvalidData(_) => "invalid-data",
            Self::Unavailable(_) => "unavailable",
            Self::Io(_) => "io",
            Self::Conflict(_) => "conflict",
        }
    }

    /// The text the component receives with the case.
    pub fn text(&self) -> String {
        match self {
            Self::InvalidKey(text) | Self::Conflict(text) => text.clone(),
            Self::NoSpace(cause)
            | Self::AccessDenied(cause)
            | Self::InvalidData(cause)
            | Self::Unavailable(cause)
            | Self::Io(cause) => cause.to_string(),
        }
    }

    fn cause(&self) -> Option<&Cause> {
        match self {
            Self::InvalidKey(_) | Self::Conflict(_) => None,
            Self::NoSpace(cause)
            | Self::AccessDenied(cause)
            | Self::InvalidData(cause)
            | Self::Unavailable(cause)
            | Self::Io(cause) => Some(cause),
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Self::InvalidKey(_) => "invalid key",
            Self::NoSpace(_) => "no space left",
            Self::AccessDenied(_) => "access denied",
            Self::InvalidData(_) => "invalid stored data",
            Self::Unavailable(_) => "storage unavailable",
            Self::Io(_) => "I/O error",
            Self::Conflict(_) => "conflicting write",
        };
        write!(f, "{what}: {}", self.text())
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause()
            .and_then(Cause::source)
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// Why an acknowledgement failed; mirrors `pipeline:checkpoint/consumer.ack-error`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
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
}

/// How a host's [`crate::Storage`] or [`crate::Consumer`] call fails: with an error the
/// component is told about and acts on, or by aborting the component's call.
///
/// An abort traps the call: the component can do nothing more in it (in particular it
/// acks nothing), and [`crate::Manager`] discards the instance and starts a fresh one
/// before its next call. It is how a host says "stop now" (a power cut in a test, a
/// shutdown), not a storage error: the component never sees it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Fault<E> {
    /// Return `E` to the component.
    #[error(transparent)]
    Error(E),
    /// Trap the component's call; the text says why.
    #[error("the host aborted the call: {0}")]
    Abort(String),
}

impl<E> From<E> for Fault<E> {
    fn from(error: E) -> Self {
        Fault::Error(error)
    }
}

impl<E> Fault<E> {
    /// The error, if this is one rather than an abort.
    pub fn error(&self) -> Option<&E> {
        match self {
            Fault::Error(e) => Some(e),
            Fault::Abort(_) => None,
        }
    }
}

/// What a [`crate::Storage`] call returns.
pub type StorageResult<T> = Result<T, Fault<StorageError>>;
/// What a [`crate::Consumer`] call returns.
pub type AckResult = Result<(), Fault<AckError>>;

/// Why a checkpoint call failed, as the component reported it; mirrors
/// `pipeline:checkpoint/manager.checkpoint-error`. The WIT documents what each case
/// means for the caller.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
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

impl CheckpointError {
    /// The case's name in the WIT, for messages and metrics.
    pub fn case(&self) -> &'static str {
        match self {
            Self::WriteFailed(_) => "write-failed",
            Self::AckFailed(_) => "ack-failed",
            Self::OffsetRegression { .. } => "offset-regression",
            Self::CorruptRecord(_) => "corrupt-record",
            Self::ReadFailed(_) => "read-failed",
            Self::Fenced(_) => "fenced",
        }
    }
}

/// An error from the host library.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The component returned a checkpoint error.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The component's call trapped (a guest fault, or a host [`Fault::Abort`]). The
    /// instance was discarded; the next call runs on a fresh one that starts from
    /// storage.
    #[error("component call trapped: {0:#}")]
    Trap(wasmtime::Error),
    /// The component could not be compiled, linked or instantiated.
    #[error("cannot load the checkpoint component: {0:#}")]
    Load(wasmtime::Error),
    /// The call crossed one of the instance's [`crate::Limits`] and was stopped. The
    /// instance was discarded, as after a trap; the next call runs on a fresh one.
    #[error("component call stopped at a limit: {0}")]
    Limit(crate::LimitExceeded),
    /// The runtime a [`crate::blocking::BlockingManager`] drives its calls on could
    /// not start.
    #[error("cannot start the runtime of a blocking manager: {0}")]
    Executor(#[source] std::io::Error),
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
