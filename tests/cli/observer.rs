//! What the crash tests (the `kill -9` loop and the power cuts) read from a state
//! directory after each crash, and the properties they check there.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use host_example::pipeline::generated;
use pipeline_checkpoint_host::FileConsumer;
use pipeline_checkpoint_host::backends::files::complete_lines;
use rusqlite::OptionalExtension;

/// What the files showed after a crash.
#[derive(Debug, Default, Clone, Copy)]
pub struct Observation {
    /// The offset in the checkpoint record (0 if there is none yet).
    pub offset: u64,
    /// Complete lines in the sink.
    pub sink_lines: u64,
}

impl Observation {
    /// Sink lines past the durable offset: the next run cuts them and processes those
    /// messages again.
    pub fn past_checkpoint(&self) -> u64 {
        self.sink_lines - self.offset
    }
}

/// Checks a state directory after each crash against the generated stream and against
/// what the previous check saw.
///
/// What a check has verified stays verified: the ack log's complete lines are never
/// rewritten and the durable offset never decreases, so each check compares the old
/// part of the log byte for byte and looks up only the ids acked since. That keeps a
/// check cheap however long the loop runs.
pub struct Observer {
    /// Messages per batch.
    batch: u64,
    /// The sink a run over the stream writes: every generated line, with its newline.
    sink_text: Vec<u8>,
    /// Where each line of `sink_text` ends.
    line_ends: Vec<usize>,
    /// Each generated id's index, so an acked id maps back to its message.
    index_of: HashMap<String, u64>,
    seen: Observation,
    /// The ack log's complete lines checked so far, and how many batches they hold.
    acks_checked: Vec<u8>,
    ack_batches_checked: usize,
    /// How often each message was acked, over the lines checked so far.
    ack_counts: Vec<u64>,
}

impl Observer {
    pub fn new(batch: u64) -> Self {
        Self {
            batch,
            sink_text: Vec::new(),
            line_ends: Vec::new(),
            index_of: HashMap::new(),
            seen: Observation::default(),
            acks_checked: Vec::new(),
            ack_batches_checked: 0,
            ack_counts: Vec::new(),
        }
    }

    /// The number of messages in the stream.
    pub fn total(&self) -> u64 {
        self.line_ends.len() as u64
    }

    /// The last observation.
    pub fn seen(&self) -> Observation {
        self.seen
    }

    /// Grows the stream to `total` messages; the CLI generates the same ones.
    pub fn extend_to(&mut self, total: u64) {
        for index in self.total()..total {
            let message = generated(index);
            self.sink_text.extend_from_slice(message.line.as_bytes());
            self.sink_text.push(b'\n');
            self.line_ends.push(self.sink_text.len());
            self.index_of.insert(message.id, index);
            self.ack_counts.push(0);
        }
    }

    /// Reads the state directory a crash left and checks, from its files alone:
    /// 1. the checkpoint record, if any, is whole JSON with an integer `offset`;
    /// 2. every acked id is a message below that durable offset;
    /// 3. the offset is not below the one the previous check saw;
    /// 4. the sink holds the stream's messages in order: every one below the offset,
    ///    and at most one batch more (the batch appended before its checkpoint).
    pub fn observe(&mut self, state: &Path) -> Result<Observation, String> {
        let record = read_if_exists(&state.join("pipeline/checkpoint.json"))?;
        self.observe_with_record(state, record)
    }

    /// [`Observer::observe`], with the checkpoint record kept elsewhere (in etcd):
    /// `record` is its bytes, `None` if there is none.
    pub fn observe_with_record(
        &mut self,
        state: &Path,
        record: Option<Vec<u8>>,
    ) -> Result<Observation, String> {
        let acks = read_if_exists(&state.join("acks.log"))?;
        let sink = read_if_exists(&state.join("sink.jsonl"))?;
        self.observe_parts(record, acks, sink)
    }

    /// [`Observer::observe`] for `--storage sqlite://DB`, where the record, the ack
    /// log and the sink are rows of the database. It is read from a copy (with its
    /// write-ahead log), so that the next run finds the database exactly as the crash
    /// left it: reading the original would recover and checkpoint it first.
    pub fn observe_sqlite(&mut self, db: &Path) -> Result<Observation, String> {
        let copy = tempfile::tempdir().map_err(|e| e.to_string())?;
        let copied = copy.path().join("copy.db");
        for suffix in ["", "-wal"] {
            let from = format!("{}{suffix}", db.display());
            if let Some(bytes) = read_if_exists(Path::new(&from))? {
                let to = format!("{}{suffix}", copied.display());
                std::fs::write(&to, bytes).map_err(|e| format!("copying {from}: {e}"))?;
            }
        }
        if !copied.exists() {
            return self.observe_parts(None, None, None);
        }
        let read = || -> rusqlite::Result<_> {
            let db = rusqlite::Connection::open(&copied)?;
            // A database created without its tables yet: a cut during the first open.
            // It holds nothing, which the offset check then compares with before.
            let tables: i64 = db.query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('records', 'logs')",
                [],
                |row| row.get(0),
            )?;
            if tables < 2 {
                return Ok((None, None, None));
            }
            let record = db
                .query_row(
                    "SELECT value FROM records WHERE key = 'pipeline/checkpoint.json'",
                    [],
                    |row| row.get::<_, String>(0),
                )
                .optional()?;
            let log = |name: &str| -> rusqlite::Result<Option<Vec<u8>>> {
                let mut rows =
                    db.prepare("SELECT bytes FROM logs WHERE log = ?1 ORDER BY start")?;
                let chunks = rows
                    .query_map([name], |row| row.get::<_, Vec<u8>>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((!chunks.is_empty()).then(|| chunks.concat()))
            };
            Ok((
                record.map(String::into_bytes),
                log("acks.log")?,
                log("sink.jsonl")?,
            ))
        };
        let (record, acks, sink) = read().map_err(|e| format!("reading {}: {e}", db.display()))?;
        self.observe_parts(record, acks, sink)
    }

    /// The checks of [`Observer::observe`] on the record's, the ack log's and the
    /// sink's bytes (`None`: not there).
    fn observe_parts(
        &mut self,
        record: Option<Vec<u8>>,
        acks: Option<Vec<u8>>,
        sink: Option<Vec<u8>>,
    ) -> Result<Observation, String> {
        let offset = durable_offset(record)?;
        if offset < self.seen.offset {
            return Err(format!(
                "the durable offset went back from {} to {offset}",
                self.seen.offset
            ));
        }
        self.check_new_acks(acks, offset)?;
        let sink_lines = self.check_sink(sink)?;
        if sink_lines < offset || sink_lines - offset > self.batch {
            return Err(format!(
                "the sink holds {sink_lines} messages for a durable offset of {offset} \
                 (expected {offset} to {})",
                offset + self.batch
            ));
        }
        self.seen = Observation { offset, sink_lines };
        Ok(self.seen)
    }

    /// Checks that the lines checked before are unchanged and that every id acked
    /// since is a message below `offset`; earlier ids were below an earlier offset.
    fn check_new_acks(&mut self, acks: Option<Vec<u8>>, offset: u64) -> Result<(), String> {
        let Some(bytes) = acks else {
            return match self.ack_batches_checked {
                0 => Ok(()),
                _ => Err("the ack log disappeared".into()),
            };
        };
        if !bytes.starts_with(&self.acks_checked) {
            return Err("the ack log no longer starts with the acks checked before".into());
        }
        let log: Vec<_> = FileConsumer::parse_entries("the ack log", &bytes)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|entry| entry.ids)
            .collect();
        for id in log[self.ack_batches_checked..].iter().flatten() {
            let index = *self
                .index_of
                .get(id)
                .ok_or_else(|| format!("acked id {id:?} is not a generated message"))?;
            if index >= offset {
                return Err(format!(
                    "message {index} ({id}) is acked but the durable offset is {offset}"
                ));
            }
            self.ack_counts[index as usize] += 1;
        }
        self.ack_batches_checked = log.len();
        self.acks_checked = complete_part(&bytes).to_vec();
        Ok(())
    }

    /// Checks that the sink's complete lines are the stream's first lines, in order,
    /// and returns how many there are. A partial last line is what a crash mid-append
    /// leaves.
    fn check_sink(&self, sink: Option<Vec<u8>>) -> Result<u64, String> {
        let bytes = sink.unwrap_or_default();
        let complete = complete_part(&bytes);
        if self.sink_text.starts_with(complete) {
            // A prefix that ends with a newline ends where a line of the stream ends.
            return Ok(self.line_ends.partition_point(|&end| end <= complete.len()) as u64);
        }
        let expected = self.sink_text.split(|&b| b == b'\n');
        let mismatch = complete_lines(complete)
            .zip(expected)
            .find(|((_, line), expected)| line != expected);
        Err(match mismatch {
            Some(((number, line), _)) => format!(
                "sink line {number} is {:?}, not message {} of the stream",
                String::from_utf8_lossy(line),
                number - 1
            ),
            None => format!("the sink holds more than the {} messages", self.total()),
        })
    }

    /// How often each message of the stream was acknowledged, over every check.
    pub fn ack_tally(&self) -> AckTally {
        let mut never_acked: Vec<Range<u64>> = Vec::new();
        for (index, _) in (0..).zip(&self.ack_counts).filter(|(_, n)| **n == 0) {
            match never_acked.last_mut() {
                Some(gap) if gap.end == index => gap.end += 1,
                _ => never_acked.push(index..index + 1),
            }
        }
        AckTally {
            duplicated_ids: self.ack_counts.iter().filter(|&&n| n > 1).count() as u64,
            extra_acks: self.ack_counts.iter().map(|&n| n.saturating_sub(1)).sum(),
            never_acked,
        }
    }
}

/// How often the stream's messages were acknowledged.
pub struct AckTally {
    /// Messages acked more than once.
    pub duplicated_ids: u64,
    /// Acks beyond the first, over all messages.
    pub extra_acks: u64,
    /// The ranges of consecutive messages never acked.
    pub never_acked: Vec<Range<u64>>,
}

impl AckTally {
    /// How many messages were never acked.
    pub fn never_acked_messages(&self) -> u64 {
        self.never_acked.iter().map(|gap| gap.end - gap.start).sum()
    }
}

/// The offset in the record, which must parse whole if it exists: a torn, empty or
/// zero-filled record would make the next run refuse to start.
fn durable_offset(record: Option<Vec<u8>>) -> Result<u64, String> {
    let Some(bytes) = record else {
        return Ok(0);
    };
    let shown = || String::from_utf8_lossy(&bytes).escape_debug().to_string();
    let record: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("the record is not whole JSON ({e}): \"{}\"", shown()))?;
    record
        .as_object()
        .and_then(|fields| fields.get("offset"))
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| format!("the record has no integer \"offset\": \"{}\"", shown()))
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

/// `bytes` through its last newline: the complete lines of a log.
fn complete_part(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    &bytes[..end]
}
