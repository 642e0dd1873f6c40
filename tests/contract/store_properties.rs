//! What every store with a real compare-and-swap shows through the component, whatever
//! backend it is: each backend's tests run these on it, reading the record back their
//! own way (straight from the bucket, or through another handle on the database).

use pipeline_checkpoint_host::{
    AckResult, BoxFuture, CheckpointError, Consumer, DynStorage, Error,
};

use crate::support::{Recorder, ids, offset_in, runtime};

/// A manager whose record was taken over by a new manager is fenced: its write changes
/// nothing and acks nothing. `open` opens the store afresh (each manager its own
/// handle); `stored` reads the record's value from it afterwards.
pub(crate) async fn assert_a_manager_is_fenced_once_a_new_manager_takes_over(
    open: impl AsyncFn() -> Box<dyn DynStorage>,
    stored: impl AsyncFnOnce() -> Option<String>,
) {
    let (old_acks, new_acks) = (Recorder::new(), Recorder::new());
    let mut old = runtime()
        .open(None, open().await, old_acks.clone())
        .await
        .unwrap();
    old.write_checkpoint(&ids(&["a"]), 10).await.unwrap();
    let mut new = runtime()
        .open(None, open().await, new_acks.clone())
        .await
        .unwrap();
    assert_eq!(new.get_checkpoint().await.unwrap(), 10);
    new.write_checkpoint(&ids(&["b"]), 20).await.unwrap();
    let stale = old.write_checkpoint(&ids(&["zombie"]), 30).await;
    assert!(
        matches!(stale, Err(Error::Checkpoint(CheckpointError::Fenced(_)))),
        "{stale:?}"
    );
    assert_eq!(old_acks.acked(), ids(&["a"]));
    assert_eq!(new_acks.acked(), ids(&["b"]));
    assert_eq!(offset_in(stored().await), 20);
}

/// A consumer that, at each ack, reads the durable offset from the store and sends the
/// acked ids with the offset it found.
struct CheckingConsumer {
    durable_offset: Box<dyn FnMut() -> BoxFuture<'static, u64> + Send>,
    acks: std::sync::mpsc::Sender<(Vec<String>, u64)>,
}

impl Consumer for CheckingConsumer {
    async fn ack(&mut self, ids: &[String]) -> AckResult {
        let durable = (self.durable_offset)().await;
        let _ = self.acks.send((ids.to_vec(), durable));
        Ok(())
    }
}

/// When the component acks a batch, the store already holds its new offset, as
/// `durable_offset` reads it from the store at the moment of the ack (the future it
/// returns is awaited inside the ack).
pub(crate) async fn assert_acks_happen_only_once_the_new_offset_is_stored(
    storage: Box<dyn DynStorage>,
    durable_offset: impl FnMut() -> BoxFuture<'static, u64> + Send + 'static,
) {
    let (acks, acked) = std::sync::mpsc::channel();
    let consumer = CheckingConsumer {
        durable_offset: Box::new(durable_offset),
        acks,
    };
    let mut manager = runtime().open(None, storage, consumer).await.unwrap();
    for batch in 1..=10u64 {
        let names: Vec<String> = (0..3).map(|i| format!("m{batch}-{i}")).collect();
        manager.write_checkpoint(&names, batch * 3).await.unwrap();
        let (ids, offset_at_ack) = acked.try_recv().expect("the batch was acked");
        assert_eq!(ids, names);
        assert_eq!(
            offset_at_ack,
            batch * 3,
            "batch {batch} acked before it was durable"
        );
    }
}
