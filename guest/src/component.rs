//! The wit-bindgen glue: WIT types in, [`crate::manager`] calls, WIT types out.

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::manager::{self, CheckpointManager};
use crate::record::WallTime;

wit_bindgen::generate!({
    path: "../wit",
    world: "checkpointer",
    generate_all,
});

use exports::pipeline::checkpoint::manager::{
    CheckpointError, Guest, GuestCheckpointManager, Regression,
};
use pipeline::checkpoint::consumer::{self, AckError, Batch};
use pipeline::checkpoint::storage::{self, Lookup, StorageError};
use wasi::clocks::wall_clock;

struct Component;

export!(Component);

impl Guest for Component {
    type CheckpointManager = ManagerResource;
}

/// The exported resource. `RefCell` because WIT methods take `&self`; a component
/// instance is single-threaded and never re-entered during a call.
struct ManagerResource(RefCell<CheckpointManager>);

/// The imported storage interface, as the manager's [`manager::RecordStore`].
struct ImportedStorage;

impl manager::RecordStore for ImportedStorage {
    type Error = StorageError;
    fn put(
        &mut self,
        key: &str,
        value: &str,
        expected: manager::Expected,
    ) -> Result<u64, StorageError> {
        let expected = match expected {
            manager::Expected::Absent => storage::Expected::Absent,
            manager::Expected::Version(v) => storage::Expected::Version(v),
        };
        storage::put(key, value, expected)
    }
    fn get(&mut self, key: &str) -> Result<Option<manager::Stored>, StorageError> {
        match storage::get(key) {
            Lookup::Found(s) => Ok(Some(manager::Stored {
                value: s.value,
                version: s.version,
            })),
            Lookup::Absent => Ok(None),
            Lookup::Failed(e) => Err(e),
        }
    }
    fn conflict(error: &StorageError) -> Option<&str> {
        match error {
            StorageError::Conflict(why) => Some(why),
            _ => None,
        }
    }
}

fn now() -> WallTime {
    let t = wall_clock::now();
    WallTime {
        seconds: t.seconds,
        nanoseconds: t.nanoseconds,
    }
}

fn to_wit(error: manager::CheckpointError<StorageError, AckError>) -> CheckpointError {
    use manager::CheckpointError as E;
    match error {
        E::WriteFailed(e) => CheckpointError::WriteFailed(e),
        E::AckFailed(e) => CheckpointError::AckFailed(e),
        E::OffsetRegression { durable, requested } => {
            CheckpointError::OffsetRegression(Regression { durable, requested })
        }
        // Stored bytes that are not text arrive as a storage error; to the caller they
        // are as corrupt as any other unreadable record.
        E::ReadFailed(StorageError::InvalidData(why)) => CheckpointError::CorruptRecord(why),
        E::CorruptRecord(fault) => CheckpointError::CorruptRecord(alloc::format!("{fault}")),
        E::ReadFailed(e) => CheckpointError::ReadFailed(e),
        E::Fenced(why) => CheckpointError::Fenced(why),
    }
}

impl GuestCheckpointManager for ManagerResource {
    fn new(key: Option<String>) -> Self {
        Self(RefCell::new(CheckpointManager::new(key)))
    }

    fn write_checkpoint(
        &self,
        batch_ids: Vec<String>,
        new_offset: u64,
    ) -> Result<(), CheckpointError> {
        self.0
            .borrow_mut()
            .write_checkpoint(&mut ImportedStorage, new_offset, now, || {
                consumer::ack(&batch_ids)
            })
            .map_err(to_wit)
    }

    fn write_checkpoint_batch(
        &self,
        batch: &Batch,
        new_offset: u64,
    ) -> Result<(), CheckpointError> {
        self.0
            .borrow_mut()
            .write_checkpoint(&mut ImportedStorage, new_offset, now, || {
                consumer::ack_batch(batch)
            })
            .map_err(to_wit)
    }

    fn get_checkpoint(&self) -> Result<u64, CheckpointError> {
        self.0
            .borrow_mut()
            .get_checkpoint::<_, AckError>(&mut ImportedStorage)
            .map_err(to_wit)
    }
}
