//! The pipeline against Redis Streams: read a source stream through a consumer
//! group, append each batch to an output stream, checkpoint it through the component,
//! and acknowledge it with `XACK` only once its offset is durable.
//!
//! # Offsets and stream positions
//! The record's offset `N` says: the first `N` entries of the source stream, in id
//! order, are processed. Source entry number `p` (1-based) is output entry `0-p`,
//! which carries the source entry's id (`output.rs`). So the position to resume from
//! is found in the output itself: the source id that output entry `0-N` names. The
//! record stays the seed's `{"offset", "written_at"}`, in any storage, so a record in
//! etcd or object storage shared by two machines is all a successor needs to take over.
//!
//! # Order of effects, and why nothing is lost or doubled
//! Per batch: append to the output (durable when Redis answers, with `appendfsync
//! always`), then write the checkpoint, then `XACK` (the component's consumer). A crash
//! after the append leaves output entries past the checkpoint: the next run finds them
//! in place, for the same source entries, and appends nothing (counted as
//! redelivered). A crash after the checkpoint leaves entries pending in the group:
//! the next run claims every pending entry (`XAUTOCLAIM`) and acknowledges those the
//! checkpoint covers without processing them again. A zombie (a worker paused while a
//! successor took over) finds its late appends already in place, and its checkpoint
//! write fenced: it appends and acknowledges nothing.
//!
//! Trimming the source below the durable offset, or deleting output entries, breaks
//! the mapping: a run refuses such streams rather than guess.

mod group;
mod output;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pipeline_checkpoint_host::backends::files::create_dirs_durably;
use pipeline_checkpoint_host::backends::redis::{RedisCallError, RedisConnection, RedisStreamUrl};
use pipeline_checkpoint_host::{DEFAULT_KEY, RedisStreamConsumer, Runtime, StorageLocation};

use super::{Checkpointer, Ownership, PipelineError, Progress, Summary};
use crate::metrics::Metrics;
use group::Group;
use output::{NOT_OUR_OUTPUT, Output};

/// How long a following run waits in one `XREAD BLOCK` for new entries.
const FOLLOW_WAIT_MS: u64 = 1000;

/// What to run against Redis.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// The state directory: the lock, and the record unless `storage` is elsewhere.
    pub state_dir: PathBuf,
    /// Where the checkpoint record is stored; `None`: files in `state_dir`.
    pub storage: Option<StorageLocation>,
    /// The source stream and its consumer group.
    pub source: RedisStreamUrl,
    /// The output stream.
    pub sink: RedisStreamUrl,
    /// Entries per batch (and per checkpoint). At least 1.
    pub batch_size: usize,
    /// The checkpoint key; `None` for `pipeline/checkpoint.json`.
    pub key: Option<String>,
    /// Stop after this many batches.
    pub max_batches: Option<u64>,
    /// Keep waiting for new entries at the end of the stream, instead of stopping.
    pub follow: bool,
    /// How long to wait for another process holding the state directory.
    pub lock_wait: Duration,
    /// Where to count checkpoints, failures and the lag.
    pub metrics: Option<Arc<Metrics>>,
}

/// Runs the pipeline until the source stream is drained (or forever, with `follow`),
/// calling `progress` after every checkpoint.
pub async fn run_stream(
    runtime: &Runtime,
    config: &StreamConfig,
    mut progress: impl FnMut(Progress),
) -> Result<Summary, PipelineError> {
    let location = config
        .storage
        .clone()
        .unwrap_or_else(|| StorageLocation::files(&config.state_dir));
    let key = config.key.as_deref().unwrap_or(DEFAULT_KEY);
    let record = location.describe(key);
    let state_error = |source| PipelineError::State {
        dir: config.state_dir.clone(),
        source,
    };
    create_dirs_durably(&config.state_dir).map_err(state_error)?;
    let _owner = Ownership::acquire(&config.state_dir, config.lock_wait)?;

    let consumer_name = config
        .source
        .consumer
        .clone()
        .unwrap_or_else(default_consumer_name);
    let mut group =
        Group::join(RedisConnection::open(&config.source).await?, consumer_name).await?;
    let mut output = Output::new(RedisConnection::open(&config.sink).await?);
    let storage = location
        .open()
        .await
        .map_err(|source| PipelineError::Storage {
            location: location.to_string(),
            source,
        })?;
    let checkpoint_error = |source| PipelineError::Checkpoint {
        record: record.clone(),
        source,
    };
    let mut manager = runtime
        .open(
            Some(key),
            storage,
            RedisStreamConsumer::open(&config.source).await?,
        )
        .await
        .map_err(checkpoint_error)?;
    let checkpoint = Checkpointer::new(config.metrics.clone(), String::new());
    let resumed_from = checkpoint
        .read(&mut manager)
        .await
        .map_err(checkpoint_error)?;
    let mut cursor = resume_cursor(&mut group, &mut output, resumed_from, &record).await?;
    let mut total = group.len().await?;
    checkpoint.position(resumed_from, total);
    tracing::info!(
        offset = resumed_from,
        cursor = cursor.as_deref().unwrap_or("-"),
        consumer = group.consumer(),
        "resuming"
    );

    // Entries a previous worker was delivered and did not acknowledge: taken over, and
    // those the checkpoint covers acknowledged now (a write of the durable offset is
    // an ack alone). The rest are read again in order below.
    let pending = group.claim_pending().await?;
    let mut covered: Vec<String> = pending
        .iter()
        .filter(|id| is_covered(id, cursor.as_deref()))
        .cloned()
        .collect();
    let reacknowledged = covered.len() as u64;
    for chunk in covered.chunks_mut(config.batch_size.max(1)) {
        let mut ids = chunk.to_vec();
        checkpoint
            .acknowledge(&mut manager, &mut ids, resumed_from)
            .await
            .map_err(checkpoint_error)?;
    }
    tracing::info!(
        claimed = pending.len(),
        acknowledged = reacknowledged,
        "took over pending entries"
    );

    let started = Instant::now();
    let (mut offset, mut batches, mut redelivered) = (resumed_from, 0, 0);
    while config.max_batches.is_none_or(|max| batches < max) {
        let batch = group
            .next_batch(cursor.as_deref(), config.batch_size.max(1))
            .await?;
        total = batch.length.max(offset);
        let mut late: Vec<String> = batch
            .delivered
            .into_iter()
            .filter(|id| is_covered(id, cursor.as_deref()))
            .collect();
        if !late.is_empty() {
            // The group delivered entries the checkpoint already covers (its cursor
            // was behind, say recreated): acknowledged, not processed again.
            checkpoint
                .acknowledge(&mut manager, &mut late, offset)
                .await
                .map_err(checkpoint_error)?;
        }
        let Some((last, _)) = batch.entries.last() else {
            checkpoint.position(offset, 0);
            if !config.follow {
                break;
            }
            group.wait_after(cursor.as_deref(), FOLLOW_WAIT_MS).await?;
            continue;
        };
        let last = last.clone();
        // The batch's output is durable before its checkpoint: after a crash between
        // the two, the batch is found in place, never skipped.
        let appended = output.append(offset + 1, &batch.entries).await?;
        redelivered += appended.present;
        let next = offset + batch.entries.len() as u64;
        let mut ids: Vec<String> = batch.entries.into_iter().map(|(id, _)| id).collect();
        checkpoint
            .write(&mut manager, &mut ids, next)
            .await
            .map_err(checkpoint_error)?;
        offset = next;
        cursor = Some(last);
        batches += 1;
        checkpoint.position(offset, total.saturating_sub(offset));
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

/// The id of the last source entry the durable offset covers, from the output entry
/// at that position; `None` for offset 0.
async fn resume_cursor(
    group: &mut Group,
    output: &mut Output,
    offset: u64,
    record: &str,
) -> Result<Option<String>, PipelineError> {
    if offset == 0 {
        return Ok(None);
    }
    let Some(id) = output.source_id_at(offset).await? else {
        return Err(PipelineError::Mismatch(format!(
            "checkpoint {record} says {offset} entries were processed, but the output stream \
             {:?} has no entry {}: it was trimmed, deleted or is not this pipeline's output; \
             restore it or reset the checkpoint",
            output.stream(),
            output::output_id(offset)
        )));
    };
    if !group.contains(&id).await? {
        return Err(PipelineError::Mismatch(format!(
            "output entry {} of {:?} names source entry {id}, which the source stream {:?} \
             does not hold: the source was trimmed below the checkpoint, or this is another \
             pipeline's output",
            output::output_id(offset),
            output.stream(),
            group.stream()
        )));
    }
    Ok(Some(id))
}

/// Whether entry `id` is at or before `cursor` (the last entry the checkpoint covers).
fn is_covered(id: &str, cursor: Option<&str>) -> bool {
    match (parse_id(id), cursor.and_then(parse_id)) {
        (Some(id), Some(cursor)) => id <= cursor,
        _ => false,
    }
}

/// A stream id, `MS-SEQ`, as a pair that orders as Redis orders ids.
fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// `HOST-PID`: unique among live workers, and says where a pending entry went.
fn default_consumer_name() -> String {
    format!("{}-{}", super::ownership::host_name(), std::process::id())
}

impl From<RedisCallError> for PipelineError {
    fn from(e: RedisCallError) -> Self {
        if e.source.code() == Some(NOT_OUR_OUTPUT) {
            PipelineError::Mismatch(format!(
                "{}: {}: restore the output stream or reset the checkpoint",
                e.url,
                e.source.detail().unwrap_or_default()
            ))
        } else {
            PipelineError::Redis(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_order_as_redis_orders_them() {
        assert!(is_covered("5-0", Some("5-0")));
        assert!(is_covered("4-99", Some("5-0")));
        assert!(!is_covered("5-1", Some("5-0")));
        assert!(is_covered("9-0", Some("10-0")), "numeric, not textual");
        assert!(!is_covered("1-0", None), "nothing is covered at offset 0");
        assert!(!is_covered("garbage", Some("5-0")));
    }
}
