//! [`BlockingManager`]: the same [`Manager`] for a caller without an asynchronous
//! runtime, each call blocking its thread until it completes.
//!
//! It is a thin wrapper: the manager, the component and the storage are the
//! asynchronous ones, driven to completion on a single-threaded tokio runtime that the
//! wrapper owns (with its blocking pool, where the file backends sync). A caller that
//! already runs on tokio should await [`Manager`]'s calls instead; a blocking call
//! made inside an asynchronous task panics, as tokio's `block_on` does.

use crate::{Consumer, Error, Manager, Runtime, Storage};

/// A [`Manager`] whose calls block. See the [module documentation](self).
pub struct BlockingManager {
    manager: Manager,
    executor: tokio::runtime::Runtime,
}

impl BlockingManager {
    /// Opens a manager as [`Runtime::open`] does, on a runtime of its own.
    pub fn open(
        runtime: &Runtime,
        key: Option<&str>,
        storage: impl Storage + 'static,
        consumer: impl Consumer + 'static,
    ) -> Result<Self, Error> {
        // Timers, and the I/O driver where the network backends (etcd, Redis) compile
        // it in: their clients are asynchronous.
        let executor = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Executor)?;
        let manager = executor.block_on(runtime.open(key, storage, consumer))?;
        Ok(Self { manager, executor })
    }

    /// [`Manager::write_checkpoint`], blocking.
    pub fn write_checkpoint(&mut self, ids: &[String], new_offset: u64) -> Result<(), Error> {
        self.executor
            .block_on(self.manager.write_checkpoint(ids, new_offset))
    }

    /// [`Manager::write_checkpoint_batch`], blocking.
    pub fn write_checkpoint_batch(
        &mut self,
        ids: &mut Vec<String>,
        new_offset: u64,
    ) -> Result<(), Error> {
        self.executor
            .block_on(self.manager.write_checkpoint_batch(ids, new_offset))
    }

    /// [`Manager::get_checkpoint`], blocking.
    pub fn get_checkpoint(&mut self) -> Result<u64, Error> {
        self.executor.block_on(self.manager.get_checkpoint())
    }

    /// The asynchronous manager underneath, for a caller that moves to a runtime.
    pub fn into_inner(self) -> Manager {
        self.manager
    }
}
