//! The core guarantee: a batch's offset is durable before any of its messages is acked.

use pipeline_checkpoint_host::MemoryConsumer;

use crate::support::*;

/// In every successful write, the `put` of the new offset precedes the `ack`.
#[tokio::test]
async fn ack_never_precedes_durable_write() {
    let recorder = Recorder::new();
    let mut manager = runtime()
        .open_with_clock(None, recorder.clone(), recorder.clone(), fixed_clock)
        .await
        .unwrap();
    for (round, batch) in [ids(&["a", "b"]), ids(&["c"]), ids(&[])].iter().enumerate() {
        recorder.clear_calls();
        let offset = 10 * (round as u64 + 1);
        manager.write_checkpoint(batch, offset).await.unwrap();
        let calls = recorder.calls();
        let put = calls
            .iter()
            .position(|c| matches!(c, Call::Put(..)))
            .expect("a put");
        let ack = calls
            .iter()
            .position(|c| matches!(c, Call::Ack(..)))
            .expect("an ack");
        assert!(put < ack, "round {round}: ack before put: {calls:?}");
        assert_eq!(calls[ack], Call::Ack(batch.clone()));
    }
}

/// The host-owned batch form keeps the same order and acks exactly the lent ids.
#[tokio::test]
async fn batch_handle_form_acks_after_put_and_returns_the_ids() {
    let recorder = Recorder::new();
    let mut manager = runtime()
        .open(None, recorder.clone(), recorder.clone())
        .await
        .unwrap();
    let mut batch = ids(&["x", "y", "z"]);
    manager.write_checkpoint_batch(&mut batch, 3).await.unwrap();
    assert_eq!(batch, ids(&["x", "y", "z"]), "ids are given back");
    let calls = recorder.calls();
    assert!(
        matches!(calls.as_slice(), [Call::Get(_), Call::Put(..), Call::Ack(acked)] if *acked == batch),
        "{calls:?}"
    );
    let _ = MemoryConsumer::new();
}
