//! The ack log: a [`crate::Consumer`] that appends each acknowledgement to a file.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::append_log::{AppendLog, complete_lines};
use super::io_error;
use crate::{AckError, AckResult, Cause, Consumer, StorageError};

/// A consumer that appends each acknowledgement to a log file, one JSON line per
/// call (`{"ids":[...]}`), synced before `ack` returns: an id in the log is an id the
/// upstream may never redeliver, even after power loss.
///
/// A log has one writer at a time. Read it back with [`FileConsumer::read_log`].
#[derive(Debug)]
pub struct FileConsumer {
    log: AppendLog,
    /// Reused across calls: a pipeline acks once per batch, forever.
    line: Vec<u8>,
}

/// One line of the log: `&[String]` when writing, `Vec<String>` when reading.
#[derive(Serialize, Deserialize)]
struct AckLine<T> {
    ids: T,
}

impl FileConsumer {
    /// Opens the log at `path` for appending, creating it and its directories if
    /// missing. A partial last line, left by a crash mid-append, is cut off.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StorageError> {
        Ok(Self {
            log: AppendLog::open(path)?,
            line: Vec::new(),
        })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        self.log.path()
    }

    /// Reads the log at `path`: the ids of each `ack` call, in order. A partial last
    /// line is ignored; any other line that does not parse is an error naming its line
    /// number.
    pub fn read_log(path: &Path) -> Result<Vec<Vec<String>>, StorageError> {
        let bytes = fs::read(path).map_err(|e| io_error("reading", path, e))?;
        complete_lines(&bytes)
            .map(|(number, line)| {
                serde_json::from_slice::<AckLine<Vec<String>>>(line)
                    .map(|record| record.ids)
                    .map_err(|e| {
                        StorageError::InvalidData(Cause::with_source(
                            format!("{} line {number}", path.display()),
                            e,
                        ))
                    })
            })
            .collect()
    }
}

impl Consumer for FileConsumer {
    fn ack(&mut self, ids: &[String]) -> AckResult {
        self.line.clear();
        // serde_json escapes quotes and newlines, so one call is always one line.
        serde_json::to_writer(&mut self.line, &AckLine { ids }).map_err(|e| {
            AckError::InvalidBatch(format!("encoding ids for {}: {e}", self.path().display()))
        })?;
        self.line.push(b'\n');
        self.log
            .append(&self.line)
            .map_err(|e| AckError::Unavailable(e.to_string()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each ack is one synced line; reopening appends instead of truncating.
    #[test]
    fn ack_appends_one_line_per_call_and_read_log_returns_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/acks.jsonl");
        let mut consumer = FileConsumer::open(&path).unwrap();
        assert_eq!(consumer.path(), path);
        consumer.ack(&["a".into(), "b".into()]).unwrap();
        consumer.ack(&[]).unwrap();
        drop(consumer);
        // Reopening appends rather than truncating.
        FileConsumer::open(&path)
            .unwrap()
            .ack(&["c".into()])
            .unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"ids\":[\"a\",\"b\"]}\n{\"ids\":[]}\n{\"ids\":[\"c\"]}\n"
        );
        let log = FileConsumer::read_log(&path).unwrap();
        assert_eq!(log, [vec!["a", "b"], vec![], vec!["c"]]);
    }

    /// Ids are JSON-escaped, so any id stays on its line and reads back unchanged.
    #[test]
    fn ids_with_quotes_and_newlines_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acks.jsonl");
        let ids: Vec<String> = vec!["say \"hi\"".into(), "two\nlines\r\n".into(), "\\\0é".into()];
        FileConsumer::open(&path).unwrap().ack(&ids).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 1);
        assert_eq!(FileConsumer::read_log(&path).unwrap(), [ids]);
    }

    /// An ack torn by a crash was never reported done, so readers skip it.
    #[test]
    fn torn_final_line_is_ignored_by_read_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acks.jsonl");
        fs::write(&path, "{\"ids\":[\"a\"]}\n{\"ids\":[\"b\"").unwrap();
        assert_eq!(FileConsumer::read_log(&path).unwrap(), [vec!["a"]]);
        fs::write(&path, "{\"ids\":[\"b\"").unwrap();
        assert!(FileConsumer::read_log(&path).unwrap().is_empty());
    }

    /// Acks appended after a crash's torn line stay readable.
    #[test]
    fn torn_tail_is_cut_so_later_acks_stay_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acks.jsonl");
        // As a crash mid-append leaves it.
        fs::write(&path, "{\"ids\":[\"a\"]}\n{\"ids\":[\"b\"").unwrap();
        let mut consumer = FileConsumer::open(&path).unwrap();
        consumer.ack(&["c".into()]).unwrap();
        consumer.ack(&["d".into()]).unwrap();
        let log = FileConsumer::read_log(&path).unwrap();
        assert_eq!(log, [vec!["a"], vec!["c"], vec!["d"]]);
    }

    /// A damaged complete line is reported with its file and line number.
    #[test]
    fn corrupt_complete_line_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acks.jsonl");
        fs::write(&path, "{\"ids\":[\"a\"]}\nnot json\n{\"ids\":[]}\n").unwrap();
        let err = FileConsumer::read_log(&path).unwrap_err().to_string();
        let start = format!("invalid stored data: {} line 2: ", path.display());
        assert!(err.starts_with(&start), "{err:?}");
    }
}
