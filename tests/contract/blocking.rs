//! [`BlockingManager`]: the manager for a caller without an asynchronous runtime. These
//! tests are plain `#[test]`s: no runtime is running on their thread.

use pipeline_checkpoint_host::FileStorage;
use pipeline_checkpoint_host::blocking::BlockingManager;

use crate::support::*;

/// Outside any runtime, a blocking manager over file storage (whose syncs need a
/// blocking pool) writes and acks, reads its checkpoint back, and hands over
/// the asynchronous manager underneath, which a runtime then drives on.
#[test]
fn a_blocking_manager_works_outside_a_runtime() {
    assert!(
        tokio::runtime::Handle::try_current().is_err(),
        "this test must run outside any runtime"
    );
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("state");
    let recorder = Recorder::new();
    let storage = FileStorage::open_blocking(&root).unwrap();
    let mut manager = BlockingManager::open(runtime(), None, storage, recorder.clone()).unwrap();
    manager.write_checkpoint(&ids(&["a", "b"]), 2).unwrap();
    let mut lent = ids(&["c"]);
    manager.write_checkpoint_batch(&mut lent, 3).unwrap();
    assert_eq!(lent, ids(&["c"]), "the lent ids are given back");
    assert_eq!(manager.get_checkpoint().unwrap(), 3);
    assert_eq!(recorder.acked(), ids(&["a", "b", "c"]));
    let record = std::fs::read_to_string(root.join(KEY)).unwrap();
    assert_eq!(offset_in(Some(record)), 3);

    let mut manager = manager.into_inner();
    pipeline_checkpoint_test_support::block_on(async {
        assert_eq!(manager.get_checkpoint().await.unwrap(), 3);
        manager.write_checkpoint(&ids(&["d"]), 4).await.unwrap();
    });
    assert_eq!(recorder.acked(), ids(&["a", "b", "c", "d"]));
}
