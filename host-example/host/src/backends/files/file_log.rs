//! [`FileLog`]: an [`AppendLog`] for asynchronous code, each append synced on tokio's
//! blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{AppendLog, off_executor};
use crate::backends::logs::Log;
use crate::{BoxFuture, StorageError};

/// An append-only log file (see [`AppendLog`]) whose appends and cuts run off the
/// executor's threads.
///
/// The log sits behind a mutex that only blocking-pool threads take: an append whose
/// future is dropped still finishes (or fails) on its thread before the next call on
/// the log begins, so the log is never written by two threads at once.
#[derive(Debug)]
pub struct FileLog {
    log: Arc<Mutex<AppendLog>>,
    path: PathBuf,
    /// The length of the complete lines, as of the last call that finished.
    len: u64,
}

impl FileLog {
    /// Opens the log at `path` as [`AppendLog::open`] does (creating it, cutting off a
    /// torn last line), on the blocking pool.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let path = path.into();
        off_executor("opening a log", move || Self::open_blocking(path)).await
    }

    /// [`FileLog::open`] for a caller outside an asynchronous context: it blocks.
    pub fn open_blocking(path: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let path = path.into();
        let log = AppendLog::open(&path)?;
        Ok(Self {
            len: log.len(),
            log: Arc::new(Mutex::new(log)),
            path,
        })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `io` on the log on the blocking pool; returns its result and the log's
    /// length after it.
    async fn with_log<T: Send + 'static>(
        &mut self,
        what: &str,
        io: impl FnOnce(&mut AppendLog) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let log = self.log.clone();
        let (result, len) = off_executor(what, move || {
            let mut log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let result = io(&mut log);
            Ok((result, log.len()))
        })
        .await?;
        self.len = len;
        result
    }
}

impl Log for FileLog {
    fn append<'a>(&'a mut self, lines: &'a [u8]) -> BoxFuture<'a, Result<(), StorageError>> {
        let lines = lines.to_vec();
        Box::pin(self.with_log("appending to a log", move |log| log.append(&lines)))
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn cut_to(&mut self, len: u64) -> BoxFuture<'_, Result<(), StorageError>> {
        Box::pin(self.with_log("cutting a log", move |log| log.cut_to(len)))
    }
}
