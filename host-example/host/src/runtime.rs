//! Loading the component once and opening managers on it.

use std::path::Path;

use wasmtime::component::{Component, Linker, Resource, ResourceAny};
use wasmtime::{Engine, Store, Trap};

use crate::bindings::{
    self, Checkpointer, CheckpointerPre, Clock, HostState, LentBatch, WitCheckpointError,
};
use crate::cache::Origin;
use crate::deadline;
use crate::{CheckpointError, Consumer, Error, Host, HostConfig, LimitExceeded, Limits, Storage};

/// The checkpoint component built from `guest/`, embedded at build time.
pub const COMPONENT: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/pipeline_checkpoint_guest.wasm"));

/// A compiled and linked checkpoint component, ready to open managers.
///
/// Compiling is the expensive step (tens of milliseconds); do it once per process and
/// open as many [`Manager`]s as needed. `Runtime` is cheap to clone and can be shared
/// between threads. Every instance it opens is bounded by its [`Limits`].
#[derive(Clone)]
pub struct Runtime {
    host: Host,
    pre: CheckpointerPre<HostState>,
    limits: Limits,
    origin: Origin,
}

impl Runtime {
    /// Compiles the embedded component on a host of its own with the default
    /// [`HostConfig`]. To share an engine, an instance pool or a compiled-component
    /// cache between components, create a [`Host`] and [`Host::load`] them.
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

    /// Compiles a component from its bytes, on a host of its own.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        Host::new(HostConfig::default())?.load(bytes)
    }

    /// Links a compiled component; [`Host::load`] is the way in.
    pub(crate) fn from_component(
        host: Host,
        component: Component,
        origin: Origin,
        limits: Limits,
    ) -> Result<Self, Error> {
        let mut linker = Linker::<HostState>::new(host.engine());
        bindings::add_to_linker(&mut linker).map_err(Error::Load)?;
        let pre = linker.instantiate_pre(&component).map_err(Error::Load)?;
        let pre = CheckpointerPre::new(pre).map_err(Error::Load)?;
        Ok(Self {
            host,
            pre,
            limits,
            origin,
        })
    }

    /// The engine, for hosts that want to inspect the component.
    pub fn engine(&self) -> &Engine {
        self.host.engine()
    }

    /// The host this runtime was loaded on.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The limits of the instances this runtime opens.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether the component was compiled on this start or loaded from the cache.
    pub fn origin(&self) -> Origin {
        self.origin
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
        let state = HostState::new(Box::new(storage), Box::new(consumer), clock, self.limits);
        let key = key.map(str::to_owned);
        let instance = Instance::start(&self.pre, state, &key).map_err(|failed| failed.0)?;
        Ok(Manager {
            pre: self.pre.clone(),
            _host: self.host.clone(),
            key,
            instance: Some(instance),
            spare: None,
        })
    }
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
    ) -> Result<Self, Box<(Error, HostState)>> {
        let mut store = Store::new(pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_callback(|mut cx| Ok(deadline::on_deadline(cx.data_mut())));
        deadline::restart(&mut store);
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
            Err(e) => {
                let limits = store.data().limits;
                Err(Box::new((
                    classify_trap(e, &limits, Error::Load),
                    store.into_data(),
                )))
            }
        }
    }
}

/// One checkpoint key's manager: a component instance with its own storage and
/// consumer.
///
/// If a call traps (a fault in the component, or a host [`crate::Fault::Abort`]),
/// the instance is discarded and the call returns [`Error::Trap`]; the next call runs
/// on a fresh instance that starts again from what storage holds, as a restarted
/// process would.
pub struct Manager {
    pre: CheckpointerPre<HostState>,
    /// Keeps the engine's epoch thread running while the manager lives.
    _host: Host,
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
                    Err(failed) => {
                        let (e, state) = *failed;
                        self.spare = Some(state);
                        return Err(e);
                    }
                }
            }
        };
        deadline::restart(&mut instance.store);
        match f(instance) {
            Ok(result) => result.map_err(|e| Error::Checkpoint(CheckpointError::from(e))),
            Err(trap) => {
                // A trapped instance may be mid-update; never call into it again.
                let dead = self.instance.take().expect("it just ran");
                let state = dead.store.into_data();
                let error = classify_trap(trap, &state.limits, Error::Trap);
                self.spare = Some(state);
                Err(error)
            }
        }
    }
}

/// The host error for a trap: [`Error::Limit`] if a limit stopped the call (the
/// deadline, or a [`LimitExceeded`] that a limiter or an import raised), else `other`.
fn classify_trap(
    trap: wasmtime::Error,
    limits: &Limits,
    other: fn(wasmtime::Error) -> Error,
) -> Error {
    if let Some(limit) = trap.downcast_ref::<LimitExceeded>() {
        return Error::Limit(limit.clone());
    }
    if trap.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return Error::Limit(LimitExceeded::Deadline(limits.deadline));
    }
    other(trap)
}
