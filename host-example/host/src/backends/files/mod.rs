//! The `files` backend, and all of the host's durable file I/O: what is written here
//! survives a crash or a power loss once the call that wrote it returns `Ok`.
//!
//! - [`FileStorage`]: each key a file, replaced by temp file, fsync, rename, directory
//!   fsync.
//! - [`AppendLog`]: an append-only file, fdatasync on every append, torn tail repaired.
//! - [`FileConsumer`]: the ack log, an [`AppendLog`] of JSON lines.
//! - [`FileLog`]: an [`AppendLog`] for asynchronous code.
//!
//! File I/O blocks, and a sync blocks for milliseconds: every call of the asynchronous
//! API ([`crate::Storage`], [`crate::Consumer`], [`crate::backends::logs::Log`]) runs
//! its I/O on tokio's blocking pool ([`super::off_executor`]), so that many tenants' syncs are
//! in flight at once while the executor's threads go on with other tasks. These
//! backends therefore need a tokio runtime.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::Path;

pub(crate) use super::off_executor;
use crate::StorageError;

mod ack_log;
mod append_log;
mod file_log;
mod file_storage;

pub use ack_log::FileConsumer;
pub use ack_log::{ACK_LOG_VERSION, AckEntry};
pub use append_log::{AppendLog, complete_lines, last_complete_line, open_for_reading};
pub use file_log::FileLog;
pub use file_storage::{DEFAULT_LOCK_TIMEOUT, DEFAULT_MAX_VALUE_BYTES, FileStorage};

/// The ack log's conventional file name in a state directory: [`crate::Tenants`] and
/// the `host-example` pipeline keep each pipeline's acknowledgements there.
pub const ACK_LOG_FILE: &str = "acks.log";
#[cfg(debug_assertions)]
#[doc(hidden)]
pub use file_storage::SKIP_PUT_SYNC_VAR;

/// The directory holding `path`; `.` for a bare file name.
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Creates `dir` and its missing ancestors. Each new directory is an entry in its
/// parent, durable only once the parent is synced: without that, power loss can
/// remove the directory together with the file that was synced inside it.
pub fn create_dirs_durably(dir: &Path) -> Result<(), StorageError> {
    let mut missing = Vec::new();
    let mut current = dir;
    while !current.as_os_str().is_empty()
        && !current
            .try_exists()
            .map_err(|e| io_error("checking", current, e))?
    {
        missing.push(current);
        current = current.parent().unwrap_or(Path::new(""));
    }
    for new_dir in missing.into_iter().rev() {
        match fs::create_dir(new_dir) {
            Ok(()) => {}
            // Created concurrently; its parent is synced anyway, as its creator may
            // not have done so yet.
            Err(e) if e.kind() == ErrorKind::AlreadyExists && new_dir.is_dir() => {}
            Err(e) => return Err(io_error("creating directory", new_dir, e)),
        }
        sync_dir(parent_dir(new_dir))?;
    }
    Ok(())
}

/// Makes the entries of `dir` (creations, renames) durable.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("syncing directory", dir, e))
}

/// Windows cannot open a directory as a `File`, and NTFS journals directory changes.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> Result<(), StorageError> {
    Ok(())
}

/// The storage error for an I/O failure of `op` on `path`, keeping the `io::Error`.
pub(crate) fn io_error(op: &str, path: &Path, err: std::io::Error) -> StorageError {
    StorageError::io(op, path, err)
}

/// A directory of record files, as a [`crate::StorageLocation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesLocation(pub std::path::PathBuf);

impl super::Backend for FilesLocation {
    fn open(&self) -> crate::BoxFuture<'_, Result<Box<dyn crate::DynStorage>, StorageError>> {
        Box::pin(async move {
            let storage = FileStorage::open(self.0.clone()).await?;
            Ok(Box::new(storage) as Box<dyn crate::DynStorage>)
        })
    }

    fn open_read_only(
        &self,
    ) -> crate::BoxFuture<'_, Result<Box<dyn crate::DynStorage>, StorageError>> {
        Box::pin(async move {
            Ok(Box::new(FileStorage::open_read_only(&self.0)) as Box<dyn crate::DynStorage>)
        })
    }

    fn for_tenant(&self, id: &str) -> std::sync::Arc<dyn super::Backend> {
        std::sync::Arc::new(FilesLocation(self.0.join(id)))
    }

    fn describe(&self, key: &str) -> String {
        self.0.join(key).display().to_string()
    }
    fn logs(&self) -> Option<std::sync::Arc<dyn super::logs::Logs>> {
        None
    }
}

impl std::fmt::Display for FilesLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.display())
    }
}
