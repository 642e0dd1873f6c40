//! A pipeline's append-only logs (its sink, its ack log) wherever its store keeps them:
//! files in the state directory ([`FileLogs`]), or the same store as the record, so
//! that they share its durable commits (`sqlite`).

use std::fmt;
use std::io::Read;
#[cfg(feature = "files")]
use std::path::PathBuf;

#[cfg(feature = "files")]
use super::files::{FileLog, last_complete_line, open_for_reading};
use crate::{BoxFuture, StorageError};

/// An append-only log of newline-terminated lines with one writer at a time.
///
/// [`Log::append`] returning `Ok` means the lines survive a crash or power loss; a
/// failed append leaves none of its lines visible to readers.
pub trait Log: Send + fmt::Debug {
    /// Appends `lines` (one or more lines, each ending in `'\n'`), durably.
    fn append<'a>(&'a mut self, lines: &'a [u8]) -> BoxFuture<'a, Result<(), StorageError>>;
    /// The length of the log's complete lines, in bytes.
    fn len(&self) -> u64;
    /// Whether the log has no complete line.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Keeps the first `len` bytes, which must end a line (or be 0), and removes the
    /// rest, durably.
    fn cut_to(&mut self, len: u64) -> BoxFuture<'_, Result<(), StorageError>>;
}

/// Where a pipeline's logs are: each named log (`sink.jsonl`, `acks.log`) opened for
/// appending, read back as a stream, or read from its end.
///
/// Opening is asynchronous; the two reads of a whole log ([`Logs::reader`] and
/// [`Logs::last_line`]) block, and are meant for tokio's blocking pool
/// (`spawn_blocking`), where a pipeline checks its state before it starts.
pub trait Logs: Send + Sync + fmt::Debug {
    /// Opens log `name` for appending, creating it if missing; a partial last line a
    /// crash left is cut off.
    fn open<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Box<dyn Log>, StorageError>>;
    /// The complete lines of log `name`, as a stream (a partial last line may end it;
    /// readers ignore it); `None` if there is no such log. Blocking.
    fn reader(&self, name: &str) -> Result<Option<Box<dyn Read + Send>>, StorageError>;
    /// The last complete line of log `name` without its `'\n'`, and its 1-based
    /// number; `None` if the log is empty or missing. Blocking.
    fn last_line(&self, name: &str) -> Result<Option<(usize, Vec<u8>)>, StorageError>;
    /// Where log `name` is, for messages: a path, or a URL.
    fn describe(&self, name: &str) -> String;
}

/// Logs as files in a directory: `DIR/NAME`, each a [`FileLog`].
#[cfg(feature = "files")]
#[derive(Debug, Clone)]
pub struct FileLogs(pub PathBuf);

#[cfg(feature = "files")]
impl Logs for FileLogs {
    fn open<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Box<dyn Log>, StorageError>> {
        Box::pin(
            async move { Ok(Box::new(FileLog::open(self.0.join(name)).await?) as Box<dyn Log>) },
        )
    }

    fn reader(&self, name: &str) -> Result<Option<Box<dyn Read + Send>>, StorageError> {
        Ok(open_for_reading(&self.0.join(name))?.map(|file| Box::new(file) as _))
    }

    fn last_line(&self, name: &str) -> Result<Option<(usize, Vec<u8>)>, StorageError> {
        last_complete_line(&self.0.join(name))
    }

    fn describe(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}
