//! `EtcdStorage` against a real etcd: the conditional write, the error mapping, and the
//! component on top of it. An outage in the middle of a run is a CLI test.

use std::net::TcpListener;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use pipeline_checkpoint_host::storage::Expected;
use pipeline_checkpoint_host::{EtcdStorage, Fault, Storage, StorageError, StorageExt};

use crate::etcd_server::EtcdServer;
use crate::support::{KEY, assert_a_write_over_it_is_corrupt_record};
use pipeline_checkpoint_test_support::etcd_or_skip;

#[test]
fn etcd_put_if_is_a_compare_and_swap_on_mod_revision() {
    let etcd = etcd_or_skip!("etcd_put_if_is_a_compare_and_swap_on_mod_revision");
    let mut storage = etcd.storage("cas");
    assert_eq!(storage.get(KEY).unwrap(), None);

    let first = storage.put(KEY, "one", Expected::Absent).unwrap();
    let stored = storage.get(KEY).unwrap().unwrap();
    assert_eq!((stored.value.as_str(), stored.version), ("one", first));

    // Expecting absence over a stored value, or a version that was replaced: refused,
    // nothing written.
    let second = storage.put(KEY, "two", Expected::Version(first)).unwrap();
    assert!(second > first);
    for stale in [Expected::Absent, Expected::Version(first)] {
        let refused = storage.put(KEY, "stale", stale);
        assert!(
            matches!(&refused, Err(Fault::Error(StorageError::Conflict(why))) if why.to_string().contains(&second.to_string())),
            "{stale:?}: {refused:?}"
        );
    }
    assert_eq!(storage.value(KEY).unwrap().as_deref(), Some("two"));
}

/// An etcd error answer (here: a request over etcd's size limit) is a storage error
/// that carries etcd's message, and nothing is stored.
#[test]
fn etcd_errors_are_storage_errors_with_etcds_message() {
    let etcd = etcd_or_skip!("etcd_errors_are_storage_errors_with_etcds_message");
    let mut storage = etcd.storage("errors");
    let huge = "x".repeat(1_800_000); // over etcd's 1.5 MiB request limit
    let refused = storage.put(KEY, &huge, Expected::Absent);
    assert!(
        matches!(&refused, Err(Fault::Error(StorageError::Io(why))) if why.to_string().contains("too large")),
        "{refused:?}"
    );
    assert_eq!(storage.get(KEY).unwrap(), None);
}

#[test]
fn etcd_keys_live_under_their_prefix_and_are_validated() {
    let etcd = etcd_or_skip!("etcd_keys_live_under_their_prefix_and_are_validated");
    let (mut a, mut b) = (etcd.storage("tenant-a"), etcd.storage("tenant-b"));
    a.replace(KEY, "a").unwrap();
    assert_eq!(b.get(KEY).unwrap(), None);
    assert_eq!(
        raw_get(&etcd, "tenant-a/pipeline/checkpoint.json").as_deref(),
        Some(&b"a"[..])
    );
    for key in ["", "/abs", "a/../b", "a\nb"] {
        assert!(
            matches!(a.get(key), Err(Fault::Error(StorageError::InvalidKey(_)))),
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
        matches!(&got, Err(Fault::Error(StorageError::InvalidData(why))) if why.to_string().contains("UTF-8")),
        "{got:?}"
    );

    assert_a_write_over_it_is_corrupt_record(storage, "a value that is not UTF-8");
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
        let mut storage = EtcdStorage::open(url.parse().unwrap()).unwrap();
        let got = storage.get(KEY);
        assert!(
            matches!(&got, Err(Fault::Error(StorageError::Unavailable(_)))),
            "{url}: {got:?}"
        );
        let put = storage.put(KEY, "v", Expected::Absent);
        assert!(
            matches!(&put, Err(Fault::Error(StorageError::Unavailable(_)))),
            "{url}: {put:?}"
        );
    }
    drop(silent);
}

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
