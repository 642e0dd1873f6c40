//! The durable offset never moves backwards, and reading it never writes.

use pipeline_checkpoint_host::CheckpointError;

use crate::support::*;

/// A record holding `offset`, in the component's own format.
fn record(offset: u64) -> String {
    format!(r#"{{"offset":{offset},"written_at":1764230400.123456}}"#)
}

/// Writing an offset lower than the durable one is refused as `OffsetRegression`
/// naming both offsets; nothing is put or acked and the record is unchanged.
#[tokio::test]
async fn lower_offset_is_refused_without_put_or_ack() {
    let recorder = Recorder::new();
    let mut manager = open_recorded(&recorder).await;
    manager.write_checkpoint(&ids(&["a"]), 20).await.unwrap();
    let stored = recorder.value(KEY).unwrap();
    recorder.clear_calls();

    for lower in [19, 1, 0] {
        let err = checkpoint_error(manager.write_checkpoint(&ids(&["late"]), lower).await);
        let expected = CheckpointError::OffsetRegression {
            durable: 20,
            requested: lower,
        };
        assert_eq!(err, expected);
        let mut batch = ids(&["late"]);
        let err = checkpoint_error(manager.write_checkpoint_batch(&mut batch, lower).await);
        assert_eq!(err, expected);
    }
    assert_eq!(recorder.calls(), [], "a refused write touches nothing");
    assert_eq!(recorder.value(KEY).unwrap(), stored);
    assert_eq!(manager.get_checkpoint().await.unwrap(), 20);
}

/// Writing the durable offset again is an idempotent retry: it acks the batch again
/// and does not rewrite the record.
#[tokio::test]
async fn equal_offset_acks_again_without_a_second_put() {
    let recorder = Recorder::new();
    let mut manager = open_recorded(&recorder).await;
    let batch = ids(&["a", "b"]);
    manager.write_checkpoint(&batch, 20).await.unwrap();
    let stored = recorder.value(KEY).unwrap();
    recorder.clear_calls();

    manager.write_checkpoint(&batch, 20).await.unwrap();
    let mut lent = batch.clone();
    manager.write_checkpoint_batch(&mut lent, 20).await.unwrap();
    assert_eq!(
        recorder.calls(),
        [Call::Ack(batch.clone()), Call::Ack(batch)]
    );
    assert_eq!(recorder.value(KEY).unwrap(), stored);
}

/// A manager opened over storage that already holds offset 10, as after a restart,
/// refuses 5 on its first write, then accepts 10 (ack only) and 11 (put, then ack).
#[tokio::test]
async fn restarted_manager_cannot_move_the_offset_back() {
    let recorder = recorder_holding(&record(10));
    let mut manager = open_recorded(&recorder).await;

    let err = checkpoint_error(manager.write_checkpoint(&ids(&["old"]), 5).await);
    assert_eq!(
        err,
        CheckpointError::OffsetRegression {
            durable: 10,
            requested: 5
        }
    );
    assert_eq!(recorder.calls(), [Call::Get(KEY.into())]);
    assert_eq!(recorder.value(KEY).unwrap(), record(10));

    recorder.clear_calls();
    manager
        .write_checkpoint(&ids(&["again"]), 10)
        .await
        .unwrap();
    assert_eq!(recorder.calls(), [Call::Ack(ids(&["again"]))]);

    recorder.clear_calls();
    manager.write_checkpoint(&ids(&["next"]), 11).await.unwrap();
    let calls = recorder.calls();
    assert!(
        matches!(calls.as_slice(), [Call::Put(..), Call::Ack(a)] if *a == ids(&["next"])),
        "{calls:?}"
    );
    assert_eq!(stored_offset(&recorder), 11);
}

/// The batch form of a restarted manager's first write reads storage too and refuses
/// to go below it.
#[tokio::test]
async fn restarted_manager_refuses_a_lower_offset_through_the_batch_form() {
    let recorder = recorder_holding(&record(10));
    let mut manager = open_recorded(&recorder).await;
    let mut batch = ids(&["old"]);
    let err = checkpoint_error(manager.write_checkpoint_batch(&mut batch, 9).await);
    assert_eq!(
        err,
        CheckpointError::OffsetRegression {
            durable: 10,
            requested: 9
        }
    );
    assert_eq!(recorder.calls(), [Call::Get(KEY.into())]);
}

/// On empty storage `get_checkpoint` returns 0 and only reads; no record appears.
#[tokio::test]
async fn get_checkpoint_on_empty_storage_is_zero_and_writes_nothing() {
    let recorder = Recorder::new();
    let mut manager = open_recorded(&recorder).await;
    assert_eq!(manager.get_checkpoint().await.unwrap(), 0);
    assert_eq!(manager.get_checkpoint().await.unwrap(), 0);
    assert_eq!(
        recorder.calls(),
        [Call::Get(KEY.into()), Call::Get(KEY.into())]
    );
    assert_eq!(recorder.value(KEY), None);
}

/// `get_checkpoint` over an existing record only reads, however often it is called,
/// before and after writes: unlike the seed, a read never writes.
#[tokio::test]
async fn get_checkpoint_never_writes_over_an_existing_record() {
    let recorder = recorder_holding(&record(10));
    let mut manager = open_recorded(&recorder).await;
    for _ in 0..3 {
        assert_eq!(manager.get_checkpoint().await.unwrap(), 10);
    }
    manager.write_checkpoint(&ids(&["a"]), 12).await.unwrap();
    let stored = recorder.value(KEY).unwrap();
    recorder.clear_calls();
    for _ in 0..3 {
        assert_eq!(manager.get_checkpoint().await.unwrap(), 12);
    }
    assert_eq!(recorder.puts(), 0, "{:?}", recorder.calls());
    assert_eq!(recorder.value(KEY).unwrap(), stored);
}

/// A newer offset stored by someone else is what `get_checkpoint` reports; the read
/// does not put back an older value (the seed's lost update).
#[tokio::test]
async fn get_checkpoint_reports_a_newer_stored_offset_and_leaves_it() {
    let recorder = recorder_holding(&record(10));
    let mut manager = open_recorded(&recorder).await;
    assert_eq!(manager.get_checkpoint().await.unwrap(), 10);
    recorder.set_value(KEY, &record(15));
    assert_eq!(manager.get_checkpoint().await.unwrap(), 15);
    assert_eq!(recorder.value(KEY).unwrap(), record(15));
    assert_eq!(recorder.puts(), 0);
}

/// Writing offset 0 on empty storage stores a record holding 0; a later lower offset
/// is impossible, and the same 0 is an ack-only retry.
#[tokio::test]
async fn offset_zero_on_empty_storage_is_stored() {
    let recorder = Recorder::new();
    let mut manager = open_recorded(&recorder).await;
    manager.write_checkpoint(&ids(&["first"]), 0).await.unwrap();
    assert_eq!(stored_offset(&recorder), 0);
    recorder.clear_calls();
    manager.write_checkpoint(&ids(&["first"]), 0).await.unwrap();
    assert_eq!(recorder.calls(), [Call::Ack(ids(&["first"]))]);
}
