//! [`Host`]: one wasmtime engine for many components and many tenants, with the
//! instance pool, the epoch ticker that enforces deadlines, and the compiled-component
//! cache.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::cache::{ComponentCache, Origin};
use crate::{Error, Limits, Runtime};

/// How a [`Host`] is set up. [`HostConfig::default`]: instances allocated on demand,
/// the default [`Limits`], no cache.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// The limits of every instance of components loaded by this host, unless
    /// [`Host::load_with_limits`] gives others.
    pub limits: Limits,
    /// Preallocate instance slots; `None`: allocate each instance on demand.
    pub pool: Option<PoolConfig>,
    /// Keep compiled components in this directory and load them from it on later
    /// starts; `None`: compile on every start. See [`ComponentCache`].
    pub cache_dir: Option<PathBuf>,
}

/// The pooling allocator's size: how many instances may be live at once, and how
/// large each memory slot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Instances live at once (one per open manager), across every component loaded
    /// by the host, and as many fiber stacks. Opening one more fails with
    /// [`Error::Load`].
    pub instances: u32,
    /// The size of each memory slot: no instance's memory can grow past it, whatever
    /// its [`Limits::memory_bytes`]. Default 16 MiB.
    pub memory_bytes: usize,
    /// How much of a memory slot stays mapped when its instance is dropped, zeroed for
    /// the next one instead of given back to the system: the component's stack, data
    /// and first heap pages, which the next instance would otherwise fault in again one
    /// page at a time. Faster to open, at up to this much resident memory per slot ever
    /// used. Default 256 KiB; 0 gives every page back (a host that opens an instance
    /// per tenant once, for many tenants at a time, saves memory).
    pub keep_resident_bytes: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            instances: 1_000,
            memory_bytes: Limits::default().memory_bytes,
            keep_resident_bytes: 256 << 10,
        }
    }
}

/// Core instances, memories and tables one checkpoint component instance uses at most:
/// the component and the adapters the component model adds around it.
const CORE_INSTANCES_PER_COMPONENT: u32 = 8;
const MEMORIES_PER_COMPONENT: u32 = 1;
const TABLES_PER_COMPONENT: u32 = 4;

/// One engine shared by every component it loads and every instance they open.
///
/// Cheap to clone. A background thread advances the engine's epoch every
/// [`Limits::tick`]; it stops when the last clone of the host and the last runtime
/// loaded from it are dropped.
#[derive(Clone)]
pub struct Host {
    engine: Engine,
    limits: Limits,
    cache: Option<Arc<ComponentCache>>,
    /// Held, never read: the thread runs while a clone of this host lives.
    _ticker: Arc<Ticker>,
}

impl Host {
    /// Creates the engine (and its instance pool, if configured).
    pub fn new(config: HostConfig) -> Result<Self, Error> {
        let engine = Engine::new(&engine_config(config.pool)).map_err(Error::Load)?;
        let cache = config
            .cache_dir
            .map(|dir| Arc::new(ComponentCache::new(dir)));
        let ticker = Arc::new(Ticker::start(engine.clone(), config.limits.tick));
        Ok(Self {
            engine,
            limits: config.limits,
            cache,
            _ticker: ticker,
        })
    }

    /// The engine, shared by everything this host loads.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The limits runtimes get from [`Host::load`].
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Compiles a component (or loads it from the cache) with the host's limits.
    pub fn load(&self, bytes: &[u8]) -> Result<Runtime, Error> {
        self.load_with_limits(bytes, self.limits)
    }

    /// Compiles a component (or loads it from the cache) whose instances get
    /// `limits`; the limit on memory is also bounded by the pool's slots.
    pub fn load_with_limits(&self, bytes: &[u8], limits: Limits) -> Result<Runtime, Error> {
        let (component, origin) = match &self.cache {
            Some(cache) => cache.load(&self.engine, bytes)?,
            None => (
                wasmtime::component::Component::new(&self.engine, bytes).map_err(Error::Load)?,
                Origin::Compiled,
            ),
        };
        Runtime::from_component(self.clone(), component, origin, limits)
    }
}

fn engine_config(pool: Option<PoolConfig>) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Calls run on fibers (`call_async`), but the component never runs two calls at
    // once: the component model's concurrency machinery would only cost each call.
    config.concurrency_support(false);
    // Copy the component's few kilobytes of initial data into each new instance
    // rather than map them copy-on-write from a memory image: for a module this small
    // the mapping costs more than the copy (opening a manager takes a quarter to a
    // third less time; calls are unaffected).
    config.memory_init_cow(false);
    // Deadlines: generated code checks the epoch at function entries and loop heads,
    // a load and a compare, far cheaper than counting fuel for every instruction.
    config.epoch_interruption(true);
    if let Some(pool) = pool {
        let mut pooling = PoolingAllocationConfig::new();
        pooling
            .total_component_instances(pool.instances)
            .total_core_instances(pool.instances * CORE_INSTANCES_PER_COMPONENT)
            .total_memories(pool.instances * MEMORIES_PER_COMPONENT)
            .total_tables(pool.instances * TABLES_PER_COMPONENT)
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(MEMORIES_PER_COMPONENT)
            .max_tables_per_component(TABLES_PER_COMPONENT)
            .max_memory_size(pool.memory_bytes)
            // A store keeps the fiber stack of its last call for its next one: one
            // stack per live instance.
            .total_stacks(pool.instances)
            .linear_memory_keep_resident(pool.keep_resident_bytes)
            .table_keep_resident(pool.keep_resident_bytes.min(16 << 10));
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        // Reserve only the slot's size of address space per memory (bounds are then
        // checked explicitly): thousands of 4 GiB reservations would not fit.
        config.memory_reservation(pool.memory_bytes as u64);
        config.memory_guard_size(64 << 10);
        config.memory_reservation_for_growth(0);
    }
    config
}

/// The thread that advances the engine's epoch, stopped on drop.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine, tick: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::Builder::new()
            .name("checkpoint-epoch".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    // Parked rather than asleep, so that a drop wakes it at once.
                    thread::park_timeout(tick);
                    engine.increment_epoch();
                }
            })
            .expect("the epoch thread starts");
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
