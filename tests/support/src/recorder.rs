//! A recording storage and consumer, the compiled runtime, and helpers over them.

use std::sync::{Arc, Mutex, OnceLock};

use pipeline_checkpoint_host::storage::{Expected, Stored, check_expected, content_version};
use pipeline_checkpoint_host::{
    AckError, AckResult, CheckpointError, Consumer, Error, Fault, Manager, Runtime, Storage,
    StorageError, StorageResult,
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
    put_failure: Option<Fault<StorageError>>,
    get_failure: Option<Fault<StorageError>>,
    ack_failure: Option<Fault<AckError>>,
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
    /// Fails every put from now on with `failure` (an error or an abort); `None`
    /// stops failing.
    pub fn fail_puts(&self, failure: Option<Fault<StorageError>>) {
        self.inner.lock().unwrap().put_failure = failure;
    }
    pub fn fail_gets(&self, failure: Option<Fault<StorageError>>) {
        self.inner.lock().unwrap().get_failure = failure;
    }
    pub fn fail_acks(&self, failure: Option<Fault<AckError>>) {
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
    async fn put(&mut self, key: &str, value: &str, expected: Expected) -> StorageResult<u64> {
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
    async fn get(&mut self, key: &str) -> StorageResult<Option<Stored>> {
        let mut s = self.inner.lock().unwrap();
        s.calls.push(Call::Get(key.into()));
        if let Some(failure) = s.get_failure.clone() {
            return Err(failure);
        }
        Ok(s.values.get(key).map(|value| Stored {
            version: content_version(value),
            value: value.clone(),
        }))
    }
}

impl Consumer for Recorder {
    async fn ack(&mut self, ids: &[String]) -> AckResult {
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
pub async fn open_recorded(recorder: &Recorder) -> Manager {
    runtime()
        .open_with_clock(None, recorder.clone(), recorder.clone(), fixed_clock)
        .await
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

/// A manager over `storage`, which holds a damaged record under [`KEY`], refuses to
/// write with `corrupt-record` and acknowledges nothing.
pub async fn assert_a_write_over_it_is_corrupt_record(storage: impl Storage + 'static, what: &str) {
    let consumer = Recorder::new();
    let mut manager = runtime()
        .open(None, storage, consumer.clone())
        .await
        .unwrap();
    let result = manager.write_checkpoint(&ids(&["m"]), 5).await;
    assert!(
        matches!(
            result,
            Err(Error::Checkpoint(CheckpointError::CorruptRecord(_)))
        ),
        "{what}: {result:?}"
    );
    assert!(
        consumer.acked().is_empty(),
        "{what}: acked {:?}",
        consumer.acked()
    );
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

/// The offset in a stored record's text, decoded with serde_json.
#[track_caller]
pub fn offset_in(record: Option<String>) -> u64 {
    let text = record.expect("a record is stored");
    let record: serde_json::Value = serde_json::from_str(&text).expect("the record is JSON");
    record["offset"].as_u64().expect("offset is a u64")
}
