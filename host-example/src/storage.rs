//! The host side of `pipeline:checkpoint/storage`: the [`Storage`] trait and an
//! in-memory implementation.

use std::collections::BTreeMap;

pub use pipeline_checkpoint_guest::{Expected, Stored};

use crate::StorageError;

/// Durable key-value storage for checkpoint records, with versions for conditional
/// writes.
///
/// Implementations keep the WIT's promises: `put` returning `Ok` means the value
/// survives a crash or power loss, and a failed `put` leaves the previous value intact.
/// Keys arrive from the component unvalidated; an implementation that maps keys to
/// paths or URLs must check them (see [`crate::validate_key`]).
///
/// The component calls only [`Storage::get_versioned`] and [`Storage::put_if`]. Their
/// provided implementations build on `get` and `put`, with the value's
/// [`content_version`] as its version, so storage written for hosts without versions
/// keeps working unchanged; but their compare-then-put is atomic only against writers
/// in the same `Storage`. A storage shared by several processes or machines overrides
/// both with an atomic compare-and-swap, as [`crate::FileStorage`] (a file lock) and
/// [`crate::EtcdStorage`] (a transaction) do, so that a stale worker is fenced.
pub trait Storage: Send {
    /// Durably stores `value` under `key`, replacing any previous value atomically.
    fn put(&mut self, key: &str, value: &str) -> Result<(), StorageError>;

    /// Returns the value under `key`, or `None` if there is none. Never modifies.
    fn get(&mut self, key: &str) -> Result<Option<String>, StorageError>;

    /// Returns the value under `key` and its version, or `None`. Never modifies.
    fn get_versioned(&mut self, key: &str) -> Result<Option<Stored>, StorageError> {
        Ok(self.get(key)?.map(|value| Stored {
            version: content_version(&value),
            value,
        }))
    }

    /// Durably stores `value` under `key` if the key still matches `expected`, and
    /// returns the new value's version; otherwise writes nothing and returns
    /// [`StorageError::Conflict`].
    fn put_if(&mut self, key: &str, value: &str, expected: Expected) -> Result<u64, StorageError> {
        let current = self.get_versioned(key)?;
        check_expected(key, current.map(|s| s.version), expected)?;
        self.put(key, value)?;
        Ok(content_version(value))
    }
}

/// The version of a stored value derived from its bytes alone (64-bit FNV-1a), so that
/// every process computes the same one without storing anything beside the value.
///
/// Two different records practically never share a version: each carries its write
/// time to the microsecond. Two equal records do, which is harmless: replacing a
/// record by an identical one changes nothing a reader could act on.
pub fn content_version(value: &str) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    value.bytes().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// `Ok` if `current`, the version stored under `key` (`None`: nothing stored),
/// satisfies `expected`; else the [`StorageError::Conflict`] that says what is stored.
pub fn check_expected(
    key: &str,
    current: Option<u64>,
    expected: Expected,
) -> Result<(), StorageError> {
    let why = match (expected, current) {
        (Expected::Absent, None) => return Ok(()),
        (Expected::Version(want), Some(have)) if want == have => return Ok(()),
        (Expected::Absent, Some(have)) => format!("expected absent, holds version {have}"),
        (Expected::Version(want), Some(have)) => {
            format!("expected version {want}, holds version {have}")
        }
        (Expected::Version(want), None) => format!("expected version {want}, holds nothing"),
    };
    Err(StorageError::Conflict(format!("{key}: {why}")))
}

/// Storage in a map: durable only for the life of the process. For tests, benchmarks
/// and pipelines whose offsets need not outlive them.
#[derive(Debug, Default, Clone)]
pub struct MemoryStorage {
    /// A `BTreeMap` rather than a `HashMap`: a store holds a key or two and is hit on
    /// every checkpoint, and one key comparison is cheaper than SipHashing the key.
    values: BTreeMap<String, Versioned>,
    /// The last version handed out: versions count puts across the whole store.
    last_version: u64,
}

#[derive(Debug, Clone)]
struct Versioned {
    value: String,
    version: u64,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value under `key`, for inspection.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|v| v.value.as_str())
    }
}

impl Storage for MemoryStorage {
    fn put(&mut self, key: &str, value: &str) -> Result<(), StorageError> {
        self.last_version += 1;
        let version = self.last_version;
        // Reuse the existing allocation: a pipeline rewrites one key per batch.
        match self.values.get_mut(key) {
            Some(stored) => {
                stored.value.clear();
                stored.value.push_str(value);
                stored.version = version;
            }
            None => {
                let value = value.to_owned();
                self.values
                    .insert(key.to_owned(), Versioned { value, version });
            }
        }
        Ok(())
    }

    fn get(&mut self, key: &str) -> Result<Option<String>, StorageError> {
        Ok(self.values.get(key).map(|v| v.value.clone()))
    }

    fn get_versioned(&mut self, key: &str) -> Result<Option<Stored>, StorageError> {
        Ok(self.values.get(key).map(|v| Stored {
            value: v.value.clone(),
            version: v.version,
        }))
    }

    fn put_if(&mut self, key: &str, value: &str, expected: Expected) -> Result<u64, StorageError> {
        check_expected(key, self.values.get(key).map(|v| v.version), expected)?;
        self.put(key, value)?;
        Ok(self.last_version)
    }
}

impl<S: Storage + ?Sized> Storage for Box<S> {
    fn put(&mut self, key: &str, value: &str) -> Result<(), StorageError> {
        (**self).put(key, value)
    }
    fn get(&mut self, key: &str) -> Result<Option<String>, StorageError> {
        (**self).get(key)
    }
    fn get_versioned(&mut self, key: &str) -> Result<Option<Stored>, StorageError> {
        (**self).get_versioned(key)
    }
    fn put_if(&mut self, key: &str, value: &str, expected: Expected) -> Result<u64, StorageError> {
        (**self).put_if(key, value, expected)
    }
}
