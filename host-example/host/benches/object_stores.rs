//! What a checkpoint costs through object storage, on each cloud's emulator on
//! loopback (moto for S3, fake-gcs-server behind the tests' front for GCS, Azurite for
//! Azure), beside files on the disk in the same run: one `write_checkpoint_batch` of
//! 100 ids by one worker, over a consumer that only counts.
//!
//! The emulators keep objects in memory and answer from this machine: the figures
//! measure the backend's own cost (signing, HTTP, the version bookkeeping) and the
//! emulator's, not a provider's durability or a network's round trip, which dominate
//! in a real bucket. The emulators are started like the tests start theirs; a cloud
//! whose emulator is missing is left out. Run with
//! `cargo bench -p pipeline-checkpoint-host --features s3,gcs,azure --bench object_stores`.

use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode};
use pipeline_checkpoint_host::{DynStorage, FileStorage, Runtime};
use pipeline_checkpoint_test_support::object_stores::{CLOUDS, ObjectServer};

#[path = "support/worker.rs"]
mod worker;

use worker::Worker;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let executor = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let runtime = Runtime::new().expect("the component loads");
    // Under target/, on the disk a pipeline's state would be on, not a tmpfs.
    let scratch = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp");
    std::fs::create_dir_all(&scratch).unwrap();
    let dir = tempfile::tempdir_in(&scratch).unwrap();
    let servers: Vec<ObjectServer> = CLOUDS
        .into_iter()
        .filter_map(|cloud| ObjectServer::start(cloud, "object_stores benchmark"))
        .collect();
    let mut storages: Vec<(&str, Box<dyn DynStorage>)> = executor.block_on(async {
        let files = FileStorage::open(dir.path()).await.unwrap();
        let mut storages: Vec<(&str, Box<dyn DynStorage>)> = vec![("files", Box::new(files))];
        for server in &servers {
            let storage = server.storage("bench-bucket", "bench").await;
            storages.push((server.cloud().scheme(), Box::new(storage)));
        }
        storages
    });

    let mut group = c.benchmark_group("object_store");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    for (name, storage) in storages.drain(..) {
        let mut worker = executor.block_on(Worker::new(&runtime, storage));
        group.bench_function(BenchmarkId::new("latency", name), |b| {
            b.iter(|| executor.block_on(worker.write()))
        });
    }
    group.finish();
    c.final_summary();
}
