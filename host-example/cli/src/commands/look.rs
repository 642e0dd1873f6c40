//! `get` and `inspect`: looking at a pipeline's state, creating and changing nothing.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};

use anyhow::{Context, Result};
use pipeline_checkpoint_guest::record;
use pipeline_checkpoint_host::backends::files::AckEntry;
use pipeline_checkpoint_host::{
    ACK_LOG_FILE, CheckpointError, Error as HostError, MemoryConsumer, StorageExt,
};
use serde_json::{Value, json};

use super::StateArgs;
use super::output::{say, shown};
use crate::pipeline::{SINK_FILE, count_lines};

/// How much of a record `inspect` shows, in characters: a real record is a few dozen.
const SHOWN_CHARS: usize = 1024;

pub async fn get(state: &StateArgs, json: bool) -> Result<()> {
    let (storage, record) = state.open_storage(true).await?;
    let runtime = state.runtime()?;
    let offset = match runtime
        .open(Some(&state.key), storage, MemoryConsumer::new())
        .await
    {
        Ok(mut reader) => reader.get_checkpoint().await,
        Err(e) => Err(e),
    }
    .with_context(|| format!("checkpoint {record}"))?;
    if json {
        say!("{}", json!({ "record": record, "offset": offset }))?;
    } else {
        say!("{offset}")?;
    }
    Ok(())
}

pub async fn inspect(state: &StateArgs, tail: usize, json: bool) -> Result<()> {
    let (mut storage, path) = state.open_storage(true).await?;
    let stored = storage.value(&state.key).await;
    let logs = state.logs();
    let sink = logs.describe(SINK_FILE);
    let ack_log = logs.describe(ACK_LOG_FILE);
    // Whole logs are read on the blocking pool.
    let (reading, ack_log_name) = (logs.clone(), ack_log.clone());
    let (sink_messages, acks) = tokio::task::spawn_blocking(move || -> Result<_> {
        let sink_messages = count_lines(&*reading, SINK_FILE)?;
        let acks = ack_tail(reading.reader(ACK_LOG_FILE)?, &ack_log_name, tail)?;
        Ok((sink_messages, acks))
    })
    .await
    .context("reading the logs")??;
    let decoded = match &stored {
        Ok(Some(text)) => Some(record::decode(text).map_err(|fault| fault.to_string())),
        Ok(None) => None,
        Err(e) => Some(Err(format!("unreadable: {e}"))),
    };
    if json {
        let record = match (&stored, &decoded) {
            (Ok(Some(text)), Some(Ok(r))) => json!({
                "bytes": text.len(), "contents": shown(text, SHOWN_CHARS),
                "offset": r.offset, "written_at": r.written_at,
            }),
            (Ok(Some(text)), Some(Err(fault))) => json!({
                "bytes": text.len(), "contents": shown(text, SHOWN_CHARS), "fault": fault,
            }),
            (_, Some(Err(fault))) => json!({ "fault": fault }),
            _ => Value::Null,
        };
        let tail: Vec<Value> = acks
            .tail
            .iter()
            .map(|entry| {
                json!({
                    "offset": entry.offset, "ids": entry.ids.len(),
                    "first": entry.ids.first(), "last": entry.ids.last(),
                })
            })
            .collect();
        say!(
            "{}",
            json!({
                "record": { "path": path, "stored": record },
                "sink": { "path": sink, "messages": sink_messages },
                "ack_log": { "path": ack_log, "acks": acks.count, "tail": tail },
            })
        )?;
    } else {
        say!("record:   {path}")?;
        match &stored {
            Ok(None) => say!("contents: none (a run starts from offset 0)")?,
            // As the Rust string it is, quotes escaped: the old and familiar form.
            Ok(Some(text)) => say!("contents: {}", debug_shown(text))?,
            Err(_) => {}
        }
        match &decoded {
            Some(Ok(record)) => {
                say!("offset:   {}", record.offset)?;
                if let Some(written_at) = &record.written_at {
                    let age = written_at
                        .parse::<f64>()
                        .ok()
                        .map(|t| format!(" ({:.1} s ago)", unix_now() - t))
                        .unwrap_or_default();
                    say!("written:  {}{age}", shown(written_at, 64))?;
                }
            }
            Some(Err(fault)) => say!("offset:   unreadable: {}", shown(fault, SHOWN_CHARS))?,
            None => {}
        }
        say!("sink:     {sink} ({sink_messages} messages)")?;
        if acks.count == 0 && !acks.exists {
            say!("ack log:  {ack_log} (none yet)")?;
        } else {
            say!("ack log:  {ack_log} ({} acks)", acks.count)?;
        }
        for entry in &acks.tail {
            let covers = entry
                .offset
                .map(|o| format!(" up to offset {o}"))
                .unwrap_or_default();
            match entry.ids.as_slice() {
                [] => say!("  (no ids){covers}")?,
                [only] => say!("  1 id: {}{covers}", shown(only, 80))?,
                [first, .., last] => say!(
                    "  {} ids: {} … {}{covers}",
                    entry.ids.len(),
                    shown(first, 80),
                    shown(last, 80)
                )?,
            }
        }
    }
    if let Some(Err(fault)) = decoded {
        let error = HostError::Checkpoint(CheckpointError::CorruptRecord(fault));
        return Err(anyhow::Error::new(error).context(format!("checkpoint {path}")));
    }
    Ok(())
}

/// `text` as `escape_debug` shows it, cut to [`SHOWN_CHARS`] characters.
fn debug_shown(text: &str) -> String {
    let escaped: String = text.escape_debug().take(SHOWN_CHARS).collect();
    if text.escape_debug().nth(SHOWN_CHARS).is_some() {
        format!("{escaped}… ({} bytes in all)", text.len())
    } else {
        escaped
    }
}

/// An ack log's count of acks and its last ones.
struct AckTail {
    /// Whether there is a log at all.
    exists: bool,
    count: u64,
    tail: Vec<AckEntry>,
}

/// Reads the ack log (`None`: there is none), which `path` describes, as a stream,
/// keeping only its last `keep` lines.
fn ack_tail(log: Option<Box<dyn Read + Send>>, path: &str, keep: usize) -> Result<AckTail> {
    let Some(log) = log else {
        return Ok(AckTail {
            exists: false,
            count: 0,
            tail: Vec::new(),
        });
    };
    let mut reader = BufReader::new(log);
    let (mut count, mut last) = (0u64, VecDeque::with_capacity(keep));
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {path}"))?;
        if read == 0 || !line.ends_with(b"\n") {
            break;
        }
        count += 1;
        if keep > 0 {
            if last.len() == keep {
                last.pop_front();
            }
            last.push_back((count, line.clone()));
        }
    }
    let tail = last
        .into_iter()
        .map(|(number, line)| {
            serde_json::from_slice(&line)
                .with_context(|| format!("{path} line {number} is not an ack"))
        })
        .collect::<Result<_>>()?;
    Ok(AckTail {
        exists: true,
        count,
        tail,
    })
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
