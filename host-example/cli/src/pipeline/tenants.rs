//! Many independent pipelines in one process, one per tenant, all on one runtime: what
//! `host-example run --tenants N` runs.
//!
//! Each tenant is a task: all of them run at once, on however many worker threads the
//! runtime has, and a tenant waiting for its storage (a sync, a commit it shares with
//! others) holds no thread. So the number of tenants in flight is the number of
//! tenants, not of threads: SQLite's committer gathers all of their writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pipeline_checkpoint_host::{TenantError, Tenants};
use thiserror::Error;

use super::{Config, PipelineError, Summary, run};

/// Tenant `index`'s id: `tenant-0000`, `tenant-0001`, …
pub fn tenant_id(index: usize) -> String {
    format!("tenant-{index:04}")
}

/// How one tenant's run ended.
#[derive(Debug)]
pub struct TenantRun {
    /// The tenant's id.
    pub id: String,
    /// Its run's summary, or why it stopped.
    pub result: Result<Summary, TenantRunError>,
}

/// Why a tenant's run stopped.
#[derive(Debug, Error)]
pub enum TenantRunError {
    /// The tenant could not be claimed.
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// Its pipeline stopped.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// Runs `count` independent pipelines as tasks on the current runtime, each one tenant
/// of `tenants` (which validates ids and admits one run per tenant): tenant `ID` runs
/// `config` with its state directory at `ROOT/ID` and its records at the tenants'
/// records location for `ID`, so no two tenants share a file or a key. A tenant that
/// fails stops alone; the others run to the end. `progress` gets the number of messages
/// checkpointed so far, all tenants together. Returns the runs in tenant order.
pub async fn run_tenants(
    tenants: &Tenants,
    config: &Config,
    count: usize,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> Vec<TenantRun> {
    let checkpointed = Arc::new(AtomicU64::new(0));
    let progress = Arc::new(progress);
    let runs: Vec<_> = (0..count)
        .map(|index| {
            let (tenants, config) = (tenants.clone(), config.clone());
            let (checkpointed, progress) = (checkpointed.clone(), progress.clone());
            tokio::spawn(async move {
                let id = tenant_id(index);
                let result = run_tenant(&tenants, &config, &id, |delta| {
                    progress(checkpointed.fetch_add(delta, Ordering::Relaxed) + delta);
                })
                .await;
                TenantRun { id, result }
            })
        })
        .collect();
    let mut finished = Vec::with_capacity(count);
    for (index, run) in runs.into_iter().enumerate() {
        finished.push(run.await.unwrap_or_else(|e| TenantRun {
            id: tenant_id(index),
            result: Err(TenantRunError::Pipeline(PipelineError::Task(e))),
        }));
    }
    finished
}

/// Tenant `id`'s pipeline, telling `checkpointed` how many more messages each of its
/// checkpoints made durable.
async fn run_tenant(
    tenants: &Tenants,
    config: &Config,
    id: &str,
    checkpointed: impl Fn(u64),
) -> Result<Summary, TenantRunError> {
    let claim = tenants.claim(id)?;
    let tenant_config = Config {
        state_dir: claim.dir().to_owned(),
        storage: Some(claim.records().clone()),
        tenant: id.to_owned(),
        ..config.clone()
    };
    let mut last = None;
    let summary = run(tenants.runtime(), &tenant_config, |p| {
        let delta = p.offset - last.unwrap_or(p.offset);
        last = Some(p.offset);
        checkpointed(delta);
    })
    .await?;
    Ok(summary)
}
