//! Many independent pipelines in one process, one per tenant, all on one runtime: what
//! `host-example run --tenants N` runs.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;

use super::{Config, PipelineError, Summary, run};
use crate::Runtime;

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
    pub result: Result<Summary, PipelineError>,
}

/// Runs `tenants` independent pipelines on `threads` worker threads, all on
/// `runtime`. Tenant `ID` runs `config` with its state directory at
/// `config.state_dir/ID` and its records at `config.storage`'s location for `ID`
/// (`ID/` under a directory, `PREFIX/ID` in etcd): no two tenants share a file or a
/// key. A tenant that fails stops alone; the others run to the end. `progress` gets the
/// number of messages checkpointed so far, all tenants together.
pub fn run_tenants(
    runtime: &Runtime,
    config: &Config,
    tenants: usize,
    threads: usize,
    progress: impl Fn(u64) + Sync,
) -> Vec<TenantRun> {
    let next = AtomicUsize::new(0);
    let checkpointed = AtomicU64::new(0);
    let runs = Mutex::new(Vec::with_capacity(tenants));
    thread::scope(|s| {
        for _ in 0..threads.clamp(1, tenants.max(1)) {
            s.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= tenants {
                        break;
                    }
                    let id = tenant_id(index);
                    let tenant_config = Config {
                        state_dir: config.state_dir.join(&id),
                        storage: config.storage.as_ref().map(|s| s.for_tenant(&id)),
                        ..config.clone()
                    };
                    let mut last = None;
                    let result = run(runtime, &tenant_config, |p| {
                        let delta = p.offset - last.unwrap_or(p.offset);
                        last = Some(p.offset);
                        progress(checkpointed.fetch_add(delta, Ordering::Relaxed) + delta);
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
