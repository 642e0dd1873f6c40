//! The pipeline with its record in a real etcd: an outage in the middle of a run.

use host_example::pipeline::generated;
use pipeline_checkpoint_host::{FileConsumer, StorageExt};

use crate::etcd_server::EtcdServer;
use crate::support::{
    KEY, host_example, offset_in, spawn_host_example, stdout, wait_for_acked_batches,
};
use pipeline_checkpoint_test_support::{block_on, etcd_or_skip};

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
    let durable = offset_in(block_on(etcd.storage("outage").value(KEY)).unwrap());
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
