//! What multi-tenant hosting costs per tenant.
//!
//! - `tenants/instantiate/{pooling,on-demand}`: opening a tenant's manager (a fresh
//!   instance and its `checkpoint-manager`) and dropping it, with instances from a
//!   preallocated pool or allocated on demand.
//! - `tenants/cold-start/{compile,cache}`: a new host's first checkpoint: load the
//!   component (compile it, or deserialize it from the compiled-component cache),
//!   open a manager, write once.
//! - `tenants/write/{1,100,1000}-tenants`: one checkpoint (100 ids, batch form, in
//!   memory) by the next of N open tenants in turn.
//! - resident memory per idle tenant (not a criterion benchmark): in a fresh process
//!   each, the growth of the resident set (`/proc/self/statm`) while 1,000 or 10,000
//!   tenants are opened and each writes once, divided by the count. Printed, and
//!   written to `target/tenant-results.json`.
//!
//! Run with `cargo bench -p pipeline-checkpoint-host --bench tenants`.

use std::hint::black_box;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion};
use pipeline_checkpoint_host::cache::Origin;
use pipeline_checkpoint_host::{
    AckResult, COMPONENT, Consumer, Host, HostConfig, Manager, MemoryStorage, PoolConfig, Runtime,
};
use pipeline_checkpoint_test_support::uuid_shaped_id;
use serde_json::json;

const TENANT_COUNTS: [usize; 3] = [1, 100, 1_000];
const RESIDENT_COUNTS: [usize; 2] = [1_000, 10_000];

/// Set to `ALLOCATION COUNT` (`pooling 1000`), the benchmark binary only measures the
/// resident memory of COUNT idle tenants and prints it as JSON: each measurement runs
/// in a fresh process, since a process's resident set never gives back what earlier
/// work made resident.
const RESIDENT_VAR: &str = "TENANTS_BENCH_RESIDENT";

fn main() {
    if let Ok(spec) = std::env::var(RESIDENT_VAR) {
        let (allocation, count) = spec.split_once(' ').expect("ALLOCATION COUNT");
        let count: usize = count.parse().expect("a count");
        let host = host((allocation == "pooling").then_some(count as u32 + 10));
        let runtime = host.load(COMPONENT).unwrap();
        println!("{}", resident_per_tenant(allocation, &runtime, count));
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
    let pooled = host(Some(10_100));
    let on_demand = host(None);

    let mut group = c.benchmark_group("tenants");
    for (name, host) in [("pooling", &pooled), ("on-demand", &on_demand)] {
        let runtime = host.load(COMPONENT).unwrap();
        group.bench_function(BenchmarkId::new("instantiate", name), |b| {
            b.iter(|| drop(black_box(open(&runtime))))
        });
    }

    let cache = tempfile::tempdir_in(&target).unwrap();
    let cached = || HostConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..HostConfig::default()
    };
    // Fill the cache once; the `cache` series then always finds the artifact.
    assert_eq!(
        Host::new(cached())
            .unwrap()
            .load(COMPONENT)
            .unwrap()
            .origin(),
        Origin::Compiled
    );
    group.sample_size(20);
    for (name, config, origin) in [
        ("compile", HostConfig::default(), Origin::Compiled),
        ("cache", cached(), Origin::Cached),
    ] {
        group.bench_function(BenchmarkId::new("cold-start", name), |b| {
            b.iter_batched(
                || Host::new(config.clone()).unwrap(),
                |host| {
                    let runtime = host.load(COMPONENT).unwrap();
                    assert_eq!(runtime.origin(), origin);
                    let mut manager = open(&runtime);
                    block_on(manager.write_checkpoint_batch(&mut ids(), 100)).unwrap();
                    // Dropped after the timing: shutting the host down is not part of
                    // its start.
                    (host, manager)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.sample_size(100);

    let runtime = pooled.load(COMPONENT).unwrap();
    for count in TENANT_COUNTS {
        let mut tenants: Vec<Manager> = (0..count).map(|_| open(&runtime)).collect();
        let (mut ids, mut next, mut offset) = (ids(), 0, 0);
        group.bench_function(BenchmarkId::new("write", format!("{count}-tenants")), |b| {
            b.iter(|| {
                if next == 0 {
                    offset += 100;
                }
                block_on(tenants[next].write_checkpoint_batch(&mut ids, offset)).unwrap();
                next = (next + 1) % count;
            })
        });
    }
    group.finish();

    let resident: Vec<serde_json::Value> = ["pooling", "on-demand"]
        .into_iter()
        .flat_map(|allocation| RESIDENT_COUNTS.map(move |count| (allocation, count)))
        .map(|(allocation, count)| {
            let output = std::process::Command::new(std::env::current_exe().unwrap())
                .env(RESIDENT_VAR, format!("{allocation} {count}"))
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&output.stdout);
            let json = text.lines().last().unwrap_or_default();
            let measured: serde_json::Value = serde_json::from_str(json).unwrap();
            println!(
                "resident per idle tenant, {allocation}, {count} tenants: {:.1} KiB",
                measured["bytes_per_tenant"].as_f64().unwrap_or(0.0) / 1024.0
            );
            measured
        })
        .collect();
    std::fs::write(
        target.join("tenant-results.json"),
        serde_json::to_string_pretty(&json!({ "resident_per_idle_tenant": resident })).unwrap(),
    )
    .unwrap();
    c.final_summary();
}

/// A host whose instances come from a pool of `pool` slots, or on demand.
fn host(pool: Option<u32>) -> Host {
    Host::new(HostConfig {
        pool: pool.map(|instances| PoolConfig {
            instances,
            ..PoolConfig::default()
        }),
        ..HostConfig::default()
    })
    .unwrap()
}

fn open(runtime: &Runtime) -> Manager {
    block_on(runtime.open(None, MemoryStorage::new(), CountingConsumer(0))).unwrap()
}

/// Runs `future` on the benchmark's one current-thread runtime, as a task of an
/// embedder would be driven.
fn block_on<F: Future>(future: F) -> F::Output {
    static EXECUTOR: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    EXECUTOR
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        })
        .block_on(future)
}

fn ids() -> Vec<String> {
    (0..100).map(uuid_shaped_id).collect()
}

/// Opens `count` tenants, lets each write once (so each has read, written and acked,
/// then sits idle), and returns the growth of the resident set per tenant.
fn resident_per_tenant(name: &str, runtime: &Runtime, count: usize) -> serde_json::Value {
    // Settle the allocator and the runtime before measuring.
    drop(open(runtime));
    let before = resident_bytes();
    let mut tenants: Vec<Manager> = (0..count).map(|_| open(runtime)).collect();
    for tenant in &mut tenants {
        block_on(tenant.write_checkpoint_batch(&mut ids(), 100)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    let after = resident_bytes();
    let per_tenant = after.saturating_sub(before) as f64 / count as f64;
    drop(tenants);
    json!({ "allocation": name, "tenants": count, "bytes_per_tenant": per_tenant,
            "resident_before": before, "resident_after": after })
}

/// The process's resident set, from `/proc/self/statm` (pages × page size).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A consumer that only counts.
struct CountingConsumer(u64);

impl Consumer for CountingConsumer {
    async fn ack(&mut self, ids: &[String]) -> AckResult {
        self.0 += black_box(ids).len() as u64;
        Ok(())
    }
}
