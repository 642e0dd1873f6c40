//! A put that stored its value and still reported failure, as a file system does when
//! the rename succeeded but the directory sync failed.

use super::*;

/// RecordStore whose `put` stores the value and then reports failure, as a file system
/// does when the rename succeeded but the directory sync failed.
pub(super) struct StoredThenFailed(pub(super) Fakes);

impl RecordStore for StoredThenFailed {
    type Error = &'static str;
    fn put(&mut self, key: &str, value: &str, _: Expected) -> Result<u64, &'static str> {
        self.0.replace(key, value);
        Err("directory sync failed")
    }
    fn get(&mut self, key: &str) -> Result<Option<Stored>, &'static str> {
        RecordStore::get(&mut self.0, key)
    }
    fn conflict<'a>(_: &'a &'static str) -> Option<&'a str> {
        None
    }
}

/// After a failed put the stored offset is unknown (it may be the new one), so the
/// next write reads again and refuses to go below what storage really holds.
#[test]
fn failed_put_that_stored_anyway_cannot_lead_to_a_regression() {
    let mut storage = StoredThenFailed(Fakes::default());
    let mut manager = manager();
    let write = |manager: &mut CheckpointManager, storage: &mut StoredThenFailed, offset| {
        manager.write_checkpoint(storage, offset, || NOW, || Ok::<(), &'static str>(()))
    };
    assert_eq!(
        write(&mut manager, &mut storage, 10),
        Err(CheckpointError::WriteFailed("directory sync failed"))
    );
    assert_eq!(
        write(&mut manager, &mut storage, 5),
        Err(CheckpointError::OffsetRegression {
            durable: 10,
            requested: 5
        })
    );
}
