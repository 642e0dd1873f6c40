//! A pipeline's logs (sink, ack log) as rows of the records' database, so that their
//! appends share the records' group commits.

use std::io::{self, Read};
use std::sync::Arc;

use super::ops::{Answer, Op};
use super::store::Store;
use super::{SqliteLocation, unexpected};
use crate::backends::Backend;
use crate::backends::logs::{Log, Logs};
use crate::{BoxFuture, StorageError};

/// The logs under a [`SqliteLocation`]'s prefix: log `NAME` is `PREFIXNAME`.
#[derive(Debug, Clone)]
pub struct SqliteLogs {
    location: SqliteLocation,
}

impl SqliteLogs {
    /// The logs at `location`; the database opens on first use.
    pub fn new(location: SqliteLocation) -> Self {
        Self { location }
    }

    fn name(&self, name: &str) -> String {
        format!("{}{name}", self.location.prefix)
    }
}

impl Logs for SqliteLogs {
    fn open<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Box<dyn Log>, StorageError>> {
        Box::pin(async move {
            let store = self.location.store().await?;
            Ok(Box::new(SqliteLog::open(store, self.name(name)).await?) as Box<dyn Log>)
        })
    }

    fn reader(&self, name: &str) -> Result<Option<Box<dyn Read + Send>>, StorageError> {
        if !self.location.database_exists()? {
            return Ok(None);
        }
        let store = self.location.store_blocking()?;
        let log = self.name(name);
        match store.call_blocking(Op::Tail { log: log.clone() })? {
            Answer::Tail { len: 0, .. } => Ok(None),
            Answer::Tail { .. } => Ok(Some(Box::new(LogReader {
                store,
                log,
                from: 0,
                chunk: Vec::new(),
                at: 0,
            }))),
            other => Err(unexpected(&other)),
        }
    }

    fn last_line(&self, name: &str) -> Result<Option<(usize, Vec<u8>)>, StorageError> {
        if !self.location.database_exists()? {
            return Ok(None);
        }
        let log = self.name(name);
        match self
            .location
            .store_blocking()?
            .call_blocking(Op::LastLine { log })?
        {
            Answer::Line(line) => Ok(line),
            other => Err(unexpected(&other)),
        }
    }

    fn describe(&self, name: &str) -> String {
        // A log is named like a record: `sqlite://PATH#PREFIXNAME`.
        Backend::describe(&self.location, name)
    }
}

/// One log open for appending. A log has one writer at a time (the pipeline that
/// holds its state directory); an append that finds the log changed under it fails.
#[derive(Debug)]
pub struct SqliteLog {
    store: Arc<Store>,
    log: String,
    /// Its length and its lines, as of the last append this writer knows the fate of.
    len: u64,
    lines: u64,
    /// Whether a failed call left the log's end unknown (a commit whose result was an
    /// error may still have reached the disk): the next call reads it again.
    unsure: bool,
}

impl SqliteLog {
    async fn open(store: Arc<Store>, log: String) -> Result<Self, StorageError> {
        let mut opened = Self {
            store,
            log,
            len: 0,
            lines: 0,
            unsure: true,
        };
        opened.settle().await?;
        Ok(opened)
    }

    /// Reads the log's end again if a failure left it unknown.
    async fn settle(&mut self) -> Result<(), StorageError> {
        if self.unsure {
            let tail = Op::Tail {
                log: self.log.clone(),
            };
            match self.store.call(tail).await? {
                Answer::Tail { len, lines } => (self.len, self.lines) = (len, lines),
                other => return Err(unexpected(&other)),
            }
            self.unsure = false;
        }
        Ok(())
    }

    async fn call(&mut self, op: Op) -> Result<(), StorageError> {
        // Unsure until the answer is in: a call whose future is dropped may still be
        // committed, so the next call reads the log's end again.
        self.unsure = true;
        match self.store.call(op).await {
            Ok(Answer::Done) => {
                self.unsure = false;
                Ok(())
            }
            Ok(other) => Err(unexpected(&other)),
            Err(e) => Err(e),
        }
    }
}

impl SqliteLog {
    async fn append_lines(&mut self, lines: &[u8]) -> Result<(), StorageError> {
        if !lines.ends_with(b"\n") {
            return Err(StorageError::InvalidData(crate::Cause::new(format!(
                "an append to {} must end a line",
                self.log
            ))));
        }
        self.settle().await?;
        // Counted here, not by the committer, which every tenant's writes go through.
        let through = self.lines + lines.iter().filter(|&&b| b == b'\n').count() as u64;
        self.call(Op::Append {
            log: self.log.clone(),
            start: self.len,
            line: self.lines,
            through,
            bytes: lines.to_vec(),
        })
        .await?;
        self.len += lines.len() as u64;
        self.lines = through;
        Ok(())
    }

    async fn cut(&mut self, len: u64) -> Result<(), StorageError> {
        self.settle().await?;
        if len >= self.len {
            return Ok(());
        }
        self.call(Op::Cut {
            log: self.log.clone(),
            len,
        })
        .await?;
        // The line count of the part kept is in its last row: read it back.
        self.unsure = true;
        self.settle().await
    }
}

impl Log for SqliteLog {
    fn append<'a>(&'a mut self, lines: &'a [u8]) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(self.append_lines(lines))
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn cut_to(&mut self, len: u64) -> BoxFuture<'_, Result<(), StorageError>> {
        Box::pin(self.cut(len))
    }
}

/// A log read as a stream, a chunk of appends at a time.
struct LogReader {
    store: Arc<Store>,
    log: String,
    /// Where the next chunk starts.
    from: u64,
    chunk: Vec<u8>,
    /// How much of `chunk` was read.
    at: usize,
}

/// About how much of a log one request brings back.
pub(super) const CHUNK_BYTES: usize = 256 << 10;

impl Read for LogReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.chunk.len() {
            let op = Op::Read {
                log: self.log.clone(),
                from: self.from,
                max: CHUNK_BYTES,
            };
            self.chunk = match self.store.call_blocking(op) {
                Ok(Answer::Bytes(bytes)) => bytes,
                Ok(other) => return Err(io::Error::other(unexpected(&other))),
                Err(e) => return Err(io::Error::other(e)),
            };
            self.at = 0;
            self.from += self.chunk.len() as u64;
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
