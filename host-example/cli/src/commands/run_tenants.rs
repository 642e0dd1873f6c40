//! `host-example run --tenants N`: N independent pipelines on one engine, all at once
//! as tasks on the runtime's worker threads, with a summary line per tenant and one in
//! total.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use pipeline_checkpoint_host::{COMPONENT, Host, HostConfig, PoolConfig, Tenants};

use super::StateArgs;
use super::output::say;
use super::run::Progress;
use crate::pipeline::{Config, Latencies, run_tenants};

/// Runs `tenants` pipelines on the current runtime, whose `threads` worker threads
/// the caller started.
pub async fn run(
    state: &StateArgs,
    config: &Config,
    tenants: u64,
    threads: usize,
    quiet: bool,
) -> Result<()> {
    let tenants = usize::try_from(tenants).context("--tenants is too large")?;
    // Every tenant holds a state directory's lock, and files of its own: more than the
    // default soft limit of open files for a few hundred tenants.
    super::open_files::raise_limit(tenants);
    // One engine, one compiled component, a pool with a slot for every manager that
    // can be open at once: every tenant's, and one to spare. A tenant opens a manager
    // or two before its run's, and their slots give their pages back: with thousands
    // of tenants starting at once, slots kept resident would outweigh the tenants.
    let host = Host::new(HostConfig {
        pool: Some(PoolConfig {
            instances: u32::try_from(tenants + 1).context("--tenants is too large")?,
            keep_resident_bytes: 0,
            ..PoolConfig::default()
        }),
        ..HostConfig::default()
    })?;
    let runtime = match &state.component {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            host.load(&bytes)?
        }
        None => host.load(COMPONENT)?,
    };

    let bar = Arc::new(Progress::new(quiet)?);
    let started = Instant::now();
    let mut all = Tenants::new(runtime, &state.state_dir);
    if let Some(records) = &state.storage {
        all = all.with_records(records.clone());
    }
    let latencies = Arc::new(Latencies::default());
    let config = &Config {
        latencies: Some(latencies.clone()),
        ..config.clone()
    };
    let counting = bar.clone();
    let runs = run_tenants(&all, config, tenants, move |checkpointed| {
        counting.count(checkpointed);
    })
    .await;
    bar.finish();
    let elapsed = started.elapsed();

    let (mut messages, mut checkpoints, mut complete, mut failed) = (0, 0, 0, 0);
    for run in &runs {
        match &run.result {
            Ok(summary) => {
                let status = if summary.offset == summary.total {
                    complete += 1;
                    "complete"
                } else {
                    "stopped early"
                };
                say!(
                    "{}: resumed from {}, processed {} messages in {} batches ({} redelivered), \
                     durable offset {} of {} ({status})",
                    run.id,
                    summary.resumed_from,
                    summary.messages,
                    summary.batches,
                    summary.redelivered,
                    summary.offset,
                    summary.total
                )?;
                messages += summary.messages;
                checkpoints += summary.batches;
            }
            Err(e) => {
                failed += 1;
                say!("{}: error: {}", run.id, causes(e))?;
            }
        }
    }
    say!(
        "{tenants} tenants on {threads} threads: {complete} complete, {failed} failed; {messages} \
         messages in {checkpoints} checkpoints in {:.3} s: {:.0} checkpoints per second",
        elapsed.as_secs_f64(),
        checkpoints as f64 / elapsed.as_secs_f64().max(1e-9)
    )?;
    super::run::print_latency(&latencies)?;
    if failed > 0 {
        bail!("{failed} of {tenants} tenants failed (see their lines above)");
    }
    Ok(())
}

/// An error and its causes on one line, as `main` prints errors.
fn causes(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line.replace('\n', " ")
}
