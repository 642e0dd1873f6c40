//! `run`: the pipeline, with a progress bar and a summary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use pipeline_checkpoint_host::RedisStreamUrl;

use super::output::say;
use super::{StateArgs, UsageError, run_tenants};
use crate::metrics::Metrics;
use crate::pipeline::{self, Config, Latencies, Source, StreamConfig, Summary};

/// The largest batch: the component's default limit on the ids of one ack.
const MAX_BATCH_SIZE: u64 = 100_000;

#[derive(Args)]
pub struct RunArgs {
    /// Where messages come from: a JSON Lines file, each line an object with a unique
    /// string "id"; or a Redis stream, `redis://HOST:PORT/STREAM[?group=G&consumer=C&timeout_ms=N]`,
    /// read through consumer group G (default `pipeline-checkpoint`) and acknowledged
    /// with XACK once checkpointed. A Redis source needs a Redis --sink.
    #[arg(long, value_name = "FILE|URL", conflicts_with = "messages")]
    source: Option<String>,
    /// With a Redis source: the output stream, `redis://HOST:PORT/STREAM`. Source entry
    /// number P becomes output entry 0-P, so an output holds each entry once, in order.
    #[arg(long, value_name = "URL", conflicts_with = "tenants")]
    sink: Option<RedisStreamUrl>,
    /// With a Redis source: at the end of the stream, wait for new entries instead of
    /// stopping. Stop it with a signal; the next run resumes from the checkpoint.
    #[arg(long, requires = "sink")]
    follow: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics while the run lasts:
    /// checkpoints, failures by kind, checkpoint latency, durable offset and lag (per
    /// tenant with --tenants).
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<SocketAddr>,
    /// Without --source: generate this many deterministic messages.
    #[arg(long, default_value_t = 10_000)]
    messages: u64,
    /// Messages per batch, each batch one checkpoint (at most 100,000, the ids one ack
    /// may carry).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=MAX_BATCH_SIZE))]
    batch_size: u64,
    /// Stop after this many batches; the next run resumes where this one stopped.
    #[arg(long)]
    max_batches: Option<u64>,
    /// Run N independent pipelines (tenants) in this process, tenant ID with its
    /// state in STATE_DIR/ID (and its records under the --storage location's ID), on
    /// one engine; print a summary per tenant and in total.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    tenants: Option<u64>,
    /// With --tenants: the worker threads all tenants run on, as tasks (default: one
    /// per core). Syncs and other blocking I/O run on a pool of their own.
    #[arg(long, requires = "tenants", value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// Do not show a progress bar.
    #[arg(long)]
    quiet: bool,
}

impl RunArgs {
    /// Whether it runs many tenants (`--tenants`).
    pub(super) fn many_tenants(&self) -> bool {
        self.tenants.is_some()
    }

    /// The worker threads of the runtime `--tenants` runs on.
    pub(super) fn worker_threads(&self) -> usize {
        match self.threads {
            // At most 1,024, by the parser.
            Some(n) => n as usize,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

pub async fn run(state: &StateArgs, args: RunArgs) -> Result<()> {
    let threads = args.worker_threads();
    let metrics = match args.metrics_addr {
        Some(addr) => {
            let metrics = Metrics::new();
            let bound = metrics
                .serve(addr)
                .with_context(|| format!("serving metrics on {addr}"))?;
            tracing::info!(%bound, "serving metrics");
            Some(metrics)
        }
        None => None,
    };
    let redis_source = args
        .source
        .as_deref()
        .filter(|s| RedisStreamUrl::is_redis(s));
    if let Some(source) = redis_source {
        let source: RedisStreamUrl = source
            .parse()
            .map_err(|e| UsageError(format!("--source: {e}")))?;
        let Some(sink) = args.sink else {
            return Err(UsageError(
                "a Redis --source needs a Redis --sink: the output stream each entry is written to"
                    .into(),
            )
            .into());
        };
        if args.tenants.is_some() {
            return Err(UsageError("--tenants cannot read a Redis --source".into()).into());
        }
        let config = StreamConfig {
            state_dir: state.state_dir.clone(),
            storage: state.storage.clone(),
            source,
            sink,
            batch_size: args.batch_size as usize,
            key: Some(state.key.clone()),
            max_batches: args.max_batches,
            follow: args.follow,
            lock_wait: state.lock_wait(),
            metrics,
        };
        let runtime = state.runtime()?;
        let mut bar = Progress::new(args.quiet)?;
        let summary =
            pipeline::run_stream(&runtime, &config, |p| bar.show(p.offset, p.total)).await;
        bar.finish();
        return print_summary(&summary?);
    }
    if args.sink.is_some() {
        return Err(UsageError("--sink takes a Redis stream, for a Redis --source".into()).into());
    }
    let config = Config {
        state_dir: state.state_dir.clone(),
        storage: state.storage.clone(),
        source: match args.source {
            Some(path) => Source::File(PathBuf::from(path)),
            None => Source::Generated {
                count: args.messages,
            },
        },
        // At most MAX_BATCH_SIZE, by the parser.
        batch_size: args.batch_size as usize,
        key: Some(state.key.clone()),
        max_batches: args.max_batches,
        lock_wait: state.lock_wait(),
        metrics,
        tenant: String::new(),
        latencies: Some(Arc::new(Latencies::default())),
    };
    if let Some(tenants) = args.tenants {
        return run_tenants::run(state, &config, tenants, threads, args.quiet).await;
    }
    let runtime = state.runtime()?;
    let mut bar = Progress::new(args.quiet)?;
    let summary = pipeline::run(&runtime, &config, |p| bar.show(p.offset, p.total)).await;
    bar.finish();
    print_summary(&summary?)?;
    config.latencies.as_deref().map_or(Ok(()), print_latency)
}

/// The p50 and p99 of the checkpoints' latencies, from each batch's sink append to its
/// ack: the three durable steps.
pub(super) fn print_latency(latencies: &Latencies) -> Result<()> {
    if let (Some(p50), Some(p99)) = (latencies.quantile(0.5), latencies.quantile(0.99)) {
        say!(
            "checkpoint latency (sink, record, ack): p50 {:.2} ms, p99 {:.2} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        )?;
    }
    Ok(())
}

fn print_summary(summary: &Summary) -> Result<()> {
    say!(
        "resumed from offset {} of {}",
        summary.resumed_from,
        summary.total
    )?;
    say!(
        "processed {} messages in {} batches ({} redelivered from the previous run)",
        summary.messages,
        summary.batches,
        summary.redelivered
    )?;
    if summary.reacknowledged > 0 {
        say!(
            "acknowledged {} messages the previous run checkpointed but stopped before acking",
            summary.reacknowledged
        )?;
    }
    let status = if summary.offset == summary.total {
        "complete"
    } else {
        "stopped early; run again to resume"
    };
    say!(
        "durable offset {} of {} ({status})",
        summary.offset,
        summary.total
    )?;
    say!(
        "{} checkpoints in {:.3} s: {:.0} checkpoints per second",
        summary.batches,
        summary.elapsed.as_secs_f64(),
        summary.checkpoints_per_second()
    )?;
    Ok(())
}

/// A bar of messages checkpointed, drawn only when stderr is a terminal (hidden if
/// `quiet`), with a rate and an ETA of its own: measured over this run's messages
/// only, since a resumed run starts far along the bar.
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    first: Option<u64>,
}

impl Progress {
    pub fn new(quiet: bool) -> Result<Self> {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            let style = ProgressStyle::with_template("{bar:40} {pos}/{len} messages  {msg}")
                .context("progress template")?;
            ProgressBar::new(0).with_style(style)
        };
        Ok(Self {
            bar,
            started: Instant::now(),
            first: None,
        })
    }

    /// Shows `done` of `total` messages.
    pub fn show(&mut self, done: u64, total: u64) {
        let first = *self.first.get_or_insert(done);
        self.bar.set_length(total);
        self.bar.set_position(done);
        let seconds = self.started.elapsed().as_secs_f64();
        if seconds > 0.0 && done > first {
            let rate = (done - first) as f64 / seconds;
            let eta = total.saturating_sub(done) as f64 / rate;
            self.bar
                .set_message(format!("{rate:.0} messages/s  eta {}", duration(eta)));
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// Shows a count of messages without a total (many tenants at once).
    pub fn count(&self, done: u64) {
        self.bar.set_position(done);
    }
}

/// Seconds as `1h02m`, `3m05s` or `42s`.
fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}
