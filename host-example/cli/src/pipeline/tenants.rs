//! Many independent pipelines in one process, one per tenant, all on one runtime: what
//! `host-example run --tenants N` runs.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;

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

/// Runs `count` independent pipelines on `threads` worker threads, each one tenant of
/// `tenants` (which validates ids and admits one run per tenant): tenant `ID` runs
/// `config` with its state directory at `ROOT/ID` and its records at the tenants'
/// records location for `ID`, so no two tenants share a file or a key. A tenant that
/// fails stops alone; the others run to the end. `progress` gets the number of messages
/// checkpointed so far, all tenants together.
pub fn run_tenants(
    tenants: &Tenants,
    config: &Config,
    count: usize,
    threads: usize,
    progress: impl Fn(u64) + Sync,
) -> Vec<TenantRun> {
    let next = AtomicUsize::new(0);
    let checkpointed = AtomicU64::new(0);
    let runs = Mutex::new(Vec::with_capacity(count));
    thread::scope(|s| {
        for _ in 0..threads.clamp(1, count.max(1)) {
            s.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        break;
                    }
                    let id = tenant_id(index);
                    let mut last = None;
                    let result =
                        tenants
                            .claim(&id)
                            .map_err(TenantRunError::from)
                            .and_then(|claim| {
                                let tenant_config = Config {
                                    state_dir: claim.dir().to_owned(),
                                    storage: Some(claim.records().clone()),
                                    tenant: id.clone(),
                                    ..config.clone()
                                };
                                run(tenants.runtime(), &tenant_config, |p| {
                                    let delta = p.offset - last.unwrap_or(p.offset);
                                    last = Some(p.offset);
                                    progress(
                                        checkpointed.fetch_add(delta, Ordering::Relaxed) + delta,
                                    );
                                })
                                .map_err(TenantRunError::from)
                            });
                    let run = TenantRun { id, result };
                    runs.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((index, run));
                }
            });
        }
    });
    let mut runs = runs.into_inner().unwrap_or_else(|p| p.into_inner());
    runs.sort_by_key(|(index, _)| *index);
    runs.into_iter().map(|(_, run)| run).collect()
}
