//! Two workers on one key, in two processes: the one that lost the key is fenced. It
//! acks nothing more and the stored offset stays its successor's, on every backend.
//!
//! The stale worker is this test process, holding a manager (the library, the real
//! component) that wrote a checkpoint and then "paused"; the successor is a separate
//! `host-example` process on the same storage, which reads the checkpoint and moves
//! it on. A third test pauses a real `host-example run` with SIGSTOP, the way a long
//! GC pause or a frozen VM would, while another process takes over.

use std::path::Path;

use pipeline_checkpoint_host::blocking::BlockingManager;
use pipeline_checkpoint_host::{
    CheckpointError, Error, FileConsumer, FileStorage, Storage, StorageExt,
};
use pipeline_checkpoint_test_support::block_on;

use crate::etcd_server::EtcdServer;
use crate::support::{
    KEY, Recorder, host_example, ids, lines_in, offset_in, runtime, signal, spawn_host_example,
    stdout, wait_for_acked_batches,
};
use pipeline_checkpoint_host::backends::object_storage::Cloud;
use pipeline_checkpoint_test_support::object_stores::ObjectServer;

#[test]
fn stale_worker_is_fenced_and_acks_nothing_with_file_storage() {
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path().join("records");
    let storage = FileStorage::open_blocking(&records).unwrap();
    let location = records.to_str().unwrap().to_owned();
    stale_worker_is_fenced(storage, &location, tmp.path(), || {
        block_on(FileStorage::open_blocking(&records).unwrap().value(KEY)).unwrap()
    });
}

#[test]
fn stale_worker_is_fenced_and_acks_nothing_with_etcd() {
    let Some(etcd) = EtcdServer::start("stale_worker_is_fenced_and_acks_nothing_with_etcd") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    stale_worker_is_fenced(
        etcd.storage("fencing"),
        &etcd.url("fencing"),
        tmp.path(),
        || block_on(etcd.storage("fencing").value(KEY)).unwrap(),
    );
}

#[test]
fn stale_worker_is_fenced_and_acks_nothing_with_s3() {
    stale_worker_is_fenced_in(Cloud::S3, "stale_worker_is_fenced_and_acks_nothing_with_s3");
}

#[test]
fn stale_worker_is_fenced_and_acks_nothing_with_gcs() {
    stale_worker_is_fenced_in(
        Cloud::Gcs,
        "stale_worker_is_fenced_and_acks_nothing_with_gcs",
    );
}

#[test]
fn stale_worker_is_fenced_and_acks_nothing_with_azure() {
    stale_worker_is_fenced_in(
        Cloud::Azure,
        "stale_worker_is_fenced_and_acks_nothing_with_azure",
    );
}

/// [`stale_worker_is_fenced`] with the record in `cloud`'s emulator. The stale
/// worker's storage is opened without the probe (which the successor's run makes):
/// its first requests are then made on the runtime of the manager that uses it.
fn stale_worker_is_fenced_in(cloud: Cloud, test: &str) {
    let Some(server) = ObjectServer::start(cloud, test) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let url = server.cli_url("fencing", "f");
    stale_worker_is_fenced(
        server.open_read_only(&server.url("fencing", "f")).unwrap(),
        &url,
        tmp.path(),
        || {
            server
                .object("fencing", "f/pipeline/checkpoint.json")
                .map(|bytes| String::from_utf8(bytes).unwrap())
        },
    );
}

/// Worker A (this process) checkpoints 100 over `storage`; worker B (`host-example
/// write` over `--storage location`) takes over at 300; A's next writes are fenced
/// whatever their offset, ack nothing, and leave B's record in place.
fn stale_worker_is_fenced(
    storage: impl Storage + 'static,
    location: &str,
    tmp: &Path,
    stored: impl Fn() -> Option<String>,
) {
    let consumer = Recorder::new();
    let mut stale = BlockingManager::open(runtime(), None, storage, consumer.clone()).unwrap();
    let first = ids(&["a-1", "a-2"]);
    stale.write_checkpoint(&first, 100).unwrap();
    assert_eq!(consumer.acked(), first);

    let successor = host_example(
        &tmp.join("successor"),
        &[
            "--storage",
            location,
            "write",
            "--offset",
            "300",
            "--ids",
            "b-1",
        ],
    );
    assert!(successor.status.success(), "{successor:?}");
    assert!(stdout(&successor).contains("checkpoint 300 is durable"));

    for (offset, batch) in [(200, ["a-3"]), (400, ["a-4"]), (100, ["a-1"])] {
        let result = stale.write_checkpoint(&ids(&batch), offset);
        assert!(
            matches!(result, Err(Error::Checkpoint(CheckpointError::Fenced(_)))),
            "offset {offset}: {result:?}"
        );
    }
    assert_eq!(consumer.acked(), first, "a fenced worker acked");
    assert_eq!(
        offset_in(stored()),
        300,
        "the successor's record was overwritten"
    );

    // Reading still works, and says who won.
    assert_eq!(stale.get_checkpoint().unwrap(), 300);
}

/// `host-example run` is frozen with SIGSTOP mid-stream while another process moves
/// the checkpoint past it; once thawed, its next checkpoint is fenced: it exits with
/// the error, acks nothing past the offset it had made durable, and the successor's
/// offset stays.
#[test]
fn frozen_run_thawed_after_a_takeover_is_fenced() {
    let Some(etcd) = EtcdServer::start("frozen_run_thawed_after_a_takeover_is_fenced") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let url = etcd.url("frozen");
    let (state, acks) = (tmp.path().join("stale"), tmp.path().join("stale/acks.log"));
    let mut stale = spawn_host_example(
        &state,
        &["--storage", &url, "run", "--messages", "200000", "--quiet"],
    );
    // Freeze it once it has acked a few batches.
    wait_for_acked_batches(&mut stale, &acks, 3);
    signal(stale.id(), "STOP");
    let acked_when_frozen = lines_in(&acks);
    let frozen_at = offset_in(block_on(etcd.storage("frozen").value(KEY)).unwrap());

    let taken_over = frozen_at + 1_000;
    let successor = host_example(
        &tmp.path().join("successor"),
        &[
            "--storage",
            &url,
            "write",
            "--offset",
            &taken_over.to_string(),
        ],
    );
    assert!(successor.status.success(), "{successor:?}");

    signal(stale.id(), "CONT");
    let output = stale.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the stale run was not stopped");
    assert!(stderr.contains("fenced"), "{stderr}");
    assert_eq!(
        offset_in(block_on(etcd.storage("frozen").value(KEY)).unwrap()),
        taken_over
    );
    // At most the batch in flight when frozen was acked after the freeze, and only if
    // its checkpoint had been durable before the takeover.
    let acked = FileConsumer::read_log(&acks).unwrap();
    assert!(acked.len() <= acked_when_frozen + 1, "{} acks", acked.len());
    let last_acked = acked.concat().len() as u64;
    assert!(
        last_acked <= frozen_at,
        "acked {last_acked} messages, only {frozen_at} were durable"
    );
}
