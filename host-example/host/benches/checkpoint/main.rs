//! What a checkpoint costs, against its floors and against the Python seed.
//!
//! One run measures, on the same inputs (batches of 1, 100 and 1,000 UUID-shaped ids,
//! offsets strictly increasing so every write stores a record):
//!
//! - `memory/*`: the component (`write-checkpoint` with a `list<string>`, with a
//!   `borrow<batch>`, and `get-checkpoint`) over [`MemoryStorage`] and a consumer that
//!   only counts, each call awaited on a current-thread runtime as an embedder's task
//!   awaits it, against the same manager logic compiled natively and called directly:
//!   the price of the sandbox, and of the fiber each call runs on.
//! - `durable/*`: the same over [`FileStorage`] and [`FileConsumer`] on real disk,
//!   against a loop doing only the durability steps (temporary file, fsync, rename,
//!   directory fsync, ack-log append and fdatasync): the price of everything that is
//!   not the disk. Each write alternates with one of the floor, and the ratio to the
//!   floor comes from those pairs (`durable/*-vs-floor` in the results).
//! - `startup/*`: compiling the component, opening a manager, and its first call.
//! - `python/*`: `seed_bench.py`, the Python seed's manager on this machine, over a
//!   dict and over the equivalent durable files.
//!
//! Run with `cargo bench -p pipeline-checkpoint-host --bench checkpoint`; the figures
//! go to `target/bench-results.json`, which `benches/plot.py` draws. Criterion's usual
//! flags work (`--measurement-time 1`, a name filter); set `CHECKPOINT_BENCH_PYTHON=0`
//! to skip the Python seed, and `CHECKPOINT_BENCH_COMPONENT=path.wasm` to measure
//! another build of the component than the embedded one.

use std::fs::{self, File, OpenOptions};
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::measurement::WallTime as Wall;
use criterion::{BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode};
use pipeline_checkpoint_guest::manager::{self as native, CheckpointManager};
use pipeline_checkpoint_guest::record::WallTime;
use pipeline_checkpoint_host::{
    AckError, AckResult, Consumer, DEFAULT_KEY, DynConsumer, DynStorage, Fault, FileConsumer,
    FileStorage, Manager, MemoryStorage, Runtime, Storage, StorageError, StorageExt,
};
use pipeline_checkpoint_test_support::uuid_shaped_id;
use serde_json::{Value, json};

mod durable;
mod report;

use durable::{Floor, durable};
use report::{BenchName, load_average, machine, python_seed, target_dir};

const BATCH_SIZES: [usize; 3] = [1, 100, 1_000];

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and then
    // criterion runs each benchmark once as a test and nothing is recorded.
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let target = target_dir();
    let started = SystemTime::now();
    let load_before = load_average();

    let mut c = Criterion::default()
        .output_directory(&target.join("criterion"))
        .configure_from_args();
    let mut ran = Vec::new();
    let mut ratios = Vec::new();
    memory(&mut c, &mut ran);
    durable(&mut c, &mut ran, &mut ratios, &target);
    startup(&mut c, &mut ran);
    c.final_summary();

    if !benchmarking {
        return;
    }
    let mut results: Vec<Value> = ran
        .iter()
        .filter_map(|id: &BenchName| id.estimate(&target.join("criterion"), started))
        .collect();
    results.extend(ratios);
    if std::env::var_os("CHECKPOINT_BENCH_PYTHON").is_none_or(|v| v != "0") {
        results.extend(python_seed(&target));
    }
    let load_after = load_average();
    let report = json!({
        "machine": machine(&target),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "results": results,
    });
    let path = target.join("bench-results.json");
    fs::write(&path, serde_json::to_string_pretty(&report).unwrap() + "\n")
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    eprintln!("results written to {}", path.display());
}

/// The component under test: the embedded one, or the build named by
/// `CHECKPOINT_BENCH_COMPONENT` (to compare guest profiles without rebuilding the host).
fn runtime() -> Runtime {
    match std::env::var_os("CHECKPOINT_BENCH_COMPONENT") {
        Some(path) => Runtime::from_file(Path::new(&path)).unwrap(),
        None => Runtime::new().unwrap(),
    }
}

/// `batch` generated ids: UUID-shaped, 36 bytes each, as the pipeline produces.
fn ids(batch: usize) -> Vec<String> {
    (0..batch as u64).map(uuid_shaped_id).collect()
}

/// A consumer that only counts, so the benchmark times the manager, not an upstream.
#[derive(Default)]
struct CountingConsumer {
    acked: u64,
}

impl Consumer for CountingConsumer {
    async fn ack(&mut self, ids: &[String]) -> AckResult {
        self.acked += black_box(ids).len() as u64;
        Ok(())
    }
}

/// A host [`Storage`] as the natively compiled manager's storage: the native
/// benchmarks call exactly the storage the component calls, each call driven to its end
/// where it is made (the native manager is synchronous).
struct Native<S> {
    storage: S,
    executor: tokio::runtime::Handle,
}

impl<S: Storage> native::RecordStore for Native<S> {
    type Error = Fault<StorageError>;
    fn put(
        &mut self,
        key: &str,
        value: &str,
        expected: native::Expected,
    ) -> Result<u64, Self::Error> {
        complete(&self.executor, self.storage.put(key, value, expected))
    }
    fn get(&mut self, key: &str) -> Result<Option<native::Stored>, Self::Error> {
        complete(&self.executor, self.storage.get(key))
    }
    fn conflict(error: &Self::Error) -> Option<&str> {
        match error {
            Fault::Error(StorageError::Conflict(why)) => Some(why),
            _ => None,
        }
    }
}

/// Drives `future` to its end: at once if it is ready when first polled (every call on
/// memory is), which costs the native path nothing; else on `executor` (a file's sync).
fn complete<F: Future>(executor: &tokio::runtime::Handle, future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => executor.block_on(future),
    }
}

/// The system clock as the component sees it through `wasi:clocks/wall-clock`.
fn now() -> WallTime {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    WallTime {
        seconds: since_epoch.as_secs(),
        nanoseconds: since_epoch.subsec_nanos(),
    }
}

/// The ways of writing a checkpoint that are measured.
#[derive(Clone, Copy)]
enum Form {
    /// The component, ids passed as `list<string>`.
    ComponentList,
    /// The component, ids lent as a `borrow<batch>`.
    ComponentBatch,
    /// The manager logic compiled natively.
    Native,
    /// Only the durability steps, no checkpoint logic (durable storage only).
    Floor,
}

impl Form {
    /// What runs over every storage; [`Form::Floor`] only exists on disk.
    const MANAGERS: [Form; 3] = [Form::ComponentList, Form::ComponentBatch, Form::Native];

    fn name(self) -> &'static str {
        match self {
            Form::ComponentList => "component-list",
            Form::ComponentBatch => "component-batch",
            Form::Native => "native",
            Form::Floor => "floor",
        }
    }
}

/// Something that writes checkpoints of one batch, each at the next offset.
// A handful exist per run and none moves while timed; boxing the manager would only add
// an indirection to the measured path.
#[allow(clippy::large_enum_variant)]
enum Writer {
    Component {
        manager: Manager,
        ids: Vec<String>,
        lend: bool,
        offset: u64,
    },
    Native {
        manager: CheckpointManager,
        storage: Native<Box<dyn DynStorage>>,
        consumer: Box<dyn DynConsumer>,
        ids: Vec<String>,
        offset: u64,
    },
    Floor(Floor),
}

impl Writer {
    /// A writer of `batch` ids in `form`: in memory (a map and a counting consumer)
    /// when `dir` is `None`, else through [`FileStorage`] and [`FileConsumer`] in `dir`.
    fn new(
        form: Form,
        runtime: &Runtime,
        executor: &tokio::runtime::Runtime,
        batch: usize,
        dir: Option<&Path>,
    ) -> Self {
        let ids = ids(batch);
        if let Form::Floor = form {
            return Writer::Floor(Floor::new(dir.expect("the floor is on disk"), &ids));
        }
        let (storage, consumer): (Box<dyn DynStorage>, Box<dyn DynConsumer>) = match dir {
            None => (
                Box::new(MemoryStorage::new()),
                Box::new(CountingConsumer::default()),
            ),
            Some(dir) => executor.block_on(async {
                (
                    Box::new(FileStorage::open(dir).await.unwrap()) as Box<dyn DynStorage>,
                    Box::new(FileConsumer::open(dir.join("acks.log")).await.unwrap())
                        as Box<dyn DynConsumer>,
                )
            }),
        };
        match form {
            Form::Native => Writer::Native {
                manager: CheckpointManager::new(None),
                storage: Native {
                    storage,
                    executor: executor.handle().clone(),
                },
                consumer,
                ids,
                offset: 0,
            },
            _ => Writer::Component {
                manager: executor
                    .block_on(runtime.open(None, storage, consumer))
                    .unwrap(),
                ids,
                lend: matches!(form, Form::ComponentBatch),
                offset: 0,
            },
        }
    }

    /// Writes the next checkpoint: offsets strictly increase, so every write stores a
    /// record (an equal offset would only ack). The component's write is awaited; the
    /// native manager calls the same storage and consumer synchronously.
    async fn write(&mut self) {
        match self {
            Writer::Component {
                manager,
                ids,
                lend,
                offset,
            } => {
                *offset += 1;
                match lend {
                    true => manager.write_checkpoint_batch(ids, *offset).await,
                    false => manager.write_checkpoint(ids, *offset).await,
                }
                .unwrap()
            }
            Writer::Native {
                manager,
                storage,
                consumer,
                ids,
                offset,
            } => {
                *offset += 1;
                let executor = storage.executor.clone();
                manager
                    .write_checkpoint(storage, *offset, now, || {
                        complete(&executor, consumer.ack(ids))
                    })
                    .unwrap()
            }
            Writer::Floor(floor) => floor.write(),
        }
    }

    /// Writes `iterations` checkpoints on `executor` and returns how long they took.
    fn time(&mut self, executor: &tokio::runtime::Runtime, iterations: u64) -> Duration {
        executor.block_on(async {
            let started = Instant::now();
            for _ in 0..iterations {
                self.write().await;
            }
            started.elapsed()
        })
    }
}

/// The runtime calls are awaited on: one thread, as an embedder's task would be
/// driven, with the blocking pool where files sync.
fn executor() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn memory(c: &mut Criterion, ran: &mut Vec<BenchName>) {
    let runtime = runtime();
    let executor = executor();
    let mut group = c.benchmark_group("memory");
    for batch in BATCH_SIZES {
        for form in Form::MANAGERS {
            let mut writer = Writer::new(form, &runtime, &executor, batch, None);
            group.bench_function(BenchmarkId::new(form.name(), batch), |b| {
                b.iter_custom(|iterations| writer.time(&executor, iterations))
            });
            ran.push(BenchName::new("memory", form.name(), Some(batch)));
        }
    }

    // get-checkpoint reads and decodes the stored record on every call.
    let mut storage = MemoryStorage::new();
    executor
        .block_on(storage.replace(
            DEFAULT_KEY,
            r#"{"offset":1234567,"written_at":1764230400.123456}"#,
        ))
        .unwrap();
    let mut manager = executor
        .block_on(runtime.open(None, storage.clone(), CountingConsumer::default()))
        .unwrap();
    group.bench_function("get-component", |b| {
        b.iter_custom(|iterations| {
            executor.block_on(async {
                let started = Instant::now();
                for _ in 0..iterations {
                    black_box(manager.get_checkpoint().await.unwrap());
                }
                started.elapsed()
            })
        })
    });
    let mut manager = CheckpointManager::new(None);
    let mut storage = Native {
        storage,
        executor: executor.handle().clone(),
    };
    group.bench_function("get-native", |b| {
        b.iter(|| manager.get_checkpoint::<_, AckError>(&mut storage).unwrap())
    });
    ran.push(BenchName::new("memory", "get-component", None));
    ran.push(BenchName::new("memory", "get-native", None));
    group.finish();
}

fn startup(c: &mut Criterion, ran: &mut Vec<BenchName>) {
    let mut group = c.benchmark_group("startup");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    group.bench_function("compile", |b| b.iter(runtime));
    ran.push(BenchName::new("startup", "compile", None));

    let runtime = runtime();
    let executor = executor();
    let open = || {
        executor
            .block_on(runtime.open(None, MemoryStorage::new(), CountingConsumer::default()))
            .unwrap()
    };
    group.sample_size(50);
    group.bench_function("open", |b| b.iter(open));
    ran.push(BenchName::new("startup", "open", None));

    // The first write of a manager also reads the stored record and warms the
    // instance; later writes are what `memory/*` measures.
    let mut batch = ids(100);
    group.bench_function("first-write", |b| {
        b.iter_batched(
            open,
            |mut manager| {
                executor
                    .block_on(manager.write_checkpoint_batch(&mut batch, 1))
                    .unwrap();
                manager
            },
            BatchSize::SmallInput,
        )
    });
    ran.push(BenchName::new("startup", "first-write", None));
    group.finish();
}
