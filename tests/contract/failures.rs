//! Failed storage and consumer calls: what the caller is told, what was acked, what is
//! durable afterwards, and that retrying the same batch recovers.

use pipeline_checkpoint_host::{AckError, CheckpointError, StorageError};

use crate::support::*;

/// A manager over `recorder` whose durable offset is already 5, with a clean call log.
async fn at_offset_five(recorder: &Recorder) -> pipeline_checkpoint_host::Manager {
    let mut manager = open_recorded(recorder).await;
    manager.write_checkpoint(&ids(&["m-1"]), 5).await.unwrap();
    recorder.clear_calls();
    manager
}

/// Every storage error a `put` can return.
fn put_failures() -> Vec<StorageError> {
    vec![
        StorageError::Io("disk controller reset".into()),
        StorageError::NoSpace("quota exceeded".into()),
        StorageError::AccessDenied("read-only file system".into()),
        StorageError::Unavailable("bucket unreachable".into()),
        StorageError::InvalidKey("refused by the backend".into()),
        StorageError::InvalidData("refused by the backend".into()),
    ]
}

/// A failed `put` is reported as `WriteFailed` carrying the storage's own error,
/// nothing is acked, and the durable offset stays the previous one.
#[tokio::test]
async fn failed_put_acks_nothing_and_keeps_previous_offset() {
    for failure in put_failures() {
        let recorder = Recorder::new();
        let mut manager = at_offset_five(&recorder).await;
        recorder.fail_puts(Some(failure.clone().into()));

        let err = checkpoint_error(manager.write_checkpoint(&ids(&["m-2", "m-3"]), 7).await);
        assert_eq!(err, CheckpointError::WriteFailed(failure.clone()));
        let calls = recorder.calls();
        assert_eq!(
            ack_calls(&recorder),
            0,
            "{failure:?}: acked after a failed put: {calls:?}"
        );
        assert_eq!(recorder.puts(), 1, "{failure:?}: {calls:?}");

        recorder.fail_puts(None);
        assert_eq!(manager.get_checkpoint().await.unwrap(), 5, "{failure:?}");
        assert_eq!(stored_offset(&recorder), 5, "{failure:?}");
    }
}

/// After a failed `put`, retrying the same batch at the same offset writes the record
/// and then acks the batch.
#[tokio::test]
async fn retrying_a_failed_put_writes_then_acks() {
    for failure in [
        StorageError::Io("EIO".into()),
        StorageError::NoSpace("ENOSPC".into()),
    ] {
        let recorder = Recorder::new();
        let mut manager = at_offset_five(&recorder).await;
        let batch = ids(&["m-2", "m-3"]);
        recorder.fail_puts(Some(failure.clone().into()));
        assert!(manager.write_checkpoint(&batch, 7).await.is_err());

        recorder.fail_puts(None);
        recorder.clear_calls();
        manager.write_checkpoint(&batch, 7).await.unwrap();
        // A failed put leaves the stored offset unknown, so the retry reads it first.
        let calls = recorder.calls();
        assert!(
            matches!(calls.as_slice(), [Call::Get(_), Call::Put(..), Call::Ack(acked)] if *acked == batch),
            "{failure:?}: {calls:?}"
        );
        assert_eq!(stored_offset(&recorder), 7);
        assert_eq!(manager.get_checkpoint().await.unwrap(), 7);
    }
}

/// The host-owned batch form reports a failed `put` the same way, acks nothing, hands
/// the ids back, and succeeds when retried.
#[tokio::test]
async fn failed_put_through_batch_handle_acks_nothing_and_retry_succeeds() {
    let recorder = Recorder::new();
    let mut manager = at_offset_five(&recorder).await;
    let mut batch = ids(&["h-1", "h-2", "h-3"]);
    let failure = StorageError::NoSpace("volume full".into());
    recorder.fail_puts(Some(failure.clone().into()));

    let err = checkpoint_error(manager.write_checkpoint_batch(&mut batch, 8).await);
    assert_eq!(err, CheckpointError::WriteFailed(failure));
    assert_eq!(ack_calls(&recorder), 0, "{:?}", recorder.calls());
    assert_eq!(batch, ids(&["h-1", "h-2", "h-3"]), "ids are given back");
    recorder.fail_puts(None);
    assert_eq!(manager.get_checkpoint().await.unwrap(), 5);

    recorder.clear_calls();
    manager.write_checkpoint_batch(&mut batch, 8).await.unwrap();
    let calls = recorder.calls();
    assert!(
        matches!(calls.as_slice(), [Call::Put(..), Call::Ack(acked)] if *acked == batch),
        "{calls:?}"
    );
    assert_eq!(stored_offset(&recorder), 8);
}

/// A failed `get` on a manager's first write is `ReadFailed` with the storage's error;
/// nothing is put and nothing is acked.
#[tokio::test]
async fn failed_first_read_puts_nothing_and_acks_nothing() {
    for failure in [
        StorageError::Io("EIO".into()),
        StorageError::Unavailable("timeout".into()),
        StorageError::AccessDenied("EACCES".into()),
        StorageError::NoSpace("odd but possible".into()),
        StorageError::InvalidKey("not accepted here".into()),
    ] {
        let recorder = recorder_holding(r#"{"offset":3,"written_at":1.5}"#);
        let mut manager = open_recorded(&recorder).await;
        recorder.fail_gets(Some(failure.clone().into()));

        let err = checkpoint_error(manager.write_checkpoint(&ids(&["m"]), 4).await);
        assert_eq!(err, CheckpointError::ReadFailed(failure.clone()));
        assert_eq!(recorder.calls(), [Call::Get(KEY.into())], "{failure:?}");
        let err = checkpoint_error(manager.get_checkpoint().await);
        assert_eq!(err, CheckpointError::ReadFailed(failure.clone()));
        assert_eq!(stored_offset(&recorder), 3);

        // Once storage reads again, the write goes through on the same manager.
        recorder.fail_gets(None);
        manager.write_checkpoint(&ids(&["m"]), 4).await.unwrap();
        assert_eq!(stored_offset(&recorder), 4);
        assert_eq!(recorder.acked(), ids(&["m"]));
    }
}

/// A failed ack is `AckFailed` with the consumer's error, yet the new offset is
/// already stored: the record holds it and `get_checkpoint` returns it.
#[tokio::test]
async fn failed_ack_reports_ack_failed_after_the_record_is_stored() {
    for failure in [
        AckError::Rejected("lease lost".into()),
        AckError::Unavailable("broker down".into()),
        AckError::InvalidBatch("too many ids".into()),
    ] {
        let recorder = Recorder::new();
        let mut manager = at_offset_five(&recorder).await;
        recorder.fail_acks(Some(failure.clone().into()));

        let err = checkpoint_error(manager.write_checkpoint(&ids(&["m-2"]), 9).await);
        assert_eq!(err, CheckpointError::AckFailed(failure.clone()));
        let calls = recorder.calls();
        assert!(
            matches!(calls.as_slice(), [Call::Put(key, _), Call::Ack(_)] if key == KEY),
            "{failure:?}: {calls:?}"
        );
        let text = recorder.value(KEY).unwrap();
        let record: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(record["offset"], 9, "{text}");
        assert_eq!(manager.get_checkpoint().await.unwrap(), 9);
    }
}

/// Retrying a write whose ack failed, at the same offset, acks again without a
/// second `put`.
#[tokio::test]
async fn retry_after_failed_ack_acks_again_without_rewriting() {
    let recorder = Recorder::new();
    let mut manager = at_offset_five(&recorder).await;
    let batch = ids(&["m-2", "m-3"]);
    recorder.fail_acks(Some(AckError::Rejected("lease lost".into()).into()));
    assert!(manager.write_checkpoint(&batch, 9).await.is_err());
    let stored = recorder.value(KEY).unwrap();

    recorder.fail_acks(None);
    recorder.clear_calls();
    manager.write_checkpoint(&batch, 9).await.unwrap();
    assert_eq!(recorder.calls(), [Call::Ack(batch.clone())]);
    assert_eq!(
        recorder.value(KEY).unwrap(),
        stored,
        "the record is not rewritten"
    );

    // The host-owned batch form retries the same way.
    recorder.fail_acks(Some(AckError::Unavailable("broker down".into()).into()));
    let mut lent = ids(&["m-4"]);
    assert!(manager.write_checkpoint_batch(&mut lent, 10).await.is_err());
    recorder.fail_acks(None);
    recorder.clear_calls();
    manager.write_checkpoint_batch(&mut lent, 10).await.unwrap();
    assert_eq!(recorder.calls(), [Call::Ack(lent)]);
    assert_eq!(stored_offset(&recorder), 10);
}

/// A `get` that returns `InvalidData` (bytes that are not text) is reported as a
/// corrupt record carrying the storage's explanation, not as a read failure.
#[tokio::test]
async fn invalid_data_on_read_is_a_corrupt_record() {
    let why = "pipeline/checkpoint.json is not UTF-8: invalid byte at offset 2";
    let recorder = Recorder::new();
    recorder.fail_gets(Some(StorageError::InvalidData(why.into()).into()));
    let mut manager = open_recorded(&recorder).await;

    let err = checkpoint_error(manager.get_checkpoint().await);
    assert_eq!(err, CheckpointError::CorruptRecord(why.into()));
    let err = checkpoint_error(manager.write_checkpoint(&ids(&["m"]), 1).await);
    assert_eq!(err, CheckpointError::CorruptRecord(why.into()));
    assert_eq!(recorder.puts(), 0);
    assert_eq!(ack_calls(&recorder), 0);
}
