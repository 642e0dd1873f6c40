//! Loading the component once and opening managers on it.

use std::path::Path;

use wasmtime::component::{Component, Linker, Resource, ResourceAny};
use wasmtime::{Config, Engine, Store};

use crate::bindings::{
    self, Checkpointer, CheckpointerPre, Clock, HostState, LentBatch, WitCheckpointError,
};
use crate::{CheckpointError, Consumer, Error, Storage};

/// The checkpoint component built from `guest/`, embedded at build time.
pub const COMPONENT: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/pipeline_checkpoint_guest.wasm"));

/// A compiled and linked checkpoint component, ready to open managers.
///
/// Compiling is the expensive step (tens of milliseconds); do it once per process and
/// open as many [`Manager`]s as needed. `Runtime` is cheap to clone and can be shared
/// between threads.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    pre: CheckpointerPre<HostState>,
}

impl Runtime {
    /// Compiles the embedded component.
    pub fn new() -> Result<Self, Error> {
        Self::from_bytes(COMPONENT)
    }

    /// Compiles a component from a `.wasm` file implementing the `checkpointer` world.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::Load(wasmtime::Error::msg(format!(
                "reading {}: {e}",
                path.display()
            )))
        })?;
        Self::from_bytes(&bytes)
    }

    /// Compiles a component from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let engine = Engine::new(&engine_config()).map_err(Error::Load)?;
        let component = Component::new(&engine, bytes).map_err(Error::Load)?;
        let mut linker = Linker::<HostState>::new(&engine);
        bindings::add_to_linker(&mut linker).map_err(Error::Load)?;
        let pre = linker.instantiate_pre(&component).map_err(Error::Load)?;
        let pre = CheckpointerPre::new(pre).map_err(Error::Load)?;
        Ok(Self { engine, pre })
    }

    /// The engine, for hosts that want to inspect the component.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Opens a manager for `key` (`None`: `pipeline/checkpoint.json`) over `storage`
    /// and `consumer`, stamping records with the system clock.
    pub fn open(
        &self,
        key: Option<&str>,
        storage: impl Storage + 'static,
        consumer: impl Consumer + 'static,
    ) -> Result<Manager, Error> {
        self.open_with_clock(key, storage, consumer, std::time::SystemTime::now)
    }

    /// Like [`Runtime::open`], with the clock injected (tests use a fixed time).
    pub fn open_with_clock(
        &self,
        key: Option<&str>,
        storage: impl Storage + 'static,
        consumer: impl Consumer + 'static,
        clock: Clock,
    ) -> Result<Manager, Error> {
        let state = HostState::new(Box::new(storage), Box::new(consumer), clock);
        let key = key.map(str::to_owned);
        let instance = Instance::start(&self.pre, state, &key).map_err(|(e, _)| e)?;
        Ok(Manager {
            pre: self.pre.clone(),
            key,
            instance: Some(instance),
            spare: None,
        })
    }
}

fn engine_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Calls are synchronous; without the async machinery each call is cheaper.
    config.concurrency_support(false);
    // Copy the component's few kilobytes of initial data into each new instance
    // rather than map them copy-on-write from a memory image: for a module this small
    // the mapping costs more than the copy (opening a manager takes a quarter to a
    // third less time; calls are unaffected).
    config.memory_init_cow(false);
    config
}

/// A live instance: its store and the `checkpoint-manager` resource in it.
struct Instance {
    store: Store<HostState>,
    bindings: Checkpointer,
    manager: ResourceAny,
}

impl Instance {
    /// Instantiates the component and constructs its manager. On failure the host
    /// state is handed back, so a caller retrying later loses nothing.
    fn start(
        pre: &CheckpointerPre<HostState>,
        state: HostState,
        key: &Option<String>,
    ) -> Result<Self, (Error, HostState)> {
        let mut store = Store::new(pre.engine(), state);
        let started = pre.instantiate(&mut store).and_then(|bindings| {
            let manager = bindings
                .pipeline_checkpoint_manager()
                .checkpoint_manager()
                .call_constructor(&mut store, key.as_deref())?;
            Ok((bindings, manager))
        });
        match started {
            Ok((bindings, manager)) => Ok(Self {
                store,
                bindings,
                manager,
            }),
            Err(e) => Err((Error::Load(e), store.into_data())),
        }
    }
}

/// One checkpoint key's manager: a component instance with its own storage and
/// consumer.
///
/// If a call traps (a fault in the component, or a host [`crate::StorageError::Abort`]),
/// the instance is discarded and the call returns [`Error::Trap`]; the next call runs
/// on a fresh instance that starts again from what storage holds, as a restarted
/// process would.
pub struct Manager {
    pre: CheckpointerPre<HostState>,
    key: Option<String>,
    /// `None` only after a trap, until the next call restarts it.
    instance: Option<Instance>,
    /// The host state rescued from a trapped instance, to restart with.
    spare: Option<HostState>,
}

impl Manager {
    /// Makes `new_offset` durable, then acknowledges `ids` (copied into the
    /// component and back out, as WIT `list<string>`).
    pub fn write_checkpoint(&mut self, ids: &[String], new_offset: u64) -> Result<(), Error> {
        self.call(|inst| {
            inst.bindings
                .pipeline_checkpoint_manager()
                .checkpoint_manager()
                .call_write_checkpoint(&mut inst.store, inst.manager, ids, new_offset)
        })
    }

    /// Makes `new_offset` durable, then acknowledges `ids`, which stay in the host: the
    /// component gets a handle and hands it back to the consumer, so the call costs the
    /// same for 1 id or 10,000. `ids` is lent for the call and given back unchanged.
    pub fn write_checkpoint_batch(
        &mut self,
        ids: &mut Vec<String>,
        new_offset: u64,
    ) -> Result<(), Error> {
        self.call(|inst| {
            std::mem::swap(&mut inst.store.data_mut().batch, ids);
            let result = inst
                .bindings
                .pipeline_checkpoint_manager()
                .checkpoint_manager()
                .call_write_checkpoint_batch(
                    &mut inst.store,
                    inst.manager,
                    Resource::<LentBatch>::new_borrow(0),
                    new_offset,
                );
            std::mem::swap(&mut inst.store.data_mut().batch, ids);
            result
        })
    }

    /// Returns the durable offset: the stored record's, or 0 if there is none.
    pub fn get_checkpoint(&mut self) -> Result<u64, Error> {
        self.call(|inst| {
            inst.bindings
                .pipeline_checkpoint_manager()
                .checkpoint_manager()
                .call_get_checkpoint(&mut inst.store, inst.manager)
        })
    }

    /// Runs one call on the live instance (restarting it first if the previous call
    /// trapped) and sorts the outcome into the host's error types.
    fn call<T>(
        &mut self,
        f: impl FnOnce(&mut Instance) -> wasmtime::Result<Result<T, WitCheckpointError>>,
    ) -> Result<T, Error> {
        let instance = match &mut self.instance {
            Some(instance) => instance,
            None => {
                let state = self
                    .spare
                    .take()
                    .expect("a trapped instance leaves its state");
                match Instance::start(&self.pre, state, &self.key) {
                    Ok(instance) => self.instance.insert(instance),
                    Err((e, state)) => {
                        self.spare = Some(state);
                        return Err(e);
                    }
                }
            }
        };
        match f(instance) {
            Ok(result) => result.map_err(|e| Error::Checkpoint(CheckpointError::from(e))),
            Err(trap) => {
                // A trapped instance may be mid-update; never call into it again.
                let dead = self.instance.take().expect("it just ran");
                self.spare = Some(dead.store.into_data());
                Err(Error::Trap(trap))
            }
        }
    }
}
