//! The host side of `pipeline:checkpoint/storage`: the [`Storage`] trait, an in-memory
//! implementation, and [`ProcessFenced`], the adapter for stores without versions.

use std::collections::BTreeMap;

pub use pipeline_checkpoint_guest::{Expected, Stored};

use crate::{BoxFuture, StorageError, StorageResult};

/// Durable key-value storage for checkpoint records, with versions for conditional
/// writes: the two calls the component makes, both asynchronous.
///
/// Implementations keep the WIT's promises: `put` returning `Ok` means the value
/// survives a crash or power loss, a failed `put` leaves the previous value intact, and
/// `put` is a compare-and-swap, atomic with respect to every other writer of the key
/// (in other processes and on other machines too), which is what fences a stale
/// worker. Both methods are required: a backend cannot forget the compare. A store
/// that has only an unconditional put and a get (as the Python pipelines' backends
/// do) is wrapped in [`ProcessFenced`], which says what it gives up.
///
/// The calls run on the executor of whoever drives the [`crate::Manager`] (a tokio
/// runtime): an implementation awaits its I/O, and moves blocking work (an fsync, a
/// blocking client) onto tokio's blocking pool, never onto the executor's threads.
/// Implement the methods as `async fn`s; their futures must be `Send`.
///
/// Keys arrive from the component unvalidated; an implementation that maps keys to
/// paths or URLs must check them (see [`crate::validate_key`]). An implementation
/// fails a call with a [`StorageError`] for the component to act on, or aborts it
/// ([`crate::Fault::Abort`]).
pub trait Storage: Send {
    /// Returns the value under `key` and its version, or `None`. Never modifies.
    fn get(&mut self, key: &str) -> impl Future<Output = StorageResult<Option<Stored>>> + Send;

    /// Durably stores `value` under `key` if the key still matches `expected`, and
    /// returns the new value's version; otherwise writes nothing and fails with
    /// [`StorageError::Conflict`]. The compare and the write are one atomic step.
    fn put(
        &mut self,
        key: &str,
        value: &str,
        expected: Expected,
    ) -> impl Future<Output = StorageResult<u64>> + Send;
}

/// A [`Storage`] behind a pointer, as a component instance holds it: every `Storage`
/// is one (each call's future boxed), and a `Box<dyn DynStorage>` is a `Storage` again.
/// A backend chosen at run time ([`crate::StorageLocation`]) is one of these.
pub trait DynStorage: Send {
    /// [`Storage::get`], its future boxed.
    fn get_boxed<'a>(&'a mut self, key: &'a str) -> BoxFuture<'a, StorageResult<Option<Stored>>>;
    /// [`Storage::put`], its future boxed.
    fn put_boxed<'a>(
        &'a mut self,
        key: &'a str,
        value: &'a str,
        expected: Expected,
    ) -> BoxFuture<'a, StorageResult<u64>>;
}

impl<S: Storage> DynStorage for S {
    fn get_boxed<'a>(&'a mut self, key: &'a str) -> BoxFuture<'a, StorageResult<Option<Stored>>> {
        Box::pin(self.get(key))
    }
    fn put_boxed<'a>(
        &'a mut self,
        key: &'a str,
        value: &'a str,
        expected: Expected,
    ) -> BoxFuture<'a, StorageResult<u64>> {
        Box::pin(self.put(key, value, expected))
    }
}

impl Storage for Box<dyn DynStorage> {
    async fn get(&mut self, key: &str) -> StorageResult<Option<Stored>> {
        (**self).get_boxed(key).await
    }
    async fn put(&mut self, key: &str, value: &str, expected: Expected) -> StorageResult<u64> {
        (**self).put_boxed(key, value, expected).await
    }
}

/// What a host that is not the component does with a [`Storage`]: read a value, and
/// replace it whatever it holds (a tool's `reset`, a test's setup), still as a
/// compare-and-swap, so that a writer that got in between is reported, not overwritten.
pub trait StorageExt: Storage {
    /// The value under `key`, or `None`.
    fn value(&mut self, key: &str) -> impl Future<Output = StorageResult<Option<String>>> + Send {
        async move { Ok(self.get(key).await?.map(|stored| stored.value)) }
    }

    /// Replaces the value under `key`, whatever it is, and returns the new version; a
    /// [`StorageError::Conflict`] if another writer replaced it between the read and
    /// the write.
    fn replace(
        &mut self,
        key: &str,
        value: &str,
    ) -> impl Future<Output = StorageResult<u64>> + Send {
        async move {
            let expected = match self.get(key).await? {
                Some(stored) => Expected::Version(stored.version),
                None => Expected::Absent,
            };
            self.put(key, value, expected).await
        }
    }
}

impl<S: Storage + ?Sized> StorageExt for S {}

/// A store with only an unconditional put and a get, like the Python seed's
/// `StorageBackend`. Wrap it in [`ProcessFenced`] to use it as a [`Storage`].
pub trait UnversionedStorage: Send {
    /// Durably stores `value` under `key`, replacing any previous value atomically.
    fn put(&mut self, key: &str, value: &str) -> impl Future<Output = StorageResult<()>> + Send;

    /// Returns the value under `key`, or `None` if there is none. Never modifies.
    fn get(&mut self, key: &str) -> impl Future<Output = StorageResult<Option<String>>> + Send;
}

/// A [`Storage`] over an [`UnversionedStorage`], whose versions are the values'
/// [`content_version`]s and whose compare-then-put is atomic **only against writers in
/// this process that share this adapter**: it fences a stale manager within one
/// process, not a stale worker in another process or on another machine, which can
/// read, be overtaken, and still overwrite. Use it for stores that have one writer by
/// construction; give a shared store a real compare-and-swap.
#[derive(Debug, Default, Clone)]
pub struct ProcessFenced<S>(pub S);

impl<S: UnversionedStorage> Storage for ProcessFenced<S> {
    async fn get(&mut self, key: &str) -> StorageResult<Option<Stored>> {
        Ok(self.0.get(key).await?.map(|value| Stored {
            version: content_version(&value),
            value,
        }))
    }

    async fn put(&mut self, key: &str, value: &str, expected: Expected) -> StorageResult<u64> {
        let current = self.get(key).await?;
        check_expected(key, current.map(|s| s.version), expected)?;
        self.0.put(key, value).await?;
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
    async fn get(&mut self, key: &str) -> StorageResult<Option<Stored>> {
        Ok(self.values.get(key).map(|v| Stored {
            value: v.value.clone(),
            version: v.version,
        }))
    }

    async fn put(&mut self, key: &str, value: &str, expected: Expected) -> StorageResult<u64> {
        check_expected(key, self.values.get(key).map(|v| v.version), expected)?;
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
        Ok(version)
    }
}
