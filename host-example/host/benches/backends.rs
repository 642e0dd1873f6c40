//! What a checkpoint costs through each storage backend: files on the disk, and a
//! single-member etcd and a three-member etcd cluster on loopback (their data on the
//! same disk). Object storage has its own benchmark, `object_stores`.
//!
//! - `backend/latency/{files,etcd,etcd-3-members}`: one `write_checkpoint_batch` of 100 ids by one
//!   worker, over the backend and a consumer that only counts: the latency a pipeline
//!   waits for per batch.
//! - `backend/throughput/{files,etcd,etcd-3-members}-{1,8}-workers`: N workers, each with its own key
//!   and manager, writing one checkpoint each concurrently per iteration (tasks on a
//!   two-thread runtime); throughput is N ÷ the time per iteration. etcd commits
//!   concurrent writes together (one fsync for several), files fsync each on its own.
//!
//! etcd is started like the tests start theirs; a series whose server is
//! not installed is left out. Run with
//! `cargo bench -p pipeline-checkpoint-host --bench backends`.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode};
use pipeline_checkpoint_host::{DynStorage, FileStorage, Runtime};

use pipeline_checkpoint_test_support::etcd::EtcdServer;
use pipeline_checkpoint_test_support::etcd_cluster::{ClusterOptions, EtcdCluster};

#[path = "support/worker.rs"]
mod worker;

use worker::Worker;

/// Opens worker N's storage on one backend.
type OpenStorage<'a> = dyn Fn(usize) -> Box<dyn DynStorage> + 'a;
const WORKER_COUNTS: [usize; 2] = [1, 8];

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let runtime = Runtime::new().expect("the component loads");
    let executor = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Under target/, on the disk a pipeline's state would be on, not a tmpfs.
    let scratch = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp");
    std::fs::create_dir_all(&scratch).unwrap();
    let etcd = EtcdServer::start("backends benchmark");
    let cluster = EtcdCluster::start("backends benchmark", ClusterOptions::default());

    let files = |worker: usize| -> Box<dyn DynStorage> {
        let dir = tempfile::tempdir_in(&scratch).unwrap().keep();
        Box::new(FileStorage::open_blocking(dir.join(format!("worker-{worker}"))).unwrap())
    };
    let etcd_storage = |worker: usize| -> Box<dyn DynStorage> {
        let server = etcd.as_ref().expect("etcd is running");
        Box::new(server.storage(&format!("bench/worker-{worker}")))
    };
    let cluster_storage = |worker: usize| -> Box<dyn DynStorage> {
        let cluster = cluster.as_ref().expect("the etcd cluster is running");
        Box::new(cluster.storage(&format!("bench/worker-{worker}")))
    };
    let mut backends: Vec<(&str, &OpenStorage)> = vec![("files", &files)];
    if etcd.is_some() {
        backends.push(("etcd", &etcd_storage));
    }
    if cluster.is_some() {
        backends.push(("etcd-3-members", &cluster_storage));
    }

    let mut group = c.benchmark_group("backend");
    // A write is one or more fsyncs: milliseconds each.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    for &(name, open) in &backends {
        let mut worker = executor.block_on(Worker::new(&runtime, open(0)));
        group.bench_function(BenchmarkId::new("latency", name), |b| {
            b.iter(|| executor.block_on(worker.write()))
        });
        for workers in WORKER_COUNTS {
            let mut pool: Vec<Worker> = (0..workers)
                .map(|w| executor.block_on(Worker::new(&runtime, open(100 * workers + w))))
                .collect();
            let id = BenchmarkId::new("throughput", format!("{name}-{workers}-workers"));
            group.bench_function(id, |b| {
                b.iter_custom(|rounds| {
                    let started = Instant::now();
                    for _ in 0..rounds {
                        // Each worker a task; the pool comes back when all are done.
                        let tasks: Vec<_> = pool
                            .drain(..)
                            .map(|mut worker| {
                                executor.spawn(async move {
                                    worker.write().await;
                                    worker
                                })
                            })
                            .collect();
                        for task in tasks {
                            pool.push(executor.block_on(task).expect("the worker finishes"));
                        }
                    }
                    started.elapsed()
                })
            });
        }
    }
    group.finish();
    c.final_summary();
}
