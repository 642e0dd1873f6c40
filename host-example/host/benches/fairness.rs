//! What a tenant that computes without end costs its neighbours: 100 healthy tenants
//! checkpoint as tasks on a runtime of two worker threads for a while, alone, then
//! again beside a tenant whose plugin spins (the `spin` component of
//! `tests/hostile-guest/`, called again each time its deadline stops it), in
//! alternating rounds. Each round prints the healthy tenants' checkpoints per second;
//! the end, the medians and their ratio. A spinner holds at most one thread at a time
//! and yields it at every tick, so it should cost the others at most its share of the
//! threads: one of two.
//!
//! Two series: in memory (the tenants are bound by CPU, as the spinner is, the hardest
//! case), and on file storage (bound by their syncs).
//!
//! Run with `cargo bench -p pipeline-checkpoint-host --bench fairness`
//! (`FAIRNESS_SECONDS` per round, default 5; `FAIRNESS_ROUNDS`, default 3).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pipeline_checkpoint_host::{
    AckResult, COMPONENT, Consumer, DynStorage, FileStorage, Host, HostConfig, Limits,
    MemoryStorage, Runtime,
};
use pipeline_checkpoint_test_support::hostile::{self, SPIN_COMPONENT};

const HEALTHY: usize = 100;
const THREADS: usize = 2;

fn main() {
    // `cargo test --benches` runs benchmarks as tests: nothing to check here.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let seconds = env_or("FAIRNESS_SECONDS", 5);
    let rounds = env_or("FAIRNESS_ROUNDS", 3);
    let executor = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .enable_all()
        .build()
        .unwrap();
    let host = Host::new(HostConfig::default()).unwrap();
    let healthy = host.load(COMPONENT).unwrap();
    let spin_limits = Limits {
        deadline: Duration::from_secs(1),
        ..Limits::default()
    };
    let spinner = host
        .load_with_limits(&hostile::component(SPIN_COMPONENT), spin_limits)
        .unwrap();
    let scratch = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp");
    std::fs::create_dir_all(&scratch).unwrap();
    println!(
        "{HEALTHY} healthy tenants on {THREADS} worker threads, {seconds} s a round, {rounds} rounds"
    );
    for series in ["memory", "files"] {
        let (mut alone, mut beside) = (Vec::new(), Vec::new());
        for round in 1..=rounds {
            for with_spinner in [false, true] {
                let dir = tempfile::tempdir_in(&scratch).unwrap();
                let rate = executor.block_on(healthy_rate(
                    &healthy,
                    with_spinner.then_some(&spinner),
                    (series == "files").then(|| dir.path()),
                    Duration::from_secs(seconds),
                ));
                let label = if with_spinner {
                    "beside a spinner"
                } else {
                    "alone"
                };
                println!("{series} round {round} {label}: {rate:.0} checkpoints per second");
                if with_spinner {
                    beside.push(rate)
                } else {
                    alone.push(rate)
                }
            }
        }
        let (alone, beside) = (median(alone), median(beside));
        println!(
            "{series}: alone {alone:.0}, beside a spinner {beside:.0} checkpoints per second: \
             {:.2} of the rate kept (its share of the threads would leave {:.2})",
            beside / alone,
            1.0 - 1.0 / THREADS as f64
        );
    }
}

/// The healthy tenants' checkpoints per second over `length`, beside a spinning
/// tenant of `spinner` if there is one.
async fn healthy_rate(
    healthy: &Runtime,
    spinner: Option<&Runtime>,
    dir: Option<&Path>,
    length: Duration,
) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    if let Some(spinner) = spinner {
        let mut manager = spinner
            .open(None, MemoryStorage::new(), Counting)
            .await
            .unwrap();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // Stopped at its deadline, every time; called again at once.
                let _ = manager.write_checkpoint(&["spin".into()], 1).await;
            }
        }));
    }
    for t in 0..HEALTHY {
        let storage: Box<dyn DynStorage> = match dir {
            Some(dir) => Box::new(FileStorage::open(dir.join(format!("t{t}"))).await.unwrap()),
            None => Box::new(MemoryStorage::new()),
        };
        let mut manager = healthy.open(None, storage, Counting).await.unwrap();
        let (stop, written) = (stop.clone(), written.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids: Vec<String> = (0..10).map(|i| format!("t{t}-{i}")).collect();
            let mut offset = 0;
            while !stop.load(Ordering::Relaxed) {
                offset += 10;
                manager
                    .write_checkpoint_batch(&mut ids, offset)
                    .await
                    .unwrap();
                written.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(length).await;
    let count = written.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    count as f64 / elapsed.as_secs_f64()
}

/// A consumer that only counts.
struct Counting;

impl Consumer for Counting {
    async fn ack(&mut self, ids: &[String]) -> AckResult {
        std::hint::black_box(ids);
        Ok(())
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
