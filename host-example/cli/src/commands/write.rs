//! `write` and `reset`: the two commands that change a checkpoint by hand. Both hold
//! the state directory, as `run` does, while they work.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use pipeline_checkpoint_guest::record::{self, WallTime};
use pipeline_checkpoint_host::storage::Expected;
use pipeline_checkpoint_host::{
    ACK_LOG_FILE, FileConsumer, Limits, MemoryConsumer, Storage, StorageExt,
};

use super::output::{say, shown};
use super::{StateArgs, UsageError};

#[derive(Args)]
pub struct WriteArgs {
    /// The new offset; lower than the durable one is refused.
    #[arg(long)]
    offset: u64,
    /// The batch's message ids, comma-separated.
    #[arg(long, value_delimiter = ',', num_args = 0..)]
    ids: Vec<String>,
    /// One message id; repeat for more. Any text, commas included.
    #[arg(long = "id", value_name = "ID")]
    id: Vec<String>,
    /// A file of message ids, one per line.
    #[arg(long, value_name = "FILE")]
    ids_file: Option<PathBuf>,
}

pub async fn write(state: &StateArgs, args: WriteArgs) -> Result<()> {
    let ids = batch(&args)?;
    let runtime = state.runtime()?;
    // Every id is checked against the component's limits before anything is written:
    // a batch the component would refuse must not leave its offset durable unacked.
    check_ids(&ids, &runtime.limits())?;
    let (reader_storage, record) = state.open_storage(true).await?;
    // A damaged record is refused before the state directory is touched.
    match runtime
        .open(Some(&state.key), reader_storage, MemoryConsumer::new())
        .await
    {
        Ok(mut reader) => reader.get_checkpoint().await,
        Err(e) => Err(e),
    }
    .with_context(|| format!("checkpoint {record}"))?;
    let _owner = state.own_state_dir().await?;
    let (storage, record) = state.open_storage(false).await?;
    let logs = state.logs();
    let consumer =
        FileConsumer::on_log(logs.open(ACK_LOG_FILE).await?, logs.describe(ACK_LOG_FILE));
    match runtime.open(Some(&state.key), storage, consumer).await {
        Ok(mut manager) => manager.write_checkpoint(&ids, args.offset).await,
        Err(e) => Err(e),
    }
    .with_context(|| format!("checkpoint {record}"))?;
    say!(
        "checkpoint {} is durable; acknowledged {} ids",
        args.offset,
        ids.len()
    )?;
    Ok(())
}

/// The ids of `--ids`, `--id` and `--ids-file`, in that order.
fn batch(args: &WriteArgs) -> Result<Vec<String>> {
    let mut ids: Vec<String> = args.ids.iter().chain(&args.id).cloned().collect();
    if let Some(path) = &args.ids_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading ids from {}", path.display()))?;
        ids.extend(
            text.lines()
                .map(|line| line.trim_end_matches('\r').to_owned()),
        );
    }
    Ok(ids)
}

/// Refuses a batch the component would refuse, or that `run` would: an empty id, an
/// id over `limits.id_bytes`, more ids than `limits.ids_per_ack`.
fn check_ids(ids: &[String], limits: &Limits) -> Result<()> {
    if ids.len() > limits.ids_per_ack {
        return Err(UsageError(format!(
            "{} ids in one batch; the limit is {}: nothing was written",
            ids.len(),
            limits.ids_per_ack
        ))
        .into());
    }
    for (number, id) in ids.iter().enumerate() {
        if id.is_empty() {
            return Err(
                UsageError(format!("id {} is empty: nothing was written", number + 1)).into(),
            );
        }
        if id.len() > limits.id_bytes {
            return Err(UsageError(format!(
                "id {} is {} bytes; the limit is {}: nothing was written",
                number + 1,
                id.len(),
                limits.id_bytes
            ))
            .into());
        }
    }
    Ok(())
}

pub async fn reset(state: &StateArgs, offset: u64) -> Result<()> {
    let _owner = state.own_state_dir().await?;
    let (mut storage, path) = state.open_storage(false).await?;
    // What was there is only reported: a record that cannot even be read is exactly
    // what a reset is for.
    let previous = match storage.value(&state.key).await {
        Ok(None) => "nothing".to_owned(),
        Ok(Some(text)) => format!("\"{}\"", shown(&text, 256)),
        Err(e) => format!("unreadable: {}", shown(&e.to_string(), 256)),
    };
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut text = String::new();
    record::encode(
        offset,
        WallTime {
            seconds: since_epoch.as_secs(),
            nanoseconds: since_epoch.subsec_nanos(),
        },
        &mut text,
    );
    // Replaces whatever it holds, still conditionally on what was read, so a writer
    // that got in between is reported rather than undone; bytes that cannot be read as
    // a record count as absent.
    let expected = match storage.get(&state.key).await {
        Ok(Some(stored)) => Expected::Version(stored.version),
        _ => Expected::Absent,
    };
    storage
        .put(&state.key, &text, expected)
        .await
        .with_context(|| format!("resetting checkpoint {path}"))?;
    say!("checkpoint {path} reset to offset {offset} (was {previous})")?;
    Ok(())
}
