//! Embed the pipeline-checkpoint component in a wasmtime host: load it once, open a
//! [`Manager`] per checkpoint key over your own [`Storage`] and [`Consumer`], and every
//! batch's offset is durable before any of its messages is acknowledged.
//!
//! The API is asynchronous, on tokio: a manager's call suspends while its storage or
//! consumer waits for I/O, so one thread serves many managers, and a multi-tenant host
//! runs thousands of tenants as tasks on a few threads. ([`blocking::BlockingManager`]
//! is the same manager for a caller without a runtime.)
//!
//! ```no_run
//! use pipeline_checkpoint_host::{FileConsumer, FileStorage, Runtime};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::new()?; // compiles the embedded component once
//! let storage = FileStorage::open("state").await?;
//! let consumer = FileConsumer::open("state/acks.log").await?;
//! let mut manager = runtime.open(None, storage, consumer).await?;
//! let resume_from = manager.get_checkpoint().await?;
//! manager
//!     .write_checkpoint(&["m-1".into(), "m-2".into()], resume_from + 2)
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # Features
//! - `files` (default): [`FileStorage`], [`FileConsumer`] and [`Tenants`], all on the
//!   local file system, with nothing beyond std.
//! - `etcd`: [`backends::etcd::EtcdStorage`], records in etcd, over an HTTP client.
//! - `s3`, `gcs`, `azure`: [`backends::object_storage::ObjectStorage`], records as
//!   objects in Amazon S3, Google Cloud Storage or Azure Blob Storage.
//!
//! Without default features the library has the engine, the traits and the in-memory
//! implementations only: no backend, no network client.
//!
//! # Layout
//! - [`host`]: [`Host`], one engine (with an instance pool, deadlines and a cache of
//!   compiled components) for many components and tenants.
//! - [`runtime`]: [`Runtime`] (a compiled and linked component) and [`Manager`].
//! - [`blocking`]: [`blocking::BlockingManager`], a manager whose calls block.
//! - [`limits`]: [`Limits`] on each instance, and [`LimitExceeded`].
//! - [`cache`]: [`cache::ComponentCache`], compiled components kept on disk.
//! - `bindings`: the `bindgen!` output and the host side of the WIT imports.
//! - `deadline`: how long a call may compute, and its yields to the executor.
//! - [`storage`] and [`consumer`]: the traits a host implements, their in-memory
//!   implementations, and [`ProcessFenced`] for stores without versions.
//! - [`backends`]: one module per backend, each behind its feature, and
//!   [`StorageLocation`], the one place a storage URL becomes a backend.
//! - [`key`]: the validation of storage keys.
//! - [`error`]: typed errors mirroring the WIT variants, and [`Fault`].
//! - [`tenant`]: [`Tenants`], many isolated tenants on one runtime, each with its own
//!   instance, storage root and ack log.

#![deny(missing_docs)]

/// The checkpoint key used when none is given, the same as the component's and the
/// Python pipelines'.
pub use pipeline_checkpoint_guest::DEFAULT_KEY;

pub mod backends;
mod bindings;
pub mod blocking;
pub mod cache;
pub mod consumer;
mod deadline;
pub mod error;
pub mod host;
pub mod key;
pub mod limits;
pub mod runtime;
pub mod storage;
#[cfg(feature = "files")]
pub mod tenant;

#[cfg(feature = "etcd")]
pub use backends::etcd::{EtcdStorage, EtcdUrl};
#[cfg(feature = "files")]
pub use backends::files::{ACK_LOG_FILE, FileConsumer, FileStorage};
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
pub use backends::object_storage::{ObjectStorage, ObjectUrl};
#[cfg(feature = "redis")]
pub use backends::redis::{RedisStreamConsumer, RedisStreamUrl};
pub use backends::{Backend, InvalidLocation, StorageLocation};
pub use bindings::Clock;
pub use consumer::{Consumer, DynConsumer, MemoryConsumer};
pub use error::{
    AckError, AckResult, Cause, CheckpointError, Error, Fault, StorageError, StorageResult,
};
pub use host::{Host, HostConfig, PoolConfig};
pub use key::validate_key;
pub use limits::{LimitExceeded, Limits};
pub use runtime::{COMPONENT, Manager, Runtime};
pub use storage::{
    DynStorage, MemoryStorage, ProcessFenced, Storage, StorageExt, UnversionedStorage,
};

/// A boxed future that can move between threads: what the object-safe traits
/// ([`DynStorage`], [`DynConsumer`], [`Backend`], the logs) return.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;
#[cfg(feature = "files")]
pub use tenant::{Tenant, TenantClaim, TenantError, Tenants};

/// The README's examples, compiled and run as doctests so they cannot go stale.
#[doc = include_str!("../../../README.md")]
#[cfg(all(doctest, feature = "files"))]
pub struct ReadmeDoctests;
