//! What a run resumes from: the durable offset, the sink checked against the source,
//! and how far the ack log reaches; and the errors that name where the state is.

use std::path::PathBuf;
use std::sync::Arc;

use pipeline_checkpoint_host::backends::files::AckEntry;
use pipeline_checkpoint_host::backends::logs::Logs;
use pipeline_checkpoint_host::{
    ACK_LOG_FILE, Error, MemoryConsumer, Runtime, StorageError, StorageLocation,
};

use super::{Config, PipelineError, SINK_FILE, Source, sink};

/// Where a run's state is, and the errors that name it.
pub(super) struct State<'a> {
    pub(super) dir: PathBuf,
    pub(super) location: StorageLocation,
    /// Where the sink and the ack log are: files in `dir`, or beside the record.
    pub(super) logs: Arc<dyn Logs>,
    pub(super) key: &'a str,
    record: String,
}

/// What a run resumes from, as [`State::examine`] found it.
pub(super) struct Resume {
    /// The durable offset.
    pub(super) offset: u64,
    /// What the sink holds.
    pub(super) sink: sink::SinkCheck,
    /// How many leading messages the ack log shows acknowledged.
    pub(super) acked_through: u64,
}

impl<'a> State<'a> {
    pub(super) fn new(config: &'a Config) -> Self {
        let dir = config.state_dir.clone();
        let location = config
            .storage
            .clone()
            .unwrap_or_else(|| StorageLocation::files(&dir));
        let key = config
            .key
            .as_deref()
            .unwrap_or(pipeline_checkpoint_host::DEFAULT_KEY);
        let record = location.describe(key);
        let logs = super::logs_of(&location, &dir);
        Self {
            dir,
            location,
            logs,
            key,
            record,
        }
    }

    pub(super) fn state_error(&self, source: StorageError) -> PipelineError {
        PipelineError::State {
            dir: self.dir.clone(),
            source,
        }
    }

    pub(super) fn storage_error(&self, source: StorageError) -> PipelineError {
        PipelineError::Storage {
            location: self.location.to_string(),
            source,
        }
    }

    pub(super) fn checkpoint_error(&self, source: Error) -> PipelineError {
        PipelineError::Checkpoint {
            record: self.record.clone(),
            source,
        }
    }

    /// Reads the checkpoint, checks the sink against the source and reads the ack log,
    /// writing nothing.
    pub(super) async fn examine(
        &self,
        runtime: &Runtime,
        config: &Config,
        total: u64,
    ) -> Result<Resume, PipelineError> {
        let storage = self
            .location
            .open_read_only()
            .await
            .map_err(|e| self.storage_error(e))?;
        let offset = match runtime
            .open(Some(self.key), storage, MemoryConsumer::new())
            .await
        {
            Ok(mut reader) => reader.get_checkpoint().await,
            Err(e) => Err(e),
        }
        .map_err(|e| self.checkpoint_error(e))?;
        if offset > total {
            return Err(PipelineError::Mismatch(format!(
                "checkpoint {} says {offset} messages were processed, but the source has \
                 only {total}: is this the right state directory for this source?",
                self.record
            )));
        }
        // Both read whole logs and the source: on the blocking pool.
        let (logs, source, dir) = (self.logs.clone(), config.source.clone(), self.dir.clone());
        let (sink, acked_through) = super::off_executor(move || {
            let sink = sink::check(&*logs, SINK_FILE, &source, offset)?;
            if sink.lines < offset {
                return Err(PipelineError::Mismatch(format!(
                    "{} holds {} messages but the checkpoint says {offset} were processed: \
                     the sink lost messages; restore it or reset the checkpoint",
                    logs.describe(SINK_FILE),
                    sink.lines
                )));
            }
            let acked_through = acked_through(&*logs, &source)
                .map_err(|source| PipelineError::State { dir, source })?;
            Ok((sink, acked_through))
        })
        .await?;
        Ok(Resume {
            offset,
            sink,
            acked_through,
        })
    }
}

/// How many leading messages the ack log shows acknowledged: the offset its last line
/// covers, or, for a log written before lines carried offsets, one past the position of
/// its last acknowledged id (acks go in stream order); 0 for an empty log.
fn acked_through(logs: &dyn Logs, source: &Source) -> Result<u64, StorageError> {
    let ack_log = logs.describe(ACK_LOG_FILE);
    let last = match logs.last_line(ACK_LOG_FILE)? {
        None => return Ok(0),
        Some((number, line)) => AckEntry::parse(&ack_log, number, &line)?,
    };
    let last = match last {
        AckEntry {
            offset: Some(offset),
            ..
        } => return Ok(offset),
        entry => match entry.ids.last() {
            Some(id) => id.clone(),
            None => return Ok(0),
        },
    };
    let not_found = || {
        StorageError::InvalidData(
            format!(
                "{ack_log} acknowledges {last:?}, which is not in the source: is this the \
                 right state directory for this source?"
            )
            .into(),
        )
    };
    let mut found = None;
    for (index, message) in source.messages().map_err(|_| not_found())?.enumerate() {
        let (_, message) = message.map_err(|_| not_found())?;
        if message.id == last {
            found = Some(index as u64 + 1);
        }
    }
    found.ok_or_else(not_found)
}
