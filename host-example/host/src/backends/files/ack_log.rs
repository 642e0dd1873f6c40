//! The ack log: a [`crate::Consumer`] that appends each acknowledgement to a log, a
//! file of its own or a log in the records' store ([`crate::backends::logs`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::FileLog;
use super::append_log::{complete_lines, last_complete_line};
use super::io_error;
use crate::backends::logs::Log;
use crate::{AckError, AckResult, Cause, Consumer, StorageError};

/// A consumer that appends each acknowledgement to a log file, one JSON line per
/// call, synced before `ack` returns: an id in the log is an id the upstream may never
/// redeliver, even after power loss.
///
/// A line is `{"ids":[...]}`, or, for a log that records offsets
/// ([`FileConsumer::recording_offsets`]), `{"v":2,"offset":N,"ids":[...]}`: the
/// checkpoint offset whose durability the ack followed, so a reader knows exactly which
/// messages the log covers without looking ids up. A log has one writer at a time.
/// Read it back with [`FileConsumer::read_log`] or [`FileConsumer::read_entries`].
#[derive(Debug)]
pub struct FileConsumer {
    log: Box<dyn Log>,
    /// Where the log is, for messages.
    name: String,
    /// Reused across calls: a pipeline acks once per batch, forever.
    line: Vec<u8>,
    /// The offset being checkpointed, set by the writer before each checkpoint.
    offset: Option<Arc<AtomicU64>>,
}

/// The format version of lines that carry an offset.
pub const ACK_LOG_VERSION: u64 = 2;

/// One line of the log as written.
#[derive(Serialize)]
struct AckLine<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    v: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    ids: &'a [String],
}

/// One line of the log as read back.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AckEntry {
    /// The line's format version: 1 for `{"ids":[...]}`, [`ACK_LOG_VERSION`] for
    /// lines with an offset.
    #[serde(default = "first_version", rename = "v")]
    pub version: u64,
    /// The checkpoint offset this acknowledgement followed (version 2 lines).
    #[serde(default)]
    pub offset: Option<u64>,
    /// The ids acknowledged.
    pub ids: Vec<String>,
}

fn first_version() -> u64 {
    1
}

impl FileConsumer {
    /// Opens the log at `path` for appending, creating it and its directories if
    /// missing. A partial last line, left by a crash mid-append, is cut off.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let log = FileLog::open(path).await?;
        let name = log.path().display().to_string();
        Ok(Self::on_log(Box::new(log), name))
    }

    /// [`FileConsumer::open`] for a caller outside an asynchronous context (a
    /// [`crate::blocking::BlockingManager`]'s): it blocks while it opens the log.
    pub fn open_blocking(path: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let log = FileLog::open_blocking(path)?;
        let name = log.path().display().to_string();
        Ok(Self::on_log(Box::new(log), name))
    }

    /// Appends acknowledgements to `log`, which `name` describes in messages (a path,
    /// or a URL).
    pub fn on_log(log: Box<dyn Log>, name: String) -> Self {
        Self {
            log,
            name,
            line: Vec::new(),
            offset: None,
        }
    }

    /// Records in each line the value of `offset` at the time of the ack: the writer
    /// stores there the offset it is about to checkpoint, before each checkpoint.
    pub fn recording_offsets(mut self, offset: Arc<AtomicU64>) -> Self {
        self.offset = Some(offset);
        self
    }

    /// Where the log is: its file, or its URL.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads the log at `path`: the ids of each `ack` call, in order. A partial last
    /// line is ignored; any other line that does not parse is an error naming its line
    /// number.
    pub fn read_log(path: &Path) -> Result<Vec<Vec<String>>, StorageError> {
        Ok(Self::read_entries(path)?
            .into_iter()
            .map(|entry| entry.ids)
            .collect())
    }

    /// Reads every line of the log at `path`, with its version and offset.
    pub fn read_entries(path: &Path) -> Result<Vec<AckEntry>, StorageError> {
        let bytes = fs::read(path).map_err(|e| io_error("reading", path, e))?;
        Self::parse_entries(&path.display().to_string(), &bytes)
    }

    /// Every complete line of an ack log's contents `bytes`, wherever it was read from
    /// (`name` says where, for messages); a partial last line is ignored.
    pub fn parse_entries(name: &str, bytes: &[u8]) -> Result<Vec<AckEntry>, StorageError> {
        complete_lines(bytes)
            .map(|(number, line)| AckEntry::parse(name, number, line))
            .collect()
    }

    /// The last complete line of the log at `path` (`None` if the log is empty or
    /// missing), read from the end: a pipeline's resume looks at it alone, however
    /// long the log has grown.
    pub fn last_entry(path: &Path) -> Result<Option<AckEntry>, StorageError> {
        match last_complete_line(path)? {
            None => Ok(None),
            Some((number, line)) => {
                AckEntry::parse(&path.display().to_string(), number, &line).map(Some)
            }
        }
    }
}

impl AckEntry {
    /// Line `number` of the log `name` describes; a line of an unknown version is
    /// refused rather than misread.
    pub fn parse(name: &str, number: usize, line: &[u8]) -> Result<AckEntry, StorageError> {
        let bad = |why: String| {
            StorageError::InvalidData(Cause::new(format!("{name} line {number}: {why}")))
        };
        let entry: AckEntry = serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
        match (entry.version, entry.offset) {
            (1, None) | (ACK_LOG_VERSION, Some(_)) => Ok(entry),
            (ACK_LOG_VERSION, None) => Err(bad("a version 2 line without an offset".into())),
            (version, _) => Err(bad(format!("unknown format version {version}"))),
        }
    }
}

impl Consumer for FileConsumer {
    async fn ack(&mut self, ids: &[String]) -> AckResult {
        self.line.clear();
        // serde_json escapes quotes and newlines, so one call is always one line.
        let offset = self.offset.as_ref().map(|o| o.load(Ordering::Acquire));
        let line = AckLine {
            v: offset.map(|_| ACK_LOG_VERSION),
            offset,
            ids,
        };
        serde_json::to_writer(&mut self.line, &line)
            .map_err(|e| AckError::InvalidBatch(format!("encoding ids for {}: {e}", self.name)))?;
        self.line.push(b'\n');
        self.log
            .append(&self.line)
            .await
            .map_err(|e| AckError::Unavailable(e.to_string()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each ack is one synced line; reopening appends instead of truncating.
    #[tokio::test]
    async fn ack_appends_one_line_per_call_and_read_log_returns_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/acks.jsonl");
        let mut consumer = FileConsumer::open(&path).await.unwrap();
        assert_eq!(consumer.name(), path.display().to_string());
        consumer.ack(&["a".into(), "b".into()]).await.unwrap();
        consumer.ack(&[]).await.unwrap();
        drop(consumer);
        // Reopening appends rather than truncating.
        FileConsumer::open(&path)
            .await
            .unwrap()
            .ack(&["c".into()])
            .await
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
    #[tokio::test]
    async fn ids_with_quotes_and_newlines_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acks.jsonl");
        let ids: Vec<String> = vec!["say \"hi\"".into(), "two\nlines\r\n".into(), "\\\0é".into()];
        FileConsumer::open(&path)
            .await
            .unwrap()
            .ack(&ids)
            .await
            .unwrap();
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
    #[tokio::test]
    async fn torn_tail_is_cut_so_later_acks_stay_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acks.jsonl");
        // As a crash mid-append leaves it.
        fs::write(&path, "{\"ids\":[\"a\"]}\n{\"ids\":[\"b\"").unwrap();
        let mut consumer = FileConsumer::open(&path).await.unwrap();
        consumer.ack(&["c".into()]).await.unwrap();
        consumer.ack(&["d".into()]).await.unwrap();
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

    /// A log that records offsets writes version 2 lines, reads back their offsets
    /// beside older lines, and its last entry is read from the end.
    #[tokio::test]
    async fn offsets_are_recorded_in_version_2_lines_and_the_last_entry_is_read_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acks.log");
        fs::write(&path, "{\"ids\":[\"a\"]}\n").unwrap();
        assert_eq!(
            FileConsumer::last_entry(&path).unwrap().unwrap().offset,
            None
        );
        let offset = Arc::new(AtomicU64::new(0));
        let mut consumer = FileConsumer::open(&path)
            .await
            .unwrap()
            .recording_offsets(offset.clone());
        offset.store(7, Ordering::Release);
        consumer.ack(&["b".into()]).await.unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with("{\"v\":2,\"offset\":7,\"ids\":[\"b\"]}\n"),
            "{text}"
        );
        let entries = FileConsumer::read_entries(&path).unwrap();
        assert_eq!((entries[0].version, entries[0].offset), (1, None));
        assert_eq!((entries[1].version, entries[1].offset), (2, Some(7)));
        assert_eq!(
            FileConsumer::last_entry(&path).unwrap(),
            Some(entries[1].clone())
        );
        assert_eq!(
            FileConsumer::last_entry(&dir.path().join("none")).unwrap(),
            None
        );
    }

    /// A line of an unknown format version, or a version 2 line without its offset,
    /// is refused naming the line rather than misread.
    #[test]
    fn unknown_versions_are_refused_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acks.log");
        for line in ["{\"v\":3,\"offset\":1,\"ids\":[]}", "{\"v\":2,\"ids\":[]}"] {
            fs::write(&path, format!("{line}\n")).unwrap();
            let err = FileConsumer::last_entry(&path).unwrap_err().to_string();
            assert!(err.contains("line 1"), "{err}");
        }
    }
}
