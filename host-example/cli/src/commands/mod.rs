//! The command line: `run`, `get`, `write`, `inspect`, `reset`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use pipeline_checkpoint_guest::record::{self, WallTime};
use pipeline_checkpoint_host::{
    ACK_LOG_FILE, CheckpointError, DEFAULT_KEY, Error as HostError, FileConsumer, Manager,
    MemoryConsumer, Runtime, Storage, StorageExt, StorageLocation, validate_key,
};

use crate::pipeline::{self, Config, SINK_FILE, Source};

/// Durable pipeline checkpoints through a sandboxed WebAssembly component.
///
/// Every batch's offset is durable in the state directory before any of its messages
/// is acknowledged. Kill the process at any instant and `run` resumes from the last
/// durable checkpoint: messages may be processed twice, never lost.
#[derive(Parser)]
#[command(name = "host-example", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    state: StateArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct StateArgs {
    /// The state directory: checkpoint record, sink and ack log.
    #[arg(long, global = true, default_value = "pipeline-state")]
    state_dir: PathBuf,
    /// The checkpoint key, a relative path inside the state directory (or under the
    /// etcd prefix).
    #[arg(long, global = true, default_value = DEFAULT_KEY)]
    key: String,
    /// Where checkpoint records are stored: `etcd://HOST:PORT/PREFIX[?timeout_ms=N]`
    /// for etcd (the sink and ack log stay in the state directory), or a directory.
    /// Default: the state directory.
    #[arg(long, global = true, value_name = "URL")]
    storage: Option<StorageLocation>,
    /// Load this component instead of the embedded one.
    #[arg(long, global = true, value_name = "WASM")]
    component: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline: resume from the durable checkpoint, write each batch to the
    /// sink, checkpoint it, and print a summary.
    Run(RunArgs),
    /// Print the durable offset (0 if there is no checkpoint yet).
    Get,
    /// Write a checkpoint and acknowledge ids, as a pipeline would after a batch.
    Write {
        /// The new offset; lower than the durable one is refused.
        #[arg(long)]
        offset: u64,
        /// The batch's message ids, comma-separated.
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        ids: Vec<String>,
    },
    /// Show the checkpoint record, its age, the sink and the tail of the ack log.
    Inspect {
        /// How many of the last acks to show.
        #[arg(long, default_value_t = 5)]
        tail: usize,
    },
    /// Overwrite the checkpoint with OFFSET, whatever it holds now (even if corrupt or
    /// higher). The way out of a damaged record; it acknowledges nothing.
    Reset {
        /// The offset to resume from.
        #[arg(long)]
        offset: u64,
    },
}

#[derive(Args)]
struct RunArgs {
    /// A JSON Lines file of messages, each an object with a unique string "id".
    #[arg(long, value_name = "FILE", conflicts_with = "messages")]
    source: Option<PathBuf>,
    /// Without --source: generate this many deterministic messages.
    #[arg(long, default_value_t = 10_000)]
    messages: u64,
    /// Messages per batch, each batch one checkpoint.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// Stop after this many batches; the next run resumes where this one stopped.
    #[arg(long)]
    max_batches: Option<u64>,
    /// Run N independent pipelines (tenants) in this process, tenant ID with its
    /// state in STATE_DIR/ID (and its records under the --storage location's ID), on
    /// one engine; print a summary per tenant and in total.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    tenants: Option<u64>,
    /// With --tenants: worker threads (default: one per core).
    #[arg(long, requires = "tenants", value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// Do not show a progress bar.
    #[arg(long)]
    quiet: bool,
}

/// The way out of a damaged record, which is never taken silently.
const RESET_HINT: &str = "stopped rather than restart from 0: repair the record, or resume from a known offset \
     with `host-example reset --offset N`";

mod run_tenants;

/// The exit status for an outcome, after printing an error on one line.
pub fn report(outcome: Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the whole cause chain, joined, and for a damaged record the
            // way out.
            let hint = if is_corrupt_record(&e) {
                format!("; {RESET_HINT}")
            } else {
                String::new()
            };
            eprintln!("error: {}{hint}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn is_corrupt_record(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<HostError>(),
            Some(HostError::Checkpoint(CheckpointError::CorruptRecord(_)))
        ) || matches!(
            cause.downcast_ref::<CheckpointError>(),
            Some(CheckpointError::CorruptRecord(_))
        )
    })
}

impl Cli {
    /// Runs the command.
    pub fn execute(self) -> Result<()> {
        execute(self)
    }
}

fn execute(cli: Cli) -> Result<()> {
    let state = &cli.state;
    match cli.command {
        Command::Run(args) => run(state, args),
        Command::Get => {
            let (mut manager, record) = open_reader(state)?;
            let offset = manager
                .get_checkpoint()
                .with_context(|| format!("checkpoint {record}"))?;
            println!("{offset}");
            Ok(())
        }
        Command::Write { offset, ids } => {
            // A damaged record is refused before the ack log is created.
            let (mut reader, record) = open_reader(state)?;
            reader
                .get_checkpoint()
                .with_context(|| format!("checkpoint {record}"))?;
            let (mut manager, record) = open_manager(state)?;
            manager
                .write_checkpoint(&ids, offset)
                .with_context(|| format!("checkpoint {record}"))?;
            println!(
                "checkpoint {offset} is durable; acknowledged {} ids",
                ids.len()
            );
            Ok(())
        }
        Command::Inspect { tail } => inspect(state, tail),
        Command::Reset { offset } => reset(state, offset),
    }
}

fn runtime(state: &StateArgs) -> Result<Runtime> {
    Ok(match &state.component {
        Some(path) => Runtime::from_file(path)?,
        None => Runtime::new()?,
    })
}

impl StateArgs {
    /// Where the checkpoint record is stored.
    fn location(&self) -> StorageLocation {
        self.storage
            .clone()
            .unwrap_or_else(|| StorageLocation::files(&self.state_dir))
    }

    /// The storage, and where the record is in it (for messages).
    fn open_storage(&self) -> Result<(Box<dyn Storage>, String)> {
        let location = self.location();
        validate_key(&self.key).with_context(|| format!("checkpoint key {:?}", self.key))?;
        let storage = location
            .open()
            .with_context(|| format!("checkpoint storage {location}"))?;
        Ok((storage, location.describe(&self.key)))
    }
}

/// A manager that can only read: its consumer is in memory, so nothing is created.
fn open_reader(state: &StateArgs) -> Result<(Manager, String)> {
    let (storage, record) = state.open_storage()?;
    let manager = runtime(state)?
        .open(Some(&state.key), storage, MemoryConsumer::new())
        .with_context(|| format!("checkpoint {record}"))?;
    Ok((manager, record))
}

/// A manager over the storage and the state directory's ack log, and where its
/// checkpoint record is.
fn open_manager(state: &StateArgs) -> Result<(Manager, String)> {
    let (storage, record) = state.open_storage()?;
    let consumer = FileConsumer::open(state.state_dir.join(ACK_LOG_FILE))?;
    let manager = runtime(state)?
        .open(Some(&state.key), storage, consumer)
        .with_context(|| format!("checkpoint {record}"))?;
    Ok((manager, record))
}

fn run(state: &StateArgs, args: RunArgs) -> Result<()> {
    let config = Config {
        state_dir: state.state_dir.clone(),
        storage: state.storage.clone(),
        source: match args.source {
            Some(path) => Source::File(path),
            None => Source::Generated {
                count: args.messages,
            },
        },
        batch_size: usize::try_from(args.batch_size).context("--batch-size is too large")?,
        key: Some(state.key.clone()),
        max_batches: args.max_batches,
    };
    if let Some(tenants) = args.tenants {
        return run_tenants::run(state, &config, tenants, args.threads, args.quiet);
    }
    let runtime = runtime(state)?;
    let bar = progress_bar(args.quiet)?;
    let summary = pipeline::run(&runtime, &config, |p| {
        bar.set_length(p.total);
        bar.set_position(p.offset);
    });
    bar.finish_and_clear();
    let summary = summary?;
    println!(
        "resumed from offset {} of {}",
        summary.resumed_from, summary.total
    );
    println!(
        "processed {} messages in {} batches ({} redelivered from the previous run)",
        summary.messages, summary.batches, summary.redelivered
    );
    if summary.reacknowledged > 0 {
        println!(
            "acknowledged {} messages the previous run checkpointed but stopped before acking",
            summary.reacknowledged
        );
    }
    let status = if summary.offset == summary.total {
        "complete"
    } else {
        "stopped early; run again to resume"
    };
    println!(
        "durable offset {} of {} ({status})",
        summary.offset, summary.total
    );
    println!(
        "{} checkpoints in {:.3} s: {:.0} checkpoints per second",
        summary.batches,
        summary.elapsed.as_secs_f64(),
        summary.checkpoints_per_second()
    );
    Ok(())
}

/// A bar of messages checkpointed, drawn only when stderr is a terminal; hidden if
/// `quiet`.
fn progress_bar(quiet: bool) -> Result<ProgressBar> {
    if quiet {
        return Ok(ProgressBar::hidden());
    }
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} messages  {per_sec}  eta {eta}")
        .context("progress template")?;
    Ok(ProgressBar::new(0).with_style(style))
}

fn inspect(state: &StateArgs, tail: usize) -> Result<()> {
    let (mut storage, path) = state.open_storage()?;
    println!("record:   {path}");
    let decoded = match storage.value(&state.key)? {
        None => {
            println!("contents: none (a run starts from offset 0)");
            None
        }
        Some(text) => {
            println!("contents: {}", text.escape_debug());
            Some(record::decode(&text))
        }
    };
    match &decoded {
        Some(Ok(record)) => {
            println!("offset:   {}", record.offset);
            if let Some(written_at) = &record.written_at {
                let age = written_at
                    .parse::<f64>()
                    .ok()
                    .map(|t| unix_now() - t)
                    .map(|age| format!(" ({age:.1} s ago)"))
                    .unwrap_or_default();
                println!("written:  {written_at}{age}");
            }
        }
        Some(Err(fault)) => println!("offset:   unreadable: {fault}"),
        None => {}
    }
    let sink = state.state_dir.join(SINK_FILE);
    println!(
        "sink:     {} ({} messages)",
        sink.display(),
        pipeline::count_lines(&sink)?
    );
    show_ack_tail(&state.state_dir.join(ACK_LOG_FILE), tail)?;
    if let Some(Err(fault)) = decoded {
        let error = HostError::Checkpoint(CheckpointError::CorruptRecord(fault.to_string()));
        return Err(anyhow::Error::new(error).context(format!("checkpoint {path}")));
    }
    Ok(())
}

fn show_ack_tail(path: &Path, tail: usize) -> Result<()> {
    if !path.exists() {
        println!("ack log:  {} (none yet)", path.display());
        return Ok(());
    }
    let acks = FileConsumer::read_log(path)?;
    println!("ack log:  {} ({} acks)", path.display(), acks.len());
    for ids in &acks[acks.len().saturating_sub(tail)..] {
        match ids.as_slice() {
            [] => println!("  (no ids)"),
            [only] => println!("  1 id: {only}"),
            [first, .., last] => println!("  {} ids: {first} … {last}", ids.len()),
        }
    }
    Ok(())
}

fn reset(state: &StateArgs, offset: u64) -> Result<()> {
    let (mut storage, path) = state.open_storage()?;
    // What was there is only reported: a record that cannot even be read is exactly
    // what a reset is for.
    let previous = match storage.value(&state.key) {
        Ok(None) => "nothing".to_owned(),
        Ok(Some(text)) => format!("{text:?}"),
        Err(e) => format!("unreadable: {e}"),
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
    storage
        .replace(&state.key, &text)
        .with_context(|| format!("resetting checkpoint {path}"))?;
    println!("checkpoint {path} reset to offset {offset} (was {previous})");
    Ok(())
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
