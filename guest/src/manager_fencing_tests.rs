//! Fencing: a manager whose record another writer replaced never writes or acks again.

use super::*;

fn fenced(result: Result<(), Error>) -> bool {
    matches!(result, Err(CheckpointError::Fenced(_)))
}

#[test]
fn stale_manager_is_fenced_acks_nothing_and_stays_fenced() {
    let (mut fakes, mut stale) = (Fakes::default(), manager());
    fakes.write(&mut stale, 5).unwrap();
    // A successor opens on the same key, reads 5 and moves on to 10.
    let mut successor = manager();
    fakes.write(&mut successor, 10).unwrap();
    fakes.calls();

    // The stale manager still believes 5 is durable; its put over that version is
    // refused, and it acks nothing, even though its offset is the higher one.
    let result = fakes.write(&mut stale, 50);
    assert!(fenced(result.clone()), "{result:?}");
    assert_eq!(fakes.calls(), [Now, Put]);
    assert_eq!(fakes.stored(DEFAULT_KEY), Some(10));
    assert!(stale.fenced().is_some());

    // Fenced for good: no later write reaches storage or the consumer, not even the
    // ack-only retry of the offset it made durable itself.
    for offset in [60, 5, 10] {
        assert!(fenced(fakes.write(&mut stale, offset)), "offset {offset}");
    }
    assert_eq!(fakes.calls(), []);

    // The successor is unaffected.
    assert_eq!(fakes.write(&mut successor, 11), Ok(()));
    assert_eq!(fakes.calls(), [Now, Put, Ack]);
}

#[test]
fn replacement_seen_by_a_read_fences_before_any_put() {
    let (mut fakes, mut stale) = (Fakes::default(), manager());
    fakes.write(&mut stale, 5).unwrap();
    fakes.replace(DEFAULT_KEY, r#"{"offset": 9, "written_at": 1.0}"#);
    fakes.calls();
    // The read still reports what is stored...
    assert_eq!(fakes.get(&mut stale), Ok(9));
    // ...but the manager no longer owns the key.
    assert!(fenced(fakes.write(&mut stale, 20)));
    assert_eq!(fakes.calls(), [Get]);
    assert_eq!(fakes.stored(DEFAULT_KEY), Some(9));
}

#[test]
fn removal_by_another_writer_fences() {
    let (mut fakes, mut stale) = (Fakes::default(), manager());
    fakes.write(&mut stale, 5).unwrap();
    fakes.records.remove(DEFAULT_KEY);
    assert_eq!(fakes.get(&mut stale), Ok(0));
    let Err(CheckpointError::Fenced(why)) = fakes.write(&mut stale, 6) else {
        panic!("a removed record fences its manager");
    };
    assert!(why.contains("removed"), "{why}");
    assert_eq!(fakes.stored(DEFAULT_KEY), None);
}

#[test]
fn record_created_by_another_writer_fences_a_manager_that_saw_none() {
    let (mut fakes, mut stale) = (Fakes::default(), manager());
    assert_eq!(fakes.get(&mut stale), Ok(0));
    fakes.replace(DEFAULT_KEY, r#"{"offset": 3}"#);
    fakes.calls();
    // The put expected the key to be absent.
    assert!(fenced(fakes.write(&mut stale, 7)));
    assert_eq!(fakes.calls(), [Now, Put]);
    assert_eq!(fakes.stored(DEFAULT_KEY), Some(3));
}

#[test]
fn a_new_manager_takes_the_key_over_from_whatever_is_stored() {
    let (mut fakes, mut stale) = (Fakes::default(), manager());
    fakes.write(&mut stale, 5).unwrap();
    fakes.replace(DEFAULT_KEY, r#"{"offset": 8}"#);
    assert!(fenced(fakes.write(&mut stale, 9)));
    let mut fresh = manager();
    assert_eq!(fakes.write(&mut fresh, 9), Ok(()));
    assert_eq!(fakes.stored(DEFAULT_KEY), Some(9));
}

#[test]
fn own_put_that_landed_despite_failing_is_not_taken_for_another_writer() {
    let mut storage = StoredThenFailed(Fakes::default());
    let mut manager = manager();
    let mut write =
        |offset| manager.write_checkpoint(&mut storage, offset, || NOW, || Ok::<(), &str>(()));
    assert_eq!(
        write(10),
        Err(CheckpointError::WriteFailed("directory sync failed"))
    );
    // The read finds the record this manager tried to store: its own, so the retry
    // of the same offset only acks.
    assert_eq!(write(10), Ok(()));
}

#[test]
fn failed_put_then_another_writer_fences() {
    let (mut fakes, mut stale) = (Fakes::default(), manager());
    fakes.write(&mut stale, 5).unwrap();
    fakes.fail_put = true;
    assert_eq!(
        fakes.write(&mut stale, 8),
        Err(CheckpointError::WriteFailed("put refused"))
    );
    fakes.fail_put = false;
    fakes.replace(DEFAULT_KEY, r#"{"offset": 9}"#);
    fakes.calls();
    assert!(fenced(fakes.write(&mut stale, 12)));
    assert_eq!(fakes.calls(), [Get]);
    assert_eq!(fakes.stored(DEFAULT_KEY), Some(9));
}

#[test]
fn failed_put_that_did_not_land_is_retried_over_the_same_version() {
    let (mut fakes, mut manager) = (Fakes::default(), manager());
    fakes.write(&mut manager, 5).unwrap();
    fakes.fail_put = true;
    assert!(fakes.write(&mut manager, 8).is_err());
    fakes.fail_put = false;
    fakes.calls();
    assert_eq!(fakes.write(&mut manager, 8), Ok(()));
    assert_eq!(fakes.calls(), [Get, Now, Put, Ack]);
    assert_eq!(fakes.stored(DEFAULT_KEY), Some(8));
}
