//! The command line: `run`, `get`, `write`, `inspect`, `reset`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use pipeline_checkpoint_host::{
    ACK_LOG_FILE, CheckpointError, DEFAULT_KEY, DynStorage, Error as HostError, Runtime,
    StorageError, StorageLocation, validate_key,
};

use crate::pipeline::SINK_FILE;

mod exit;
mod look;
mod open_files;
pub(crate) mod output;
mod run;
mod run_tenants;
mod write;

pub use exit::{Failure, UsageError};
use output::OutputError;

/// Durable pipeline checkpoints through a sandboxed WebAssembly component.
///
/// Every batch's offset is durable in the state directory before any of its messages
/// is acknowledged. Kill the process at any instant and `run` resumes from the last
/// durable checkpoint: messages may be processed twice, never lost.
///
/// Exit status: 0 success; 1 another failure; 2 a bad command line; 3 corrupt or
/// inconsistent data (record, sink, ack log or source); 4 another writer (fenced by a
/// successor, or the state directory is in use); 5 storage or upstream unavailable
/// (retry later); 6 a limit of the component's sandbox crossed.
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
    /// etcd or object storage prefix). It cannot name the state directory's own files.
    #[arg(long, global = true, default_value = DEFAULT_KEY)]
    key: String,
    /// Where checkpoint records are stored: `etcd://HOST:PORT/PREFIX[?timeout_ms=N]`
    /// for etcd; `s3://BUCKET/PREFIX[?endpoint=URL&region=R]`,
    /// `gs://BUCKET/PREFIX` or `az://CONTAINER/PREFIX?account_name=A` for an S3, Google
    /// Cloud Storage or Azure Blob Storage bucket (also `timeout_ms=N`, `retries=N`, and
    /// object_store's other keys; credentials from the cloud's environment variables,
    /// files or the machine's identity, never here); `sqlite://PATH[#TENANT]` for one SQLite database that also holds the sink and
    /// the ack log, its writes from many tenants sharing commits, or a directory
    /// (`file:DIR` or a path). Elsewhere the sink and ack log stay in the state
    /// directory. Default: the state directory.
    #[arg(long, global = true, value_name = "URL")]
    storage: Option<StorageLocation>,
    /// Load this component instead of the embedded one.
    #[arg(long, global = true, value_name = "WASM")]
    component: Option<PathBuf>,
    /// How long `run`, `write` and `reset` wait for another process that holds the
    /// state directory before they give up (0: refuse at once).
    #[arg(long, global = true, value_name = "MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    lock_wait_ms: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline: resume from the durable checkpoint, write each batch to the
    /// sink, checkpoint it, and print a summary.
    Run(run::RunArgs),
    /// Print the durable offset (0 if there is no checkpoint yet). Creates nothing.
    Get {
        /// Print a JSON object instead.
        #[arg(long)]
        json: bool,
    },
    /// Write a checkpoint and acknowledge ids, as a pipeline would after a batch.
    Write(write::WriteArgs),
    /// Show the checkpoint record, its age, the sink and the tail of the ack log.
    /// Creates nothing.
    Inspect {
        /// How many of the last acks to show.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=10_000))]
        tail: u64,
        /// Print a JSON object instead.
        #[arg(long)]
        json: bool,
    },
    /// Overwrite the checkpoint with OFFSET, whatever it holds now (even if corrupt or
    /// higher). The way out of a damaged record; it acknowledges nothing.
    Reset {
        /// The offset to resume from.
        #[arg(long)]
        offset: u64,
    },
}

/// The way out of a damaged record, which is never taken silently.
const RESET_HINT: &str = "stopped rather than restart from 0: repair the record, or resume from a known offset \
     with `host-example reset --offset N`";

/// The exit status for an outcome, after printing an error on one line. A reader that
/// closed standard output early is not an error.
pub fn report(outcome: Result<()>) -> ExitCode {
    let Err(e) = outcome else {
        return ExitCode::SUCCESS;
    };
    if e.chain().any(|c| {
        c.downcast_ref::<OutputError>()
            .is_some_and(OutputError::is_broken_pipe)
    }) {
        return ExitCode::SUCCESS;
    }
    let failure = Failure::of(&e);
    // One line: the whole cause chain, joined, and for a damaged record the way out.
    let hint = if failure == Failure::Corrupt && names_the_record(&e) {
        format!("; {RESET_HINT}")
    } else {
        String::new()
    };
    eprintln!("error: {}{hint}", one_line(&e));
    failure.code()
}

/// The cause chain on one line, each cause once: a cause whose text its predecessor
/// already shows (an `io::Error` inside a message that quotes it) is not repeated.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}

/// Whether a corrupt-data failure is the record's (the reset hint helps) rather than
/// the sink's or the source's.
fn names_the_record(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let checkpoint = cause
            .downcast_ref::<HostError>()
            .and_then(HostError::checkpoint)
            .or_else(|| cause.downcast_ref::<CheckpointError>());
        matches!(
            checkpoint,
            Some(
                CheckpointError::CorruptRecord(_)
                    | CheckpointError::ReadFailed(StorageError::InvalidData(_))
            )
        )
    })
}

impl Cli {
    /// Runs the command on a runtime of its own: `--threads` worker threads for
    /// `run --tenants` (default: one per core), else the calling thread alone. Either way
    /// file syncs run on the runtime's blocking pool.
    pub fn execute(self) -> Result<()> {
        self.state.check_key()?;
        let mut builder = match &self.command {
            Command::Run(args) if args.many_tenants() => {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                builder.worker_threads(args.worker_threads());
                builder
            }
            _ => tokio::runtime::Builder::new_current_thread(),
        };
        let runtime = builder
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        runtime.block_on(self.run_command())
    }

    async fn run_command(self) -> Result<()> {
        let state = &self.state;
        match self.command {
            Command::Run(args) => run::run(state, args).await,
            Command::Get { json } => look::get(state, json).await,
            Command::Write(args) => write::write(state, args).await,
            Command::Inspect { tail, json } => look::inspect(state, tail as usize, json).await,
            Command::Reset { offset } => write::reset(state, offset).await,
        }
    }
}

impl StateArgs {
    /// The one runtime of the process: the embedded component or `--component`.
    fn runtime(&self) -> Result<Runtime> {
        Ok(match &self.component {
            Some(path) => Runtime::from_file(path)?,
            None => Runtime::new()?,
        })
    }

    /// Where the checkpoint record is stored.
    fn location(&self) -> StorageLocation {
        self.storage
            .clone()
            .unwrap_or_else(|| StorageLocation::files(&self.state_dir))
    }

    fn lock_wait(&self) -> Duration {
        Duration::from_millis(self.lock_wait_ms)
    }

    /// The key must be a valid storage key, and must not name the state directory's
    /// own files: a record written over the sink or the ack log would destroy them.
    fn check_key(&self) -> Result<()> {
        validate_key(&self.key).with_context(|| format!("checkpoint key {:?}", self.key))?;
        let first = self.key.split('/').next().unwrap_or_default();
        if [SINK_FILE, ACK_LOG_FILE].contains(&first) {
            return Err(UsageError(format!(
                "checkpoint key {:?} names the state directory's own {first}; choose another key",
                self.key
            ))
            .into());
        }
        Ok(())
    }

    /// Takes the state directory (created if missing) for this process, waiting at most
    /// `--lock-wait-ms` for another holder, on the blocking pool.
    async fn own_state_dir(&self) -> Result<crate::pipeline::Ownership> {
        let (dir, wait) = (self.state_dir.clone(), self.lock_wait());
        let owner = tokio::task::spawn_blocking(move || -> Result<_> {
            pipeline_checkpoint_host::backends::files::create_dirs_durably(&dir)?;
            Ok(crate::pipeline::Ownership::acquire(&dir, wait)?)
        })
        .await
        .context("taking the state directory")??;
        Ok(owner)
    }

    /// Where the sink and the ack log are: beside the record, or in the state directory.
    fn logs(&self) -> std::sync::Arc<dyn pipeline_checkpoint_host::backends::logs::Logs> {
        crate::pipeline::logs_of(&self.location(), &self.state_dir)
    }

    /// The storage (read-only: creating nothing, or for writing), and where the record
    /// is in it, for messages.
    async fn open_storage(&self, read_only: bool) -> Result<(Box<dyn DynStorage>, String)> {
        let location = self.location();
        let storage = if read_only {
            location.open_read_only().await
        } else {
            location.open().await
        }
        .with_context(|| format!("checkpoint storage {location}"))?;
        Ok((storage, location.describe(&self.key)))
    }
}
