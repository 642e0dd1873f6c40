//! `EtcdStorage` against a real etcd: the conditional write, the error mapping, the
//! component on top of it, and an outage in the middle of a run.

use std::net::TcpListener;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use pipeline_checkpoint_host::pipeline::generated;
use pipeline_checkpoint_host::storage::Expected;
use pipeline_checkpoint_host::{
    CheckpointError, Error, EtcdStorage, FileConsumer, Storage, StorageError,
};

use crate::etcd_server::EtcdServer;
use crate::support::{
    KEY, Recorder, host_example, ids, offset_in, runtime, spawn_host_example, stdout,
    wait_for_acked_batches,
};

macro_rules! etcd_or_skip {
    ($test:literal) => {
        match EtcdServer::start($test) {
            Some(server) => server,
            None => return,
        }
    };
}

#[test]
fn etcd_put_if_is_a_compare_and_swap_on_mod_revision() {
    let etcd = etcd_or_skip!("etcd_put_if_is_a_compare_and_swap_on_mod_revision");
    let mut storage = etcd.storage("cas");
    assert_eq!(storage.get_versioned(KEY).unwrap(), None);

    let first = storage.put_if(KEY, "one", Expected::Absent).unwrap();
    let stored = storage.get_versioned(KEY).unwrap().unwrap();
    assert_eq!((stored.value.as_str(), stored.version), ("one", first));

    // Expecting absence over a stored value, or a version that was replaced: refused,
    // nothing written.
    let second = storage
        .put_if(KEY, "two", Expected::Version(first))
        .unwrap();
    assert!(second > first);
    for stale in [Expected::Absent, Expected::Version(first)] {
        let refused = storage.put_if(KEY, "stale", stale);
        assert!(
            matches!(&refused, Err(StorageError::Conflict(why)) if why.contains(&second.to_string())),
            "{stale:?}: {refused:?}"
        );
    }
    assert_eq!(storage.get(KEY).unwrap().as_deref(), Some("two"));
}

/// An etcd error answer (here: a request over etcd's size limit) is a storage error
/// that carries etcd's message, and nothing is stored.
#[test]
fn etcd_errors_are_storage_errors_with_etcds_message() {
    let etcd = etcd_or_skip!("etcd_errors_are_storage_errors_with_etcds_message");
    let mut storage = etcd.storage("errors");
    let huge = "x".repeat(1_800_000); // over etcd's 1.5 MiB request limit
    let refused = storage.put_if(KEY, &huge, Expected::Absent);
    assert!(
        matches!(&refused, Err(StorageError::Io(why)) if why.contains("too large")),
        "{refused:?}"
    );
    assert_eq!(storage.get(KEY).unwrap(), None);
}

#[test]
fn etcd_keys_live_under_their_prefix_and_are_validated() {
    let etcd = etcd_or_skip!("etcd_keys_live_under_their_prefix_and_are_validated");
    let (mut a, mut b) = (etcd.storage("tenant-a"), etcd.storage("tenant-b"));
    a.put(KEY, "a").unwrap();
    assert_eq!(b.get(KEY).unwrap(), None);
    assert_eq!(
        raw_get(&etcd, "tenant-a/pipeline/checkpoint.json").as_deref(),
        Some(&b"a"[..])
    );
    for key in ["", "/abs", "a/../b", "a\nb"] {
        assert!(
            matches!(a.get(key), Err(StorageError::InvalidKey(_))),
            "{key:?}"
        );
    }
}

#[test]
fn etcd_value_that_is_not_utf8_is_invalid_data_and_a_corrupt_record() {
    let etcd = etcd_or_skip!("etcd_value_that_is_not_utf8_is_invalid_data_and_a_corrupt_record");
    raw_put(
        &etcd,
        "bytes/pipeline/checkpoint.json",
        b"{\"offset\": \xff}",
    );
    let mut storage = etcd.storage("bytes");
    let got = storage.get(KEY);
    assert!(
        matches!(&got, Err(StorageError::InvalidData(why)) if why.contains("UTF-8")),
        "{got:?}"
    );

    let consumer = Recorder::new();
    let mut manager = runtime().open(None, storage, consumer.clone()).unwrap();
    let result = manager.write_checkpoint(&ids(&["m"]), 5);
    assert!(
        matches!(
            result,
            Err(Error::Checkpoint(CheckpointError::CorruptRecord(_)))
        ),
        "{result:?}"
    );
    assert!(consumer.acked().is_empty());
    assert_eq!(
        raw_get(&etcd, "bytes/pipeline/checkpoint.json").unwrap(),
        b"{\"offset\": \xff}"
    );
}

#[test]
fn unreachable_or_silent_etcd_is_unavailable() {
    // Nothing listens on a port just released; a listener that never accepts lets the
    // connection in and then never answers, so the call times out.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    for url in [
        format!("etcd://{closed}/p?timeout_ms=500"),
        format!("etcd://{silent_addr}/p?timeout_ms=300"),
    ] {
        let mut storage = EtcdStorage::new(url.parse().unwrap());
        let got = storage.get_versioned(KEY);
        assert!(
            matches!(&got, Err(StorageError::Unavailable(_))),
            "{url}: {got:?}"
        );
        let put = storage.put_if(KEY, "v", Expected::Absent);
        assert!(
            matches!(&put, Err(StorageError::Unavailable(_))),
            "{url}: {put:?}"
        );
    }
    drop(silent);
}

/// etcd killed while `run` is checkpointing: the run stops with a storage error, every
/// id it acked is below the durable offset, and once etcd is back the next run
/// resumes and completes with nothing lost.
#[test]
fn etcd_outage_mid_run_acks_nothing_undurable_and_the_pipeline_resumes() {
    let mut etcd =
        etcd_or_skip!("etcd_outage_mid_run_acks_nothing_undurable_and_the_pipeline_resumes");
    const MESSAGES: u64 = 30_000;
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let url = etcd.url("outage");
    let acks = state.join("acks.log");
    let messages = MESSAGES.to_string();
    let run_args = ["--storage", &url, "run", "--messages", &messages, "--quiet"];
    let mut run = spawn_host_example(&state, &run_args);
    wait_for_acked_batches(&mut run, &acks, 5);
    etcd.stop();
    let output = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the run went on without etcd");
    assert!(stderr.contains("unavailable"), "{stderr}");

    // While etcd is down, nothing more is acked: another run fails before acking.
    let acked_during_outage = std::fs::read(&acks).unwrap();
    let down = host_example(&state, &run_args);
    assert!(!down.status.success());
    assert_eq!(std::fs::read(&acks).unwrap(), acked_during_outage);

    etcd.restart();
    let durable = offset_in(etcd.storage("outage").get(KEY).unwrap());
    let acked: Vec<String> = FileConsumer::read_log(&acks).unwrap().concat();
    assert!(
        acked.len() as u64 <= durable,
        "{} messages acked, {durable} durable",
        acked.len()
    );
    let resumed = host_example(&state, &run_args);
    assert!(resumed.status.success(), "{resumed:?}");
    let summary = stdout(&resumed);
    assert!(
        summary.contains(&format!(
            "durable offset {MESSAGES} of {MESSAGES} (complete)"
        )),
        "{summary}"
    );

    // Every message is in the sink once, in order, and acknowledged.
    let sink = std::fs::read_to_string(state.join("sink.jsonl")).unwrap();
    assert_eq!(sink.lines().count() as u64, MESSAGES);
    let acked: std::collections::HashSet<String> = FileConsumer::read_log(&acks)
        .unwrap()
        .concat()
        .into_iter()
        .collect();
    for i in 0..MESSAGES {
        let message = generated(i);
        assert!(
            acked.contains(&message.id),
            "message {i} was never acknowledged"
        );
    }
}

/// Puts raw bytes under an etcd key, bypassing `EtcdStorage` (which only puts text).
fn raw_put(etcd: &EtcdServer, key: &str, value: &[u8]) {
    let body = serde_json::json!({ "key": BASE64.encode(key), "value": BASE64.encode(value) });
    gateway(etcd, "kv/put", &body);
}

/// The raw bytes under an etcd key.
fn raw_get(etcd: &EtcdServer, key: &str) -> Option<Vec<u8>> {
    let answer = gateway(
        etcd,
        "kv/range",
        &serde_json::json!({ "key": BASE64.encode(key) }),
    );
    let value = answer["kvs"][0]["value"].as_str()?;
    Some(BASE64.decode(value).unwrap())
}

fn gateway(etcd: &EtcdServer, method: &str, body: &serde_json::Value) -> serde_json::Value {
    let authority = etcd
        .url("")
        .trim_start_matches("etcd://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let text = ureq::post(&format!("http://{authority}/v3/{method}"))
        .send(body.to_string())
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&text).unwrap()
}
