//! What a run of the checkpoint benchmark reports besides criterion's own output: its
//! estimates gathered into one file, the Python seed's figures, and the machine.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use serde_json::{Value, json};

/// A benchmark's place in criterion's output directory.
pub struct BenchName {
    group: &'static str,
    function: &'static str,
    batch: Option<usize>,
}

impl BenchName {
    pub fn new(group: &'static str, function: &'static str, batch: Option<usize>) -> Self {
        Self {
            group,
            function,
            batch,
        }
    }

    /// Criterion's estimates for this benchmark, if this run measured it.
    pub fn estimate(&self, criterion_dir: &Path, since: SystemTime) -> Option<Value> {
        let mut dir = criterion_dir.join(self.group).join(self.function);
        if let Some(batch) = self.batch {
            dir = dir.join(batch.to_string());
        }
        let file = dir.join("new/estimates.json");
        // Filtered out of this run: its estimates, if any, are an older run's.
        let modified = fs::metadata(&file).and_then(|m| m.modified()).ok()?;
        if modified < since {
            return None;
        }
        let estimates: Value = serde_json::from_slice(&fs::read(&file).ok()?).ok()?;
        // The median is the headline: on a shared machine, other processes' bursts
        // drag the mean up more than the median.
        let median = estimates["median"]["point_estimate"].as_f64()?;
        let mean = &estimates["mean"];
        Some(json!({
            "series": format!("{}/{}", self.group, self.function),
            "batch": self.batch,
            "ns_per_write": median,
            "ns_mean": mean["point_estimate"],
            "ns_mean_low": mean["confidence_interval"]["lower_bound"],
            "ns_mean_high": mean["confidence_interval"]["upper_bound"],
            "source": "criterion",
        }))
    }
}

/// Runs `seed_bench.py` and returns its figures.
pub fn python_seed(target: &Path) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/seed_bench.py");
    let scratch = target.join("tmp");
    fs::create_dir_all(&scratch).unwrap();
    eprintln!("running {}", script.display());
    let output = Command::new("python3")
        .arg(&script)
        .arg("--dir")
        .arg(&scratch)
        .output()
        .unwrap_or_else(|e| panic!("running python3 {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let mut figure: Value = serde_json::from_str(line).unwrap();
            eprintln!("{line}");
            figure["source"] = json!("seed_bench.py");
            figure
        })
        .collect()
}

/// The workspace's target directory: cargo tells benchmarks where its `tmp` is.
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is target/tmp")
        .to_owned()
}

pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// What the figures were measured on.
pub fn machine(target: &Path) -> Value {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned());
    let df = Command::new("df")
        .arg("-T")
        .arg(target)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "cpu_model": cpu,
        "disk": df,
        "kernel": fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned()),
    })
}
