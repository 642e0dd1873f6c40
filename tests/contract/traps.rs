//! Traps: a host `Abort` abandons the component's call, nothing is acked after it, and
//! the manager carries on from what storage holds on a fresh instance.

use pipeline_checkpoint_host::Fault;

use crate::support::*;

/// A manager over `recorder` whose durable offset is already 5, with a clean call log.
async fn at_offset_five(recorder: &Recorder) -> pipeline_checkpoint_host::Manager {
    let mut manager = open_recorded(recorder).await;
    manager.write_checkpoint(&ids(&["m-1"]), 5).await.unwrap();
    recorder.clear_calls();
    manager
}

/// A `put` that aborts makes the call trap, naming the host's reason, and nothing is
/// acked.
#[tokio::test]
async fn aborted_put_traps_and_acks_nothing() {
    let recorder = Recorder::new();
    let mut manager = at_offset_five(&recorder).await;
    recorder.fail_puts(Some(Fault::Abort("power cut".into())));

    let shown = trap(manager.write_checkpoint(&ids(&["m-2"]), 7).await);
    assert!(shown.contains("power cut"), "{shown}");
    assert_eq!(ack_calls(&recorder), 0, "{:?}", recorder.calls());
    assert_eq!(stored_offset(&recorder), 5);
}

/// After a trapped `put`, the same manager reads the offset durable before the trap,
/// and its next write runs on a fresh instance: it reads storage again, then puts,
/// then acks.
#[tokio::test]
async fn manager_recovers_from_a_trapped_put_on_a_fresh_instance() {
    let recorder = Recorder::new();
    let mut manager = at_offset_five(&recorder).await;
    recorder.fail_puts(Some(Fault::Abort("power cut".into())));
    trap(manager.write_checkpoint(&ids(&["m-2"]), 7).await);
    recorder.fail_puts(None);

    recorder.clear_calls();
    manager.write_checkpoint(&ids(&["m-2"]), 7).await.unwrap();
    let calls = recorder.calls();
    assert!(
        matches!(calls.as_slice(), [Call::Get(_), Call::Put(..), Call::Ack(a)] if *a == ids(&["m-2"])),
        "a fresh instance reads before it writes: {calls:?}"
    );
    assert_eq!(stored_offset(&recorder), 7);
}

/// The first call after a trapped `put` is `get_checkpoint`, and it returns the offset
/// that was durable before the trapped write.
#[tokio::test]
async fn get_after_trapped_put_returns_the_previous_durable_offset() {
    let recorder = Recorder::new();
    let mut manager = at_offset_five(&recorder).await;
    recorder.fail_puts(Some(Fault::Abort("power cut".into())));
    trap(manager.write_checkpoint(&ids(&["m-2"]), 7).await);
    recorder.fail_puts(None);

    assert_eq!(manager.get_checkpoint().await.unwrap(), 5);
    // The fresh instance refuses to go below what it read.
    let err = checkpoint_error(manager.write_checkpoint(&ids(&["old"]), 4).await);
    assert_eq!(
        err,
        pipeline_checkpoint_host::CheckpointError::OffsetRegression {
            durable: 5,
            requested: 4
        }
    );
}

/// The host-owned batch form traps the same way on an aborted `put` and still hands
/// the lent ids back.
#[tokio::test]
async fn trapped_batch_write_acks_nothing_and_gives_the_ids_back() {
    let recorder = Recorder::new();
    let mut manager = at_offset_five(&recorder).await;
    recorder.fail_puts(Some(Fault::Abort("power cut".into())));
    let mut batch = ids(&["h-1", "h-2"]);

    trap(manager.write_checkpoint_batch(&mut batch, 6).await);
    assert_eq!(batch, ids(&["h-1", "h-2"]));
    assert_eq!(ack_calls(&recorder), 0, "{:?}", recorder.calls());

    recorder.fail_puts(None);
    manager.write_checkpoint_batch(&mut batch, 6).await.unwrap();
    assert_eq!(recorder.acked(), batch);
    assert_eq!(stored_offset(&recorder), 6);
}

/// A consumer whose ack aborts traps the call after the record is durable; the next
/// write at the same offset acks without writing the record again.
#[tokio::test]
async fn aborted_ack_traps_after_the_record_is_durable_and_retry_acks() {
    let recorder = Recorder::new();
    let mut manager = at_offset_five(&recorder).await;
    let batch = ids(&["m-2", "m-3"]);
    recorder.fail_acks(Some(Fault::Abort("consumer crashed".into())));

    let shown = trap(manager.write_checkpoint(&batch, 7).await);
    assert!(shown.contains("consumer crashed"), "{shown}");
    assert_eq!(stored_offset(&recorder), 7);
    let stored = recorder.value(KEY).unwrap();

    recorder.fail_acks(None);
    recorder.clear_calls();
    manager.write_checkpoint(&batch, 7).await.unwrap();
    assert_eq!(
        recorder.calls(),
        [Call::Get(KEY.into()), Call::Ack(batch.clone())]
    );
    assert_eq!(recorder.value(KEY).unwrap(), stored);
}

/// A `get` that aborts traps the call with nothing put or acked; once storage reads
/// again the same manager returns the stored offset and writes normally.
#[tokio::test]
async fn aborted_get_traps_and_the_manager_recovers() {
    let recorder = recorder_holding(r#"{"offset":12,"written_at":1.5}"#);
    let mut manager = open_recorded(&recorder).await;
    recorder.fail_gets(Some(Fault::Abort("mount vanished".into())));

    let shown = trap(manager.write_checkpoint(&ids(&["m"]), 13).await);
    assert!(shown.contains("mount vanished"), "{shown}");
    trap(manager.get_checkpoint().await);
    assert_eq!(recorder.puts(), 0);
    assert_eq!(ack_calls(&recorder), 0);

    recorder.fail_gets(None);
    assert_eq!(manager.get_checkpoint().await.unwrap(), 12);
    manager.write_checkpoint(&ids(&["m"]), 13).await.unwrap();
    assert_eq!(stored_offset(&recorder), 13);
    assert_eq!(recorder.acked(), ids(&["m"]));
}

/// A brand-new manager over the same storage, as a restarted process opens, reads the
/// last durable offset, not the one whose write trapped.
#[tokio::test]
async fn new_manager_after_a_trap_reads_the_last_durable_offset() {
    let recorder = Recorder::new();
    let mut manager = at_offset_five(&recorder).await;
    recorder.fail_puts(Some(Fault::Abort("power cut".into())));
    trap(manager.write_checkpoint(&ids(&["m-2"]), 7).await);
    drop(manager);
    recorder.fail_puts(None);

    let mut restarted = open_recorded(&recorder).await;
    assert_eq!(restarted.get_checkpoint().await.unwrap(), 5);
    restarted.write_checkpoint(&ids(&["m-2"]), 7).await.unwrap();
    assert_eq!(
        open_recorded(&recorder)
            .await
            .get_checkpoint()
            .await
            .unwrap(),
        7
    );
}
