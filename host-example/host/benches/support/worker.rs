//! The pipeline worker the backend benchmarks (`backends`, `object_stores`) time: a
//! manager over its own storage, writing ever higher offsets with the same 100 ids, over
//! a consumer that only counts, so that the backend is all that is measured.

use std::hint::black_box;

use pipeline_checkpoint_host::{AckResult, Consumer, DynStorage, Manager, Runtime};
use pipeline_checkpoint_test_support::uuid_shaped_id;

/// The ids in each checkpoint, and so how far each write moves the offset.
pub const IDS_PER_BATCH: u64 = 100;

/// One pipeline worker: a manager over its own storage, writing ever higher offsets
/// with the same 100 ids.
pub struct Worker {
    manager: Manager,
    ids: Vec<String>,
    offset: u64,
}

impl Worker {
    pub async fn new(runtime: &Runtime, storage: Box<dyn DynStorage>) -> Self {
        let manager = runtime
            .open(None, storage, CountingConsumer(0))
            .await
            .unwrap();
        let ids = (0..IDS_PER_BATCH).map(uuid_shaped_id).collect();
        Self {
            manager,
            ids,
            offset: 0,
        }
    }

    pub async fn write(&mut self) {
        self.offset += IDS_PER_BATCH;
        self.manager
            .write_checkpoint_batch(&mut self.ids, black_box(self.offset))
            .await
            .expect("the checkpoint is written");
    }
}

/// A consumer that only counts.
struct CountingConsumer(u64);

impl Consumer for CountingConsumer {
    async fn ack(&mut self, ids: &[String]) -> AckResult {
        self.0 += black_box(ids).len() as u64;
        Ok(())
    }
}
