//! The host side of `pipeline:checkpoint/storage`: the [`Storage`] trait and an
//! in-memory implementation.

use std::collections::BTreeMap;

use crate::StorageError;

/// Durable key-value storage for checkpoint records.
///
/// Implementations keep the WIT's promise: `put` returning `Ok` means the value
/// survives a crash or power loss, and a failed `put` leaves the previous value intact.
/// Keys arrive from the component unvalidated; an implementation that maps keys to
/// paths or URLs must check them (see [`crate::validate_key`]).
pub trait Storage: Send {
    /// Durably stores `value` under `key`, replacing any previous value atomically.
    fn put(&mut self, key: &str, value: &str) -> Result<(), StorageError>;
    /// Returns the value under `key`, or `None` if there is none. Never modifies.
    fn get(&mut self, key: &str) -> Result<Option<String>, StorageError>;
}

/// Storage in a map: durable only for the life of the process. For tests, benchmarks
/// and pipelines whose offsets need not outlive them.
#[derive(Debug, Default, Clone)]
pub struct MemoryStorage {
    /// A `BTreeMap` rather than a `HashMap`: a store holds a key or two and is hit on
    /// every checkpoint, and one key comparison is cheaper than SipHashing the key.
    values: BTreeMap<String, String>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value under `key`, for inspection.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

impl Storage for MemoryStorage {
    fn put(&mut self, key: &str, value: &str) -> Result<(), StorageError> {
        // Reuse the existing allocation: a pipeline rewrites one key per batch.
        match self.values.get_mut(key) {
            Some(stored) => {
                stored.clear();
                stored.push_str(value);
            }
            None => {
                self.values.insert(key.to_owned(), value.to_owned());
            }
        }
        Ok(())
    }

    fn get(&mut self, key: &str) -> Result<Option<String>, StorageError> {
        Ok(self.values.get(key).cloned())
    }
}

impl<S: Storage + ?Sized> Storage for Box<S> {
    fn put(&mut self, key: &str, value: &str) -> Result<(), StorageError> {
        (**self).put(key, value)
    }
    fn get(&mut self, key: &str) -> Result<Option<String>, StorageError> {
        (**self).get(key)
    }
}
