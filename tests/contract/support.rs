//! Shared fixtures: a recording storage and consumer, and the compiled runtime.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};

use pipeline_checkpoint_host::storage::{Expected, check_expected, content_version};
use pipeline_checkpoint_host::{
    AckError, CheckpointError, Consumer, Error, Manager, Runtime, Storage, StorageError,
};

/// One call the component made into the host, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Get(String),
    Put(String, String),
    Ack(Vec<String>),
}

/// A shared, ordered log of every host call, and the stored values.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    inner: Arc<Mutex<RecorderState>>,
}

#[derive(Debug, Default)]
struct RecorderState {
    calls: Vec<Call>,
    values: std::collections::HashMap<String, String>,
    put_failure: Option<StorageError>,
    get_failure: Option<StorageError>,
    ack_failure: Option<AckError>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }
    pub fn clear_calls(&self) {
        self.inner.lock().unwrap().calls.clear();
    }
    pub fn value(&self, key: &str) -> Option<String> {
        self.inner.lock().unwrap().values.get(key).cloned()
    }
    pub fn set_value(&self, key: &str, value: &str) {
        self.inner
            .lock()
            .unwrap()
            .values
            .insert(key.into(), value.into());
    }
    pub fn fail_puts(&self, failure: Option<StorageError>) {
        self.inner.lock().unwrap().put_failure = failure;
    }
    pub fn fail_gets(&self, failure: Option<StorageError>) {
        self.inner.lock().unwrap().get_failure = failure;
    }
    pub fn fail_acks(&self, failure: Option<AckError>) {
        self.inner.lock().unwrap().ack_failure = failure;
    }
    pub fn acked(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .flat_map(|c| match c {
                Call::Ack(ids) => ids,
                _ => Vec::new(),
            })
            .collect()
    }
    pub fn puts(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| matches!(c, Call::Put(..)))
            .count()
    }
}

impl Storage for Recorder {
    fn put(&mut self, key: &str, value: &str) -> Result<(), StorageError> {
        let current = self.value(key).map(|v| content_version(&v));
        let expected = current.map_or(Expected::Absent, Expected::Version);
        self.put_if(key, value, expected).map(drop)
    }
    fn put_if(&mut self, key: &str, value: &str, expected: Expected) -> Result<u64, StorageError> {
        let mut s = self.inner.lock().unwrap();
        s.calls.push(Call::Put(key.into(), value.into()));
        if let Some(failure) = s.put_failure.clone() {
            return Err(failure);
        }
        let current = s.values.get(key).map(|v| content_version(v));
        check_expected(key, current, expected)?;
        s.values.insert(key.into(), value.into());
        Ok(content_version(value))
    }
    fn get(&mut self, key: &str) -> Result<Option<String>, StorageError> {
        let mut s = self.inner.lock().unwrap();
        s.calls.push(Call::Get(key.into()));
        if let Some(failure) = s.get_failure.clone() {
            return Err(failure);
        }
        Ok(s.values.get(key).cloned())
    }
}

impl Consumer for Recorder {
    fn ack(&mut self, ids: &[String]) -> Result<(), AckError> {
        let mut s = self.inner.lock().unwrap();
        s.calls.push(Call::Ack(ids.to_vec()));
        match s.ack_failure.clone() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }
}

/// The component, compiled once per test process.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new().expect("the embedded component loads"))
}

/// A fixed clock: 2025-11-27T08:00:00.123456Z.
pub fn fixed_clock() -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_nanos(1_764_230_400_123_456_789)
}

pub const KEY: &str = "pipeline/checkpoint.json";

pub fn ids(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// A recorder already holding `value` under [`KEY`], with an empty call log.
pub fn recorder_holding(value: &str) -> Recorder {
    let recorder = Recorder::new();
    recorder.set_value(KEY, value);
    recorder
}

/// A manager for the default key over `recorder` (as both storage and consumer),
/// stamping records with [`fixed_clock`].
pub fn open_recorded(recorder: &Recorder) -> Manager {
    runtime()
        .open_with_clock(None, recorder.clone(), recorder.clone(), fixed_clock)
        .expect("opening a manager cannot fail")
}

/// The checkpoint error a call returned; panics on success or on a trap.
#[track_caller]
pub fn checkpoint_error<T: std::fmt::Debug>(result: Result<T, Error>) -> CheckpointError {
    match result {
        Err(Error::Checkpoint(e)) => e,
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
}

/// The trap a call returned; panics on anything else.
#[track_caller]
pub fn trap<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Err(Error::Trap(e)) => format!("{e:?}"),
        other => panic!("expected a trap, got {other:?}"),
    }
}

/// How many `ack` calls the recorder has seen.
pub fn ack_calls(recorder: &Recorder) -> usize {
    recorder
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Ack(_)))
        .count()
}

/// The offset in the record stored under [`KEY`], decoded with serde_json.
#[track_caller]
pub fn stored_offset(recorder: &Recorder) -> u64 {
    offset_in(recorder.value(KEY))
}

/// The directory `tests/fixtures/<sub>` of the workspace.
pub fn fixture_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(sub)
}

/// Every file in `tests/fixtures/<sub>`, as (file name, contents), sorted by name.
pub fn fixtures(sub: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fixture_dir(sub);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("a readable fixture"))
        })
        .collect();
    files.sort();
    files
}

/// Runs `python3 -c script` with `stdin` as its input and returns its standard output.
/// Fails the test if python3 cannot be run or exits with an error.
#[track_caller]
pub fn python(script: &str, stdin: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be runnable for the interop tests");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("python3 printed UTF-8")
}

/// The names in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs the real `host-example` binary on the state directory `state`.
pub fn host_example(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_host-example"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .expect("host-example runs")
}

/// A finished command's standard output, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A finished command's standard error, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Starts the real `host-example` on the state directory `state`, its output captured.
pub fn spawn_host_example(state: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_host-example"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("host-example starts")
}

/// Waits until the ack log at `acks` holds `batches` lines, while `child` runs.
#[track_caller]
pub fn wait_for_acked_batches(child: &mut std::process::Child, acks: &Path, batches: usize) {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while lines_in(acks) < batches {
        assert!(std::time::Instant::now() < give_up, "the run never acked");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The newline-terminated lines in the file at `path` (0 if it does not exist).
pub fn lines_in(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// The offset in a stored record's text, decoded with serde_json.
#[track_caller]
pub fn offset_in(record: Option<String>) -> u64 {
    let text = record.expect("a record is stored");
    let record: serde_json::Value = serde_json::from_str(&text).expect("the record is JSON");
    record["offset"].as_u64().expect("offset is a u64")
}
