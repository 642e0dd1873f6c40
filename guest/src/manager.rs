//! The checkpoint manager's logic, independent of WebAssembly: the order of storage
//! and consumer calls that makes the durability guarantee hold, and the version check
//! that fences a worker which lost ownership of its key.
//!
//! The component's glue calls this with storage and consumer imports; native code
//! (benchmarks, tests) can call it with anything that implements [`RecordStore`].

use alloc::format;
use alloc::string::{String, ToString};

use crate::record::{self, RecordFault, WallTime};

/// A stored value and its version, as `get` returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The stored text.
    pub value: String,
    /// The version of this value; every successful `put` yields a new one.
    pub version: u64,
}

/// What a conditional `put` requires of the key before it replaces the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Nothing may be stored yet.
    Absent,
    /// The stored value must still have this version.
    Version(u64),
}

/// Durable key-value storage with versions: `put` returning `Ok` means durable, and a
/// `put` whose `expected` no longer holds writes nothing and fails with an error that
/// [`RecordStore::conflict`] recognises.
pub trait RecordStore {
    /// The storage's error type.
    type Error;
    /// Durably replaces the value under `key` if the key still matches `expected`;
    /// returns the new value's version.
    fn put(&mut self, key: &str, value: &str, expected: Expected) -> Result<u64, Self::Error>;
    /// Reads the value under `key` and its version; `None` if absent.
    fn get(&mut self, key: &str) -> Result<Option<Stored>, Self::Error>;
    /// The description of a conflict, if `error` is the one `put` returns when
    /// `expected` did not hold.
    fn conflict(error: &Self::Error) -> Option<&str>;
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
    /// Another writer replaced the record since this manager read or wrote it.
    Fenced(String),
}

/// What the manager knows of the stored record: the state it owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// Never read: the first read adopts whatever is stored.
    Nothing,
    /// No record is stored.
    Absent,
    /// This offset is stored, durable, with this version.
    Stored { offset: u64, version: u64 },
}

impl Known {
    /// What `put` must find for the stored record to still be this one.
    fn expected(self) -> Expected {
        match self {
            Known::Stored { version, .. } => Expected::Version(version),
            Known::Nothing | Known::Absent => Expected::Absent,
        }
    }
}

/// Persists a resume offset and acknowledges batches only after it is durable.
#[derive(Debug)]
pub struct CheckpointManager {
    key: String,
    known: Known,
    /// `known` may be out of date (a put or a read failed, or the record read
    /// corrupt): the next write reads before it puts.
    stale: bool,
    /// A put failed without saying whether it stored `record`: the next read
    /// recognises the record if it landed.
    unsure_put: bool,
    /// Set once another writer is seen to have replaced the record; never cleared.
    fenced: Option<String>,
    /// The encoded record, kept to reuse its allocation on every write (and, after a
    /// failed put, to recognise it).
    record: String,
}

impl CheckpointManager {
    /// A manager for `key`, or for [`record::DEFAULT_KEY`] if `None`. Reads nothing.
    pub fn new(key: Option<String>) -> Self {
        Self {
            key: key.unwrap_or_else(|| record::DEFAULT_KEY.to_string()),
            known: Known::Nothing,
            stale: true,
            unsure_put: false,
            fenced: None,
            record: String::with_capacity(64),
        }
    }

    /// The key this manager owns.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Why this manager is fenced, if another writer has taken its key over.
    pub fn fenced(&self) -> Option<&str> {
        self.fenced.as_deref()
    }

    /// Makes `new_offset` durable through `storage`, then, and only then, calls `ack`.
    ///
    /// `now` is called only if a record is actually written. If the durable offset
    /// already equals `new_offset`, the record is not rewritten and only `ack` runs:
    /// that is the retry after an ack failure.
    pub fn write_checkpoint<S: RecordStore, A>(
        &mut self,
        storage: &mut S,
        new_offset: u64,
        now: impl FnOnce() -> WallTime,
        ack: impl FnOnce() -> Result<(), A>,
    ) -> Result<(), CheckpointError<S::Error, A>> {
        if self.fenced.is_none() && self.stale {
            self.read(storage)?;
        }
        if let Some(why) = &self.fenced {
            return Err(CheckpointError::Fenced(why.clone()));
        }
        match self.known {
            Known::Stored { offset, .. } if new_offset < offset => {
                return Err(CheckpointError::OffsetRegression {
                    durable: offset,
                    requested: new_offset,
                });
            }
            Known::Stored { offset, .. } if new_offset == offset => {}
            known => {
                record::encode(new_offset, now(), &mut self.record);
                // The whole guarantee is this call and the `?`s below it: nothing
                // acks unless storage said the record is durable, and it is stored
                // only over the version this manager owns.
                match storage.put(&self.key, &self.record, known.expected()) {
                    Ok(version) => {
                        self.known = Known::Stored {
                            offset: new_offset,
                            version,
                        };
                    }
                    Err(e) => {
                        if let Some(why) = S::conflict(&e) {
                            let why = format!(
                                "{} was replaced by another writer before offset \
                                 {new_offset} could be stored: {why}",
                                self.key
                            );
                            self.fenced = Some(why.clone());
                            return Err(CheckpointError::Fenced(why));
                        }
                        // A failed put may still have replaced the record (the rename
                        // done, its directory sync failed): what is stored is unknown
                        // until read, and the read will recognise this record.
                        self.stale = true;
                        self.unsure_put = true;
                        return Err(CheckpointError::WriteFailed(e));
                    }
                }
            }
        }
        ack().map_err(CheckpointError::AckFailed)
    }

    /// Returns the durable offset (0 if no record exists). Reads; never writes.
    ///
    /// If the record is no longer the one this manager last read or wrote, the
    /// manager is fenced from then on; the stored offset is still returned.
    pub fn get_checkpoint<S: RecordStore, A>(
        &mut self,
        storage: &mut S,
    ) -> Result<u64, CheckpointError<S::Error, A>> {
        self.read(storage)
    }

    /// Reads the stored record and, if it is still this manager's, remembers it.
    ///
    /// A failed or corrupt read leaves the manager stale: the next write reads again
    /// (and refuses a corrupt record) rather than overwrite what it has not
    /// understood. A record that changed since this manager last saw it, other than
    /// into the record of its own failed put, was written by someone else: fenced.
    fn read<S: RecordStore, A>(
        &mut self,
        storage: &mut S,
    ) -> Result<u64, CheckpointError<S::Error, A>> {
        self.stale = true;
        let stored = storage
            .get(&self.key)
            .map_err(CheckpointError::ReadFailed)?;
        let found = match &stored {
            None => Known::Absent,
            Some(stored) => Known::Stored {
                offset: record::decode(&stored.value)
                    .map_err(CheckpointError::CorruptRecord)?
                    .offset,
                version: stored.version,
            },
        };
        let ours = match (self.known, &stored) {
            (Known::Nothing, _) | (Known::Absent, None) => true,
            (Known::Stored { version, .. }, Some(s)) if s.version == version => true,
            (_, Some(s)) => self.unsure_put && s.value == self.record,
            (Known::Stored { .. }, None) => false,
        };
        if !ours && self.fenced.is_none() {
            self.fenced = Some(match found {
                Known::Stored { offset, .. } => format!(
                    "{} was replaced by another writer: it now holds offset {offset}",
                    self.key
                ),
                _ => format!("{} was removed by another writer", self.key),
            });
        }
        self.known = found;
        self.stale = false;
        self.unsure_put = false;
        Ok(match found {
            Known::Stored { offset, .. } => offset,
            _ => 0,
        })
    }
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
