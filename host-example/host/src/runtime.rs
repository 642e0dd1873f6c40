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
    pub async fn open(
        &self,
        key: Option<&str>,
        storage: impl Storage + 'static,
        consumer: impl Consumer + 'static,
    ) -> Result<Manager, Error> {
        self.open_with_clock(key, storage, consumer, std::time::SystemTime::now)
            .await
    }

    /// Like [`Runtime::open`], with the clock injected (tests use a fixed time).
    pub async fn open_with_clock(
        &self,
        key: Option<&str>,
        storage: impl Storage + 'static,
        consumer: impl Consumer + 'static,
        clock: Clock,
    ) -> Result<Manager, Error> {
        let state = HostState::new(Box::new(storage), Box::new(consumer), clock, self.limits);
        let key = key.map(str::to_owned);
        let instance = Instance::start(&self.pre, state, &key)
            .await
            .map_err(|failed| failed.0)?;
        Ok(Manager {
            pre: self.pre.clone(),
            _host: self.host.clone(),
            key,
            instance: Some(instance),
            spare: None,
            calling: false,
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
    async fn start(
        pre: &CheckpointerPre<HostState>,
        state: HostState,
        key: &Option<String>,
    ) -> Result<Self, Box<(Error, HostState)>> {
        let mut store = Store::new(pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_callback(|mut cx| Ok(deadline::on_deadline(cx.data_mut())));
        deadline::restart(&mut store);
        let started = async {
            let bindings = pre.instantiate_async(&mut store).await?;
            let manager = bindings
                .pipeline_checkpoint_manager()
                .checkpoint_manager()
                .call_constructor(&mut store, key.as_deref())
                .await?;
            Ok((bindings, manager))
        }
        .await;
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
/// consumer. Its calls are `async`: while the storage or the consumer waits for I/O,
/// the instance is suspended and the thread runs other tasks. The futures are `Send`,
/// so managers can be driven from a multi-threaded runtime's tasks.
///
/// If a call traps (a fault in the component, or a host [`crate::Fault::Abort`]),
/// the instance is discarded and the call returns [`Error::Trap`]; the next call runs
/// on a fresh instance that starts again from what storage holds, as a restarted
/// process would. A call whose future is dropped before it completes is treated the
/// same way: whatever it left half done (a put that may be durable, an ack not yet
/// made) is read again from storage by the next call, as after a crash.
pub struct Manager {
    pre: CheckpointerPre<HostState>,
    /// Keeps the engine's epoch thread running while the manager lives.
    _host: Host,
    key: Option<String>,
    /// `None` only after a trap, until the next call restarts it.
    instance: Option<Instance>,
    /// The host state rescued from a trapped instance, to restart with.
    spare: Option<HostState>,
    /// Set while a call runs: still set when the next call starts, it means the last
    /// call's future was dropped mid-call, and its instance cannot be trusted.
    calling: bool,
}

impl Manager {
    /// Makes `new_offset` durable, then acknowledges `ids` (copied into the
    /// component and back out, as WIT `list<string>`).
    pub async fn write_checkpoint(&mut self, ids: &[String], new_offset: u64) -> Result<(), Error> {
        let inst = self.live().await?;
        let result = inst
            .bindings
            .pipeline_checkpoint_manager()
            .checkpoint_manager()
            .call_write_checkpoint(&mut inst.store, inst.manager, ids, new_offset)
            .await;
        self.settle(result)
    }

    /// Makes `new_offset` durable, then acknowledges `ids`, which stay in the host: the
    /// component gets a handle and hands it back to the consumer, so the call costs the
    /// same for 1 id or 10,000. `ids` is lent for the call and given back unchanged
    /// (left empty if the future is dropped before it completes).
    pub async fn write_checkpoint_batch(
        &mut self,
        ids: &mut Vec<String>,
        new_offset: u64,
    ) -> Result<(), Error> {
        let inst = self.live().await?;
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
            )
            .await;
        std::mem::swap(&mut inst.store.data_mut().batch, ids);
        self.settle(result)
    }

    /// Returns the durable offset: the stored record's, or 0 if there is none.
    pub async fn get_checkpoint(&mut self) -> Result<u64, Error> {
        let inst = self.live().await?;
        let result = inst
            .bindings
            .pipeline_checkpoint_manager()
            .checkpoint_manager()
            .call_get_checkpoint(&mut inst.store, inst.manager)
            .await;
        self.settle(result)
    }

    /// The instance to call, restarted first if the previous call trapped or was
    /// dropped mid-call, with a whole deadline.
    async fn live(&mut self) -> Result<&mut Instance, Error> {
        if std::mem::take(&mut self.calling) {
            self.discard();
        }
        if self.instance.is_none() {
            // Only a restart whose own future was dropped leaves no state behind.
            let state = self.spare.take().ok_or_else(|| {
                Error::Load(wasmtime::Error::msg(
                    "a call was dropped while its instance restarted, and the storage and \
                     consumer went with it: open a new manager",
                ))
            })?;
            match Instance::start(&self.pre, state, &self.key).await {
                Ok(instance) => self.instance = Some(instance),
                Err(failed) => {
                    let (e, state) = *failed;
                    self.spare = Some(state);
                    return Err(e);
                }
            }
        }
        self.calling = true;
        let instance = self.instance.as_mut().expect("started above");
        deadline::restart(&mut instance.store);
        Ok(instance)
    }

    /// Sorts a call's outcome into the host's error types, discarding the instance if
    /// the call trapped: a trapped instance may be mid-update; it is never called again.
    fn settle<T>(
        &mut self,
        result: wasmtime::Result<Result<T, WitCheckpointError>>,
    ) -> Result<T, Error> {
        self.calling = false;
        match result {
            Ok(result) => result.map_err(|e| Error::Checkpoint(CheckpointError::from(e))),
            Err(trap) => {
                let limits = self.discard();
                Err(classify_trap(trap, &limits, Error::Trap))
            }
        }
    }

    /// Drops the live instance, keeping its host state for the next one; returns its
    /// limits.
    fn discard(&mut self) -> Limits {
        let dead = self.instance.take().expect("a call ran on it");
        let state = dead.store.into_data();
        let limits = state.limits;
        self.spare = Some(state);
        limits
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
