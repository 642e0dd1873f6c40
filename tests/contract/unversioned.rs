//! Stores without versions, like the Python seed's backends: through the explicit
//! [`ProcessFenced`] adapter, and only that way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pipeline_checkpoint_host::{
    CheckpointError, Error, ProcessFenced, StorageResult, UnversionedStorage,
};

use crate::support::{KEY, Recorder, ids, offset_in, runtime};

/// A store with the Python seed's shape: an unconditional `put` and a `get`.
#[derive(Clone, Default)]
struct SeedShaped(Arc<Mutex<HashMap<String, String>>>);

impl UnversionedStorage for SeedShaped {
    async fn put(&mut self, key: &str, value: &str) -> StorageResult<()> {
        self.0.lock().unwrap().insert(key.into(), value.into());
        Ok(())
    }
    async fn get(&mut self, key: &str) -> StorageResult<Option<String>> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }
}

/// A store with only `put` and `get`, wrapped in `ProcessFenced`, keeps working: the
/// adapter derives versions from the records' bytes, so managers checkpoint, refuse
/// regressions, and fence each other within the process.
#[tokio::test]
async fn store_with_only_put_and_get_works_through_the_adapter_and_fences_within_a_process() {
    let storage = ProcessFenced(SeedShaped::default());
    let consumer = Recorder::new();
    let mut first = runtime()
        .open(None, storage.clone(), consumer.clone())
        .await
        .unwrap();
    first.write_checkpoint(&ids(&["m-1"]), 1).await.unwrap();
    first.write_checkpoint(&ids(&["m-2"]), 2).await.unwrap();
    let regression = first.write_checkpoint(&ids(&["m-0"]), 0).await;
    assert!(matches!(
        regression,
        Err(Error::Checkpoint(CheckpointError::OffsetRegression {
            durable: 2,
            requested: 0
        }))
    ));

    let mut second = runtime()
        .open(None, storage.clone(), consumer.clone())
        .await
        .unwrap();
    second.write_checkpoint(&ids(&["m-3"]), 3).await.unwrap();
    let fenced = first.write_checkpoint(&ids(&["m-4"]), 4).await;
    assert!(
        matches!(fenced, Err(Error::Checkpoint(CheckpointError::Fenced(_)))),
        "{fenced:?}"
    );
    assert_eq!(consumer.acked(), ids(&["m-1", "m-2", "m-3"]));
    assert_eq!(offset_in(storage.clone().0.get(KEY).await.unwrap()), 3);
}
