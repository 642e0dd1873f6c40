//! The resumable pipeline behind `host-example run`: read messages, write each batch to
//! a sink, checkpoint it through the component, and resume from the durable checkpoint
//! after any stop or crash.
//!
//! A state directory holds everything a run needs to resume:
//! - `pipeline/checkpoint.json` (or the chosen key): the checkpoint record, unless
//!   [`Config::storage`] keeps it elsewhere (in etcd);
//! - `sink.jsonl`: every processed message, one line each, in order;
//! - `acks.log`: every acknowledgement, one JSON line per batch.
//!
//! Each batch is appended to the sink and synced *before* its checkpoint is written, so
//! the sink always holds every message below the durable offset. Messages after it
//! that reached the sink before a crash were never checkpointed nor acked: on resume
//! the sink is cut back to the checkpoint and they are processed again (counted as
//! redelivered). The sink thus holds each message exactly once, in order.
//!
//! A crash can also land after a batch's checkpoint is durable but before its ack is:
//! resuming past that batch would leave it unacknowledged forever. So a run first
//! acknowledges every message below the checkpoint that the ack log does not show
//! acknowledged, by repeating the write of the durable offset (which the component
//! turns into an ack alone).

mod source;
mod tenants;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;

pub use source::{Message, Source, generated};
pub use tenants::{TenantRun, run_tenants, tenant_id};

use pipeline_checkpoint_host::backends::files::{AppendLog, complete_lines};
use pipeline_checkpoint_host::{
    ACK_LOG_FILE, Error, FileConsumer, MemoryConsumer, Runtime, StorageError, StorageLocation,
};

/// The sink's file name in the state directory.
pub const SINK_FILE: &str = "sink.jsonl";

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The state directory: sink and ack log, and the checkpoint record unless
    /// `storage` puts it elsewhere.
    pub state_dir: PathBuf,
    /// Where the checkpoint record is stored; `None`: files in `state_dir`.
    pub storage: Option<StorageLocation>,
    /// Where messages come from.
    pub source: Source,
    /// Messages per batch (and per checkpoint). At least 1.
    pub batch_size: usize,
    /// The checkpoint key; `None` for `pipeline/checkpoint.json`.
    pub key: Option<String>,
    /// Stop after this many batches (a planned stop, resumed by the next run).
    pub max_batches: Option<u64>,
}

/// Where a run is, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The durable offset: messages checkpointed so far, all runs included.
    pub offset: u64,
    /// The number of messages in the source.
    pub total: u64,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The durable offset the run resumed from.
    pub resumed_from: u64,
    /// The durable offset at the end of the run.
    pub offset: u64,
    /// The number of messages in the source.
    pub total: u64,
    /// Messages processed (written to the sink and checkpointed) by this run.
    pub messages: u64,
    /// Batches checkpointed by this run.
    pub batches: u64,
    /// Messages a previous run had written to the sink without checkpointing them,
    /// which this run processed again: the duplicates at-least-once allows.
    pub redelivered: u64,
    /// Messages below the checkpoint that a previous run checkpointed but stopped
    /// before acknowledging, acknowledged by this run before resuming.
    pub reacknowledged: u64,
    /// Wall time of the processing loop.
    pub elapsed: Duration,
}

impl Summary {
    /// Checkpoints written per second of processing.
    pub fn checkpoints_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.batches as f64 / secs
        } else {
            0.0
        }
    }
}

/// Why a run stopped with an error. Each message names the file and the problem.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// The source cannot be read or has a malformed line; nothing was processed.
    #[error("{}{}: {reason}", path.display(), line.map(|n| format!(" line {n}")).unwrap_or_default())]
    Source {
        /// The source file.
        path: PathBuf,
        /// The 1-based line, if the fault is in one.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// The state directory's files cannot be opened, read or written.
    #[error("state directory {}", dir.display())]
    State {
        /// The state directory.
        dir: PathBuf,
        /// The failure.
        source: StorageError,
    },
    /// The checkpoint storage cannot be opened.
    #[error("checkpoint storage {location}")]
    Storage {
        /// The storage's location.
        location: String,
        /// The failure.
        source: StorageError,
    },
    /// The checkpoint component reported an error (or trapped).
    #[error("checkpoint {record}")]
    Checkpoint {
        /// Where the checkpoint record is: its file, or its etcd URL.
        record: String,
        /// The failure.
        source: Error,
    },
    /// The state does not fit the source: the wrong state directory or source.
    #[error("{0}")]
    Mismatch(String),
}

/// Runs the pipeline until the source is exhausted or `max_batches` is reached, calling
/// `progress` after every checkpoint.
pub fn run(
    runtime: &Runtime,
    config: &Config,
    mut progress: impl FnMut(Progress),
) -> Result<Summary, PipelineError> {
    let messages = config.source.load()?;
    let total = messages.len() as u64;
    let dir = &config.state_dir;
    let state_error = |source| PipelineError::State {
        dir: dir.clone(),
        source,
    };
    let location = config
        .storage
        .clone()
        .unwrap_or_else(|| StorageLocation::files(dir));
    let key = config
        .key
        .as_deref()
        .unwrap_or(pipeline_checkpoint_host::DEFAULT_KEY);
    let record = location.describe(key);
    let storage_error = |source| PipelineError::Storage {
        location: location.to_string(),
        source,
    };
    let checkpoint_error = |source| PipelineError::Checkpoint {
        record: record.clone(),
        source,
    };
    let storage = location.open().map_err(storage_error)?;

    // Read the checkpoint before creating any file: a corrupt record must stop the run
    // with the state directory exactly as it was.
    let resumed_from = runtime
        .open(Some(key), storage, MemoryConsumer::new())
        .and_then(|mut reader| reader.get_checkpoint())
        .map_err(checkpoint_error)?;
    if resumed_from > total {
        return Err(PipelineError::Mismatch(format!(
            "checkpoint {record} says {resumed_from} messages were processed, but the source has \
             only {total}: is this the right state directory for this source?"
        )));
    }

    let sink_path = dir.join(SINK_FILE);
    let in_sink = count_lines(&sink_path).map_err(state_error)?;
    if in_sink < resumed_from {
        return Err(PipelineError::Mismatch(format!(
            "{} holds {in_sink} messages but the checkpoint says {resumed_from} were processed: \
             the sink lost messages; restore it or reset the checkpoint",
            sink_path.display()
        )));
    }
    let mut sink = AppendLog::open(sink_path).map_err(state_error)?;
    let redelivered = sink.truncate_lines(resumed_from).map_err(state_error)?;
    let consumer = FileConsumer::open(dir.join(ACK_LOG_FILE)).map_err(state_error)?;
    let storage = location.open().map_err(storage_error)?;
    let mut manager = runtime
        .open(Some(key), storage, consumer)
        .map_err(checkpoint_error)?;

    let acked_through = acked_through(&dir.join(ACK_LOG_FILE), &messages).map_err(state_error)?;
    let reacknowledged = resumed_from.saturating_sub(acked_through);
    if reacknowledged > 0 {
        let mut ids: Vec<String> = messages[acked_through as usize..resumed_from as usize]
            .iter()
            .map(|m| m.id.clone())
            .collect();
        manager
            .write_checkpoint_batch(&mut ids, resumed_from)
            .map_err(checkpoint_error)?;
    }

    let started = Instant::now();
    let mut offset = resumed_from;
    let mut batches = 0;
    let mut lines = Vec::new();
    let mut ids = Vec::with_capacity(config.batch_size.max(1));
    for batch in messages[resumed_from as usize..].chunks(config.batch_size.max(1)) {
        if config.max_batches.is_some_and(|max| batches >= max) {
            break;
        }
        lines.clear();
        ids.clear();
        for message in batch {
            lines.extend_from_slice(message.line.as_bytes());
            lines.push(b'\n');
            ids.push(message.id.clone());
        }
        // The batch's output is durable before its checkpoint: after a crash between
        // the two, the batch is processed again (a duplicate), never skipped.
        sink.append(&lines).map_err(state_error)?;
        offset += batch.len() as u64;
        manager
            .write_checkpoint_batch(&mut ids, offset)
            .map_err(checkpoint_error)?;
        batches += 1;
        progress(Progress { offset, total });
    }
    Ok(Summary {
        resumed_from,
        offset,
        total,
        messages: offset - resumed_from,
        batches,
        redelivered,
        reacknowledged,
        elapsed: started.elapsed(),
    })
}

/// How many leading messages the ack log shows acknowledged: one past the index of
/// its last acknowledged id (acks go in stream order), or 0 for an empty log.
fn acked_through(ack_log: &Path, messages: &[Message]) -> Result<u64, StorageError> {
    let acks = FileConsumer::read_log(ack_log)?;
    let Some(last) = acks.iter().rev().find_map(|ids| ids.last()) else {
        return Ok(0);
    };
    messages
        .iter()
        .rposition(|m| &m.id == last)
        .map(|index| index as u64 + 1)
        .ok_or_else(|| {
            StorageError::InvalidData(
                format!(
                    "{} acknowledges {last:?}, which is not in the source: is this the right \
                     state directory for this source?",
                    ack_log.display()
                )
                .into(),
            )
        })
}

/// The number of complete lines in the file at `path` (0 if it does not exist).
pub fn count_lines(path: &Path) -> Result<u64, StorageError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(complete_lines(&bytes).count() as u64),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(StorageError::io("reading", path, e)),
    }
}
