//! A call whose future is dropped mid-call: nothing it had not finished is acked, and
//! the next call on the same manager starts again from what storage holds, as a
//! restarted process would.

use pipeline_checkpoint_host::storage::{Expected, Stored};
use pipeline_checkpoint_host::{Storage, StorageResult};
use tokio::sync::watch;

use crate::support::*;

/// When a held put applies its value: before it waits (the write is durable when its
/// caller gives up) or after (it never lands).
#[derive(Clone, Copy, Debug)]
enum Lands {
    BeforeTheWait,
    AfterTheWait,
}

/// A [`Recorder`] whose puts, while `held`, never return: a storage whose write is in
/// flight until its caller gives up. `entered` counts the puts that began.
struct HeldPuts {
    inner: Recorder,
    held: watch::Receiver<bool>,
    lands: Lands,
    entered: watch::Sender<usize>,
}

impl Storage for HeldPuts {
    async fn get(&mut self, key: &str) -> StorageResult<Option<Stored>> {
        self.inner.get(key).await
    }

    async fn put(&mut self, key: &str, value: &str, expected: Expected) -> StorageResult<u64> {
        self.entered.send_modify(|n| *n += 1);
        if !*self.held.borrow() {
            return self.inner.put(key, value, expected).await;
        }
        match self.lands {
            Lands::BeforeTheWait => {
                let _landed = self.inner.put(key, value, expected).await;
                std::future::pending().await
            }
            Lands::AfterTheWait => std::future::pending().await,
        }
    }
}

/// Drops a `write_checkpoint` of offset 2 while its put is in flight, and returns the
/// recorder (storage and consumer) and the manager, for the test to go on with.
async fn drop_a_write_mid_put(lands: Lands) -> (Recorder, pipeline_checkpoint_host::Manager) {
    let recorder = Recorder::new();
    let (hold, held) = watch::channel(false);
    let (entered, mut puts) = watch::channel(0);
    let storage = HeldPuts {
        inner: recorder.clone(),
        held,
        lands,
        entered,
    };
    let mut manager = runtime()
        .open_with_clock(None, storage, recorder.clone(), fixed_clock)
        .await
        .unwrap();
    manager.write_checkpoint(&ids(&["m-1"]), 1).await.unwrap();
    hold.send_replace(true);
    recorder.clear_calls();
    let batch = ids(&["m-2"]);
    {
        let write = manager.write_checkpoint(&batch, 2);
        tokio::pin!(write);
        let put_in_flight = puts.wait_for(|&n| n == 2);
        tokio::select! {
            done = &mut write => panic!("the held put returned: {done:?}"),
            in_flight = put_in_flight => { in_flight.unwrap(); }
        }
        // The write's future is dropped here, its put still waiting.
    }
    hold.send_replace(false);
    (recorder, manager)
}

/// A write dropped while its put is in flight (the put never lands) acks nothing; the
/// next call on the same manager reads the record again, puts, and only then acks.
#[tokio::test]
async fn a_write_dropped_while_its_put_is_in_flight_acks_nothing_and_the_next_call_reads_again() {
    let (recorder, mut manager) = drop_a_write_mid_put(Lands::AfterTheWait).await;
    assert_eq!(recorder.calls(), [], "the held put wrote nothing");
    assert_eq!(ack_calls(&recorder), 0, "acked by a dropped call");
    assert_eq!(stored_offset(&recorder), 1);

    recorder.clear_calls();
    manager.write_checkpoint(&ids(&["m-2"]), 2).await.unwrap();
    let calls = recorder.calls();
    assert!(
        matches!(calls.as_slice(), [Call::Get(_), Call::Put(..), Call::Ack(a)] if *a == ids(&["m-2"])),
        "the next call reads, puts, then acks: {calls:?}"
    );
    assert_eq!(stored_offset(&recorder), 2);
    assert_eq!(manager.get_checkpoint().await.unwrap(), 2);
}

/// A write dropped after its put landed but before it returned acks nothing; the next
/// call at the same offset reads the record, finds the offset durable, and acks without
/// writing it again.
#[tokio::test]
async fn a_write_dropped_after_its_put_landed_acks_nothing_and_the_retry_acks_without_a_put() {
    let (recorder, mut manager) = drop_a_write_mid_put(Lands::BeforeTheWait).await;
    assert_eq!(ack_calls(&recorder), 0, "acked by a dropped call");
    assert_eq!(
        stored_offset(&recorder),
        2,
        "the put landed before the drop"
    );
    let stored = recorder.value(KEY).unwrap();

    recorder.clear_calls();
    manager.write_checkpoint(&ids(&["m-2"]), 2).await.unwrap();
    assert_eq!(
        recorder.calls(),
        [Call::Get(KEY.into()), Call::Ack(ids(&["m-2"]))],
        "the next call reads the durable offset, then acks"
    );
    assert_eq!(
        recorder.value(KEY).unwrap(),
        stored,
        "the record is not rewritten"
    );
}
