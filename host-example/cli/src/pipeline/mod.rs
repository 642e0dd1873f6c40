//! The resumable pipeline behind `host-example run`: read messages, write each batch to
//! a sink, checkpoint it through the component, and resume from the durable checkpoint
//! after any stop or crash.
//!
//! A state directory holds everything a run needs to resume:
//! - `pipeline/checkpoint.json` (or the chosen key): the checkpoint record, unless
//!   [`Config::storage`] keeps it elsewhere (in etcd, object storage or SQLite);
//! - `sink.jsonl`: every processed message, one line each, in order;
//! - `acks.log`: every acknowledgement, one JSON line per batch, with the durable
//!   offset it followed;
//! - `.lock`: held by the one process that writes the directory ([`Ownership`]).
//!
//! A storage that keeps logs too (SQLite) holds the sink and the ack log beside the
//! record, under the same names, so that their appends share its commits; the state
//! directory then holds only the lock.
//!
//! Each batch is appended to the sink and synced *before* its checkpoint is written, so
//! the sink always holds every message below the durable offset. Messages after it
//! that reached the sink before a crash were never checkpointed nor acked: on resume
//! the sink is cut back to the checkpoint and they are processed again (counted as
//! redelivered). The sink thus holds each message exactly once, in order; resume
//! checks that it does, line by line against the source (`sink.rs`).
//!
//! A crash can also land after a batch's checkpoint is durable but before its ack is:
//! resuming past that batch would leave it unacknowledged forever. So a run first
//! acknowledges the messages between the offset the ack log's last line names and the
//! checkpoint, by repeating the write of the durable offset (which the component turns
//! into an ack alone).
//!
//! The source and the sink are read as streams, so memory does not grow with them.
//!
//! A run is asynchronous: its checkpoints, appends and syncs are awaited, and what must
//! block (reading a source file or a whole log, taking the state directory's lock) runs
//! on tokio's blocking pool ([`off_executor`]), so that many runs share a few threads.

mod checkpointer;
mod latency;
mod ownership;
mod reader;
mod resume;
mod sink;
mod source;
mod stream;
mod tenants;

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinError;

use thiserror::Error;

pub use latency::Latencies;
pub use ownership::{Holder, LOCK_FILE, Ownership, OwnershipError};
pub use reader::BatchReader;
pub use source::{MAX_LINE_BYTES, Message, Messages, Source, generated};
pub use stream::{StreamConfig, run_stream};
pub use tenants::{TenantRun, TenantRunError, run_tenants, tenant_id};

use pipeline_checkpoint_host::backends::logs::{FileLogs, Logs};
use pipeline_checkpoint_host::backends::redis::RedisCallError;
use pipeline_checkpoint_host::{
    ACK_LOG_FILE, Cause, CheckpointError, Error, FileConsumer, Runtime, StorageError,
    StorageLocation,
};

use crate::metrics::{FailureKind, Metrics};

use checkpointer::Checkpointer;
use resume::State;

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
    /// How long to wait for another process holding the state directory.
    pub lock_wait: Duration,
    /// Where to count checkpoints, failures and the lag.
    pub metrics: Option<Arc<Metrics>>,
    /// This pipeline's tenant, for the metrics' labels; empty for a lone pipeline.
    pub tenant: String,
    /// Where to count each checkpoint's latency, from its sink append to its ack.
    pub latencies: Option<Arc<Latencies>>,
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
    /// The sink is not this pipeline's output for this source.
    #[error("{sink}{}: {reason}", line.map(|n| format!(" line {n}")).unwrap_or_default())]
    Sink {
        /// Where the sink is: its file, or its URL.
        sink: String,
        /// The 1-based line, if the fault is in one.
        line: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// Another process holds the state directory.
    #[error(transparent)]
    Locked(#[from] OwnershipError),
    /// The state does not fit the source: the wrong state directory or source.
    #[error("{0}")]
    Mismatch(String),
    /// A Redis stream (source or output) cannot be read or written.
    #[error(transparent)]
    Redis(RedisCallError),
    /// Blocking work of the run (reading the source or a log, taking the lock) did
    /// not finish: it panicked, or the runtime is shutting down.
    #[error("a blocking task of the pipeline did not finish")]
    Task(#[source] JoinError),
}

/// Runs `work`, blocking work of a pipeline, on tokio's blocking pool.
pub async fn off_executor<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, PipelineError> + Send + 'static,
) -> Result<T, PipelineError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(PipelineError::Task(e)))
}

/// The metrics' name for a checkpoint call's failure.
pub(crate) fn failure_kind(error: &Error) -> FailureKind {
    match error.checkpoint() {
        Some(CheckpointError::WriteFailed(_)) => FailureKind::WriteFailed,
        Some(CheckpointError::AckFailed(_)) => FailureKind::AckFailed,
        Some(CheckpointError::Fenced(_)) => FailureKind::Fenced,
        Some(CheckpointError::CorruptRecord(_)) => FailureKind::Corrupt,
        Some(CheckpointError::ReadFailed(StorageError::InvalidData(_))) => FailureKind::Corrupt,
        Some(CheckpointError::OffsetRegression { .. }) => FailureKind::Regression,
        _ => FailureKind::Other,
    }
}

/// Runs the pipeline until the source is exhausted or `max_batches` is reached, calling
/// `progress` after every checkpoint.
///
/// Everything is checked before anything is written: the source (one streaming pass),
/// the record, the sink (line by line against the source) and the ack log. Then the
/// run takes the state directory ([`Ownership`]) for its whole length and checks again
/// under it, since another process may have moved things on in between.
pub async fn run(
    runtime: &Runtime,
    config: &Config,
    mut progress: impl FnMut(Progress),
) -> Result<Summary, PipelineError> {
    let (source, id_bytes) = (config.source.clone(), runtime.limits().id_bytes);
    let total = off_executor(move || source.scan(id_bytes)).await?;
    let state = State::new(config);
    // A damaged state is refused with the directory exactly as it was; and if another
    // process holds it, that is the reason to give, not what it is in the middle of.
    if let Err(refused) = state.examine(runtime, config, total).await {
        let dir = state.dir.clone();
        off_executor(move || Ok(Ownership::check_free(&dir)?)).await?;
        return Err(refused);
    }
    let (dir, wait) = (state.dir.clone(), config.lock_wait);
    let _owner = off_executor(move || {
        pipeline_checkpoint_host::backends::files::create_dirs_durably(&dir).map_err(|source| {
            PipelineError::State {
                dir: dir.clone(),
                source,
            }
        })?;
        Ok(Ownership::acquire(&dir, wait)?)
    })
    .await?;
    let resume = state.examine(runtime, config, total).await?;

    let mut sink = state
        .logs
        .open(SINK_FILE)
        .await
        .map_err(|e| state.state_error(e))?;
    sink.cut_to(resume.sink.keep_bytes)
        .await
        .map_err(|e| state.state_error(e))?;
    let redelivered = resume.sink.lines - resume.offset;
    let covering = Arc::new(AtomicU64::new(resume.offset));
    let ack_log = state
        .logs
        .open(ACK_LOG_FILE)
        .await
        .map_err(|e| state.state_error(e))?;
    let consumer = FileConsumer::on_log(ack_log, state.logs.describe(ACK_LOG_FILE))
        .recording_offsets(covering.clone());
    let storage = state
        .location
        .open()
        .await
        .map_err(|e| state.storage_error(e))?;
    let mut manager = runtime
        .open(Some(state.key), storage, consumer)
        .await
        .map_err(|e| state.checkpoint_error(e))?;
    let checkpoint = Checkpointer::new(config.metrics.clone(), config.tenant.clone());
    checkpoint.position(resume.offset, total - resume.offset);

    let batch_size = config.batch_size.max(1);
    let mut messages = BatchReader::new(&config.source)?;
    let mut batch = Vec::with_capacity(batch_size);
    let mut ids = Vec::with_capacity(batch_size);
    // Messages the record covers that the ack log does not: a crash came between a
    // checkpoint and its ack. Acknowledged now, by repeating the durable offset (an ack
    // alone), in batches.
    let mut position = 0;
    while position < resume.offset {
        let count = batch_size.min((resume.offset - position) as usize);
        messages.read(count, &mut batch).await?;
        ids.clear();
        for message in batch.drain(..) {
            if position >= resume.acked_through {
                ids.push(message.id);
            }
            position += 1;
        }
        if !ids.is_empty() {
            checkpoint
                .acknowledge(&mut manager, &mut ids, resume.offset)
                .await
                .map_err(|e| state.checkpoint_error(e))?;
        }
    }
    let reacknowledged = resume.offset.saturating_sub(resume.acked_through);

    let started = Instant::now();
    let mut offset = resume.offset;
    let mut batches = 0;
    let mut lines = Vec::new();
    while offset < total && config.max_batches.is_none_or(|max| batches < max) {
        let count = batch_size.min((total - offset) as usize);
        messages.read(count, &mut batch).await?;
        lines.clear();
        ids.clear();
        for message in batch.drain(..) {
            lines.extend_from_slice(message.line.as_bytes());
            lines.push(b'\n');
            ids.push(message.id);
        }
        // The batch's output is durable before its checkpoint: after a crash between
        // the two, the batch is processed again (a duplicate), never skipped.
        let durable_from = Instant::now();
        sink.append(&lines)
            .await
            .map_err(|e| state.state_error(e))?;
        let next = offset + ids.len() as u64;
        covering.store(next, Ordering::Release);
        checkpoint
            .write(&mut manager, &mut ids, next)
            .await
            .map_err(|e| state.checkpoint_error(e))?;
        if let Some(latencies) = &config.latencies {
            latencies.record(durable_from.elapsed());
        }
        offset = next;
        batches += 1;
        checkpoint.position(offset, total - offset);
        progress(Progress { offset, total });
    }
    Ok(Summary {
        resumed_from: resume.offset,
        offset,
        total,
        messages: offset - resume.offset,
        batches,
        redelivered,
        reacknowledged,
        elapsed: started.elapsed(),
    })
}

/// Where a pipeline whose records are at `location` keeps its sink and ack log: beside
/// the records if the storage keeps logs (SQLite), else as files in `state_dir`.
pub fn logs_of(location: &StorageLocation, state_dir: &std::path::Path) -> Arc<dyn Logs> {
    location
        .logs()
        .unwrap_or_else(|| Arc::new(FileLogs(state_dir.to_owned())))
}

/// The number of complete lines of log `name` (0 if it does not exist), read as a
/// stream.
pub fn count_lines(logs: &dyn Logs, name: &str) -> Result<u64, StorageError> {
    let Some(mut reader) = logs.reader(name)? else {
        return Ok(0);
    };
    let mut buf = vec![0; 64 << 10];
    let mut lines = 0;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(lines),
            Ok(n) => lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64,
            Err(e) => {
                return Err(StorageError::Io(Cause::with_source(
                    format!("reading {}", logs.describe(name)),
                    e,
                )));
            }
        }
    }
}
