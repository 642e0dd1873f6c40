//! A wasmtime host for the pipeline-checkpoint component: load it once, open a
//! [`Manager`] per checkpoint key over your own [`Storage`] and [`Consumer`], and every
//! batch's offset is durable before any of its messages is acknowledged.
//!
//! ```no_run
//! use pipeline_checkpoint_host::{FileConsumer, FileStorage, Runtime};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::new()?; // compiles the embedded component once
//! let storage = FileStorage::open("state")?;
//! let consumer = FileConsumer::open("state/acks.log")?;
//! let mut manager = runtime.open(None, storage, consumer)?;
//! let resume_from = manager.get_checkpoint()?;
//! manager.write_checkpoint(&["m-1".into(), "m-2".into()], resume_from + 2)?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`host`]: [`Host`], one engine (with an instance pool, deadlines and a cache of
//!   compiled components) for many components and tenants.
//! - [`runtime`]: [`Runtime`] (a compiled and linked component) and [`Manager`].
//! - [`limits`]: [`Limits`] on each instance, and [`LimitExceeded`].
//! - [`cache`]: [`cache::ComponentCache`], compiled components kept on disk.
//! - `bindings`: the `bindgen!` output and the host side of the WIT imports.
//! - [`storage`] and [`consumer`]: the traits a host implements, with in-memory
//!   implementations.
//! - [`durable`]: [`FileStorage`] and [`FileConsumer`], the file-backed
//!   implementations; all durable file I/O lives there.
//! - [`etcd`]: [`EtcdStorage`], records in etcd with fenced transactions.
//! - [`location`]: [`StorageLocation`], a directory or an etcd URL, as the CLI takes it.
//! - [`key`]: the validation of storage keys.
//! - [`error`]: typed errors mirroring the WIT variants.
//! - [`tenant`]: [`Tenants`], many isolated tenants on one runtime, each with its own
//!   instance, storage root and ack log.
//! - [`pipeline`]: the resumable pipeline that the `host-example run` command drives.

#![deny(missing_docs)]

/// The checkpoint key used when none is given, the same as the Python pipelines'.
pub const DEFAULT_KEY: &str = "pipeline/checkpoint.json";

mod bindings;
pub mod cache;
pub mod consumer;
pub mod durable;
pub mod error;
pub mod etcd;
pub mod host;
pub mod key;
pub mod limits;
pub mod location;
pub mod pipeline;
pub mod runtime;
pub mod storage;
pub mod tenant;

pub use bindings::Clock;
pub use consumer::{Consumer, MemoryConsumer};
pub use durable::{FileConsumer, FileStorage};
pub use error::{AckError, CheckpointError, Error, StorageError};
pub use etcd::{EtcdStorage, EtcdUrl};
pub use host::{Host, HostConfig, PoolConfig};
pub use key::validate_key;
pub use limits::{LimitExceeded, Limits};
pub use location::StorageLocation;
pub use runtime::{COMPONENT, Manager, Runtime};
pub use storage::{MemoryStorage, Storage};
pub use tenant::{Tenant, TenantError, Tenants};

/// The README's examples, compiled and run as doctests so they cannot go stale.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
