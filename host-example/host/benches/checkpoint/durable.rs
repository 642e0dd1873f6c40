//! `durable/*`: checkpoints over real files against the floor, the durability steps
//! alone, measured in pairs over the same moments of the same disk.

use super::*;

/// The durability steps of one checkpoint and nothing else: what any correct
/// implementation must pay on this disk.
pub struct Floor {
    dir: PathBuf,
    temp: PathBuf,
    target: PathBuf,
    record: Vec<u8>,
    log: File,
    line: Vec<u8>,
}

impl Floor {
    pub fn new(root: &Path, ids: &[String]) -> Self {
        let dir = root.join("pipeline");
        fs::create_dir_all(&dir).unwrap();
        let log = OpenOptions::new()
            .append(true)
            .create(true)
            .open(root.join("acks.log"))
            .unwrap();
        let mut line = serde_json::to_vec(&json!({ "ids": ids })).unwrap();
        line.push(b'\n');
        Self {
            temp: dir.join(".checkpoint.json.tmp"),
            target: dir.join("checkpoint.json"),
            dir,
            // A record of the length the component writes.
            record: br#"{"offset":1234567,"written_at":1764230400.123456}"#.to_vec(),
            log,
            line,
        }
    }

    pub fn write(&mut self) {
        let mut temp = File::create(&self.temp).unwrap();
        temp.write_all(&self.record).unwrap();
        temp.sync_all().unwrap();
        drop(temp);
        fs::rename(&self.temp, &self.target).unwrap();
        File::open(&self.dir).unwrap().sync_all().unwrap();
        self.log.write_all(&self.line).unwrap();
        self.log.sync_data().unwrap();
    }
}

pub fn durable(
    c: &mut Criterion,
    ran: &mut Vec<BenchName>,
    ratios: &mut Vec<Value>,
    target: &Path,
) {
    let runtime = runtime();
    let executor = executor();
    // Under target/, on the disk a pipeline's state would be on: a tmpfs /tmp would
    // make fsync free and the comparison meaningless.
    let scratch = target.join("tmp");
    fs::create_dir_all(&scratch).unwrap();
    let mut group = c.benchmark_group("durable");
    // Each write is several fsyncs (around a millisecond, and far more when other
    // processes keep the disk busy): criterion's default of 100 samples growing
    // linearly would take minutes per benchmark.
    group.sampling_mode(SamplingMode::Flat).sample_size(20);
    for batch in BATCH_SIZES {
        let dirs: Vec<_> = (0..4)
            .map(|_| tempfile::tempdir_in(&scratch).unwrap())
            .collect();
        let writer = |form, dir: usize| {
            Writer::new(form, &runtime, &executor, batch, Some(dirs[dir].path()))
        };
        let mut floor = writer(Form::Floor, 0);
        let mut lent = writer(Form::ComponentBatch, 1);
        let mut list = writer(Form::ComponentList, 2);
        let mut native = writer(Form::Native, 3);
        // fsync latency drifts by tens of percent over a run, far more than the
        // checkpoint logic costs, so each benchmark alternates its write with a write of
        // the floor (the floor's with the component's) that criterion does not time.
        // The ratio to the floor is taken from those pairs, which saw the same disk.
        for (form, writer) in [
            (Form::ComponentList, &mut list),
            (Form::ComponentBatch, &mut lent),
            (Form::Native, &mut native),
        ] {
            let paired = bench_paired(&mut group, &executor, form, batch, writer, &mut floor);
            ran.push(BenchName::new("durable", form.name(), Some(batch)));
            if paired.writes > 0 {
                ratios.push(json!({
                    "series": format!("durable/{}-vs-floor", form.name()),
                    "batch": batch,
                    "writes": paired.writes,
                    "ns_per_write": paired.timed.as_nanos() as f64 / paired.writes as f64,
                    "floor_ns_per_write": paired.other.as_nanos() as f64 / paired.writes as f64,
                    "throughput_vs_floor": paired.other.as_secs_f64() / paired.timed.as_secs_f64(),
                    "source": "paired",
                }));
            }
        }
        bench_paired(
            &mut group,
            &executor,
            Form::Floor,
            batch,
            &mut floor,
            &mut lent,
        );
        ran.push(BenchName::new("durable", Form::Floor.name(), Some(batch)));
    }
    group.finish();
}

/// Times `timed`'s writes, each followed by a write of `other` that criterion does not
/// see, and returns the two writes' total times over every iteration run (warm-up
/// included): a paired measurement, taken over the same moments of the same disk.
fn bench_paired(
    group: &mut BenchmarkGroup<'_, Wall>,
    executor: &tokio::runtime::Runtime,
    form: Form,
    batch: usize,
    timed: &mut Writer,
    other: &mut Writer,
) -> Paired {
    let mut paired = Paired::default();
    group.bench_function(BenchmarkId::new(form.name(), batch), |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                executor.block_on(timed.write());
                let middle = Instant::now();
                executor.block_on(other.write());
                paired.other += middle.elapsed();
                spent += middle - start;
            }
            paired.timed += spent;
            paired.writes += iters;
            spent
        })
    });
    paired
}

/// The totals of a paired measurement.
#[derive(Default)]
struct Paired {
    timed: Duration,
    other: Duration,
    writes: u64,
}
