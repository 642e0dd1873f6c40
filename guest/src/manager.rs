//! The checkpoint manager's logic, independent of WebAssembly: the order of storage
//! and consumer calls that makes the durability guarantee hold.
//!
//! The component's glue calls this with storage and consumer imports; native code
//! (benchmarks, tests) can call it with anything that implements [`Storage`].

use alloc::string::{String, ToString};

use crate::record::{self, RecordFault, WallTime};

/// Durable key-value storage: `put` returning `Ok` means durable.
pub trait Storage {
    /// The storage's error type.
    type Error;
    /// Durably replaces the value under `key`.
    fn put(&mut self, key: &str, value: &str) -> Result<(), Self::Error>;
    /// Reads the value under `key`; `None` if absent.
    fn get(&mut self, key: &str) -> Result<Option<String>, Self::Error>;
}

/// Why a checkpoint call failed; the WIT `checkpoint-error` documents each case.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckpointError<S, A> {
    /// `put` failed; nothing was acknowledged.
    WriteFailed(S),
    /// The offset is durable; the acknowledgement failed.
    AckFailed(A),
    /// The offset is lower than the durable one.
    OffsetRegression {
        /// The durable offset.
        durable: u64,
        /// The refused offset.
        requested: u64,
    },
    /// The stored record is unusable.
    CorruptRecord(RecordFault),
    /// `get` failed.
    ReadFailed(S),
}

/// What the manager knows of the stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durable {
    /// Not read yet: the next write must read before it can refuse a regression.
    Unknown,
    /// No record is stored.
    Absent,
    /// This offset is stored and durable.
    Stored(u64),
}

/// Persists a resume offset and acknowledges batches only after it is durable.
#[derive(Debug)]
pub struct CheckpointManager {
    key: String,
    durable: Durable,
    /// The encoded record, kept to reuse its allocation on every write.
    record: String,
}

impl CheckpointManager {
    /// A manager for `key`, or for [`record::DEFAULT_KEY`] if `None`. Reads nothing.
    pub fn new(key: Option<String>) -> Self {
        Self {
            key: key.unwrap_or_else(|| record::DEFAULT_KEY.to_string()),
            durable: Durable::Unknown,
            record: String::with_capacity(64),
        }
    }

    /// The key this manager owns.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Makes `new_offset` durable through `storage`, then, and only then, calls `ack`.
    ///
    /// `now` is called only if a record is actually written. If the durable offset
    /// already equals `new_offset`, the record is not rewritten and only `ack` runs:
    /// that is the retry after an ack failure.
    pub fn write_checkpoint<S: Storage, A>(
        &mut self,
        storage: &mut S,
        new_offset: u64,
        now: impl FnOnce() -> WallTime,
        ack: impl FnOnce() -> Result<(), A>,
    ) -> Result<(), CheckpointError<S::Error, A>> {
        if self.durable == Durable::Unknown {
            self.read(storage)?;
        }
        match self.durable {
            Durable::Stored(durable) if new_offset < durable => {
                return Err(CheckpointError::OffsetRegression {
                    durable,
                    requested: new_offset,
                });
            }
            Durable::Stored(durable) if new_offset == durable => {}
            _ => {
                record::encode(new_offset, now(), &mut self.record);
                // The whole guarantee is this line and the next: nothing below runs
                // unless storage said the record is durable.
                if let Err(e) = storage.put(&self.key, &self.record) {
                    // A failed put may still have replaced the record (the rename done,
                    // its directory sync failed): what is stored is unknown until read.
                    self.durable = Durable::Unknown;
                    return Err(CheckpointError::WriteFailed(e));
                }
                self.durable = Durable::Stored(new_offset);
            }
        }
        ack().map_err(CheckpointError::AckFailed)
    }

    /// Returns the durable offset (0 if no record exists). Reads; never writes.
    pub fn get_checkpoint<S: Storage, A>(
        &mut self,
        storage: &mut S,
    ) -> Result<u64, CheckpointError<S::Error, A>> {
        self.read(storage)
    }

    /// Reads the stored record and remembers its offset.
    ///
    /// A failed or corrupt read forgets what the manager knew: the record changed
    /// under it, so the next write must read again (and refuse a corrupt record)
    /// rather than overwrite what it has not understood.
    fn read<S: Storage, A>(
        &mut self,
        storage: &mut S,
    ) -> Result<u64, CheckpointError<S::Error, A>> {
        self.durable = Durable::Unknown;
        let stored = storage
            .get(&self.key)
            .map_err(CheckpointError::ReadFailed)?;
        let (durable, offset) = match stored {
            None => (Durable::Absent, 0),
            Some(text) => {
                let offset = record::decode(&text)
                    .map_err(CheckpointError::CorruptRecord)?
                    .offset;
                (Durable::Stored(offset), offset)
            }
        };
        self.durable = durable;
        Ok(offset)
    }
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
