//! Host bindings generated from `wit/`, and their implementation over the host's
//! [`Storage`], [`Consumer`] and clock.

use std::mem::take;

use wasmtime::StoreContextMut;
use wasmtime::component::{HasSelf, Linker, Resource, ResourceType, WasmList, WasmStr};

use crate::consumer::DynConsumer;
use crate::limits::Limiter;
use crate::storage::DynStorage;
use crate::storage::Expected;
use crate::{
    AckError, AckResult, Cause, Fault, LimitExceeded, Limits, StorageError, StorageResult,
    validate_key,
};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "checkpointer",
    // Every import may trap: that is how a host's `Abort` stops a call. (`storage` and
    // `consumer` are registered by hand, asynchronously; the clock answers at once.)
    imports: { default: trappable },
    // The manager's calls run on a fiber, so that a storage or consumer call that
    // waits for I/O suspends the instance instead of blocking its thread.
    exports: { default: async },
    trappable_error_type: {
        "pipeline:checkpoint/storage.storage-error" => StorageError,
        "pipeline:checkpoint/consumer.ack-error" => AckError,
    },
    with: {
        "pipeline:checkpoint/consumer.batch": LentBatch,
    },
});

pub use exports::pipeline::checkpoint::manager::{
    CheckpointError as WitCheckpointError, Regression,
};
use pipeline::checkpoint::consumer::AckError as WitAckError;
use pipeline::checkpoint::storage::{
    Expected as WitExpected, Lookup, StorageError as WitStorageError, Stored as WitStored,
};
use wasi::clocks::wall_clock::{self, Datetime};

/// The hand-registered imports' instance names, with the WIT package's version read
/// from `wit/world.wit` by the build script: the contract's version is written there
/// alone.
const STORAGE_INSTANCE: &str = concat!(
    "pipeline:checkpoint/storage@",
    env!("PIPELINE_CHECKPOINT_WIT_VERSION")
);
const CONSUMER_INSTANCE: &str = concat!(
    "pipeline:checkpoint/consumer@",
    env!("PIPELINE_CHECKPOINT_WIT_VERSION")
);

/// The `batch` resource's host type. There is at most one batch per call, held in
/// [`HostState::batch`], so a handle carries no data: its representation is always 0.
pub struct LentBatch;

/// A clock for `written_at`: the system clock, or a fixed one in tests.
pub type Clock = fn() -> std::time::SystemTime;

/// Everything a component instance's imports reach: the data of its `Store`.
pub struct HostState {
    pub(crate) storage: Box<dyn DynStorage>,
    pub(crate) consumer: Box<dyn DynConsumer>,
    pub(crate) clock: Clock,
    /// What this instance may consume and hand the host.
    pub(crate) limits: Limits,
    /// Enforces `limits` on memories and tables.
    pub(crate) limiter: Limiter,
    /// Where the component's deadline stands (see [`crate::deadline`]).
    pub(crate) deadline: crate::deadline::Deadline,
    /// The ids of the batch lent to the current `write-checkpoint-batch` call.
    pub(crate) batch: Vec<String>,
    /// Where `storage` calls copy their strings out of the component's memory (boxed:
    /// the state travels by value when an instance is restarted).
    scratch: Box<Scratch>,
}

/// The key and value of the current `storage` call, in buffers that live as long as the
/// instance, so that a checkpoint allocates nothing to read them.
#[derive(Default)]
struct Scratch {
    key: String,
    value: String,
    /// The last key found valid (see [`HostState::checked_key`]).
    valid_key: String,
}

impl HostState {
    pub(crate) fn new(
        storage: Box<dyn DynStorage>,
        consumer: Box<dyn DynConsumer>,
        clock: Clock,
        limits: Limits,
    ) -> Self {
        Self {
            storage,
            consumer,
            clock,
            limits,
            limiter: Limiter { limits },
            deadline: Default::default(),
            batch: Vec::new(),
            scratch: Box::default(),
        }
    }
}

/// Registers the host side of every import of the `checkpointer` world.
///
/// `storage` and `consumer` are registered by hand rather than by the generated
/// `add_to_linker`, for two reasons. The host never trusts the component: every key,
/// value and id list is measured against [`Limits`] where it lies in the component's
/// memory, before the host copies any of it (the generated code would first lift a
/// million ids into a million `String`s). And a checkpoint allocates nothing to read
/// them: `put`'s key and value are copied into buffers that live as long as the
/// instance. Each is asynchronous: while the storage or the consumer waits for I/O, the
/// instance's fiber is suspended and its thread runs other tasks. Each import also
/// restarts the call's deadline when it returns, so that time spent in the host (an
/// fsync, a network round trip) is never charged to the component.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wall_clock::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    let mut storage = linker.instance(STORAGE_INSTANCE)?;
    storage.func_wrap_async(
        "put",
        |mut cx, (key, value, expected): (WasmStr, WasmStr, WitExpected)| {
            // Taken out of the state while the strings borrow the store; if a string
            // is refused the call traps and the buffers are reallocated next time.
            let copied = copy_key_and_value(&mut cx, &key, &value);
            let expected = match expected {
                WitExpected::Absent => Expected::Absent,
                WitExpected::Version(v) => Expected::Version(v),
            };
            Box::new(async move {
                let (key, value) = copied?;
                let state = cx.data_mut();
                let result = match state.checked_key(&key) {
                    Ok(()) => state.storage.put_boxed(&key, &value, expected).await,
                    Err(invalid) => Err(invalid.into()),
                };
                let state = cx.data_mut();
                (state.scratch.key, state.scratch.value) = (key, value);
                crate::deadline::restart(&mut cx);
                storage_result(result)
            })
        },
    )?;
    storage.func_wrap_async("get", |mut cx, (key,): (WasmStr,)| {
        let limits = cx.data().limits;
        let mut key_buf = take(&mut cx.data_mut().scratch.key);
        let copied = copy_str(&mut key_buf, &key, &cx, limits.key_bytes, key_too_long);
        Box::new(async move {
            copied?;
            let state = cx.data_mut();
            let result = match state.checked_key(&key_buf) {
                Ok(()) => state.storage.get_boxed(&key_buf).await,
                Err(invalid) => Err(invalid.into()),
            };
            cx.data_mut().scratch.key = key_buf;
            crate::deadline::restart(&mut cx);
            let result = result.and_then(|stored| match stored {
                // A value the component could not have written is refused before it is
                // copied into the component's memory: a record of gigabytes (a wrong
                // file, garbage) must not become a memory-limit trap with nothing to act
                // on.
                Some(s) if s.value.len() > limits.value_bytes => {
                    Err(StorageError::InvalidData(Cause::new(format!(
                        "the stored value is {} bytes, over the {}-byte limit on values",
                        s.value.len(),
                        limits.value_bytes
                    )))
                    .into())
                }
                stored => Ok(stored.map(|s| WitStored {
                    value: s.value,
                    version: s.version,
                })),
            });
            let (result,) = storage_result(result)?;
            Ok((match result {
                Ok(Some(stored)) => Lookup::Found(stored),
                Ok(None) => Lookup::Absent,
                Err(e) => Lookup::Failed(e),
            },))
        })
    })?;

    let mut consumer = linker.instance(CONSUMER_INSTANCE)?;
    consumer.resource("batch", ResourceType::host::<LentBatch>(), |_, _| {
        // Batches are only ever lent (borrowed) to the component, so it never owns
        // one to drop; nothing to free either way.
        Ok(())
    })?;
    consumer.func_wrap_async("ack", |mut cx, (ids,): (WasmList<WasmStr>,)| {
        let copied = copy_ids(&mut cx, &ids);
        Box::new(async move {
            let ids = copied?;
            let result = cx.data_mut().consumer.ack_boxed(&ids).await;
            crate::deadline::restart(&mut cx);
            ack_result(result)
        })
    })?;
    consumer.func_wrap_async("ack-batch", |mut cx, (_batch,): (Resource<LentBatch>,)| {
        Box::new(async move {
            let HostState {
                consumer, batch, ..
            } = cx.data_mut();
            let result = consumer.ack_boxed(batch.as_slice()).await;
            crate::deadline::restart(&mut cx);
            ack_result(result)
        })
    })?;
    Ok(())
}

impl HostState {
    /// `Ok` if `key` is a valid storage key. The component asks for the same key on
    /// every call, so the last key found valid is remembered and a repeat costs one
    /// comparison, not the whole validation.
    fn checked_key(&mut self, key: &str) -> Result<(), StorageError> {
        if self.scratch.valid_key != key {
            validate_key(key)?;
            self.scratch.valid_key.clear();
            self.scratch.valid_key.push_str(key);
        }
        Ok(())
    }
}

/// Copies `put`'s key and value out of the component's memory into the instance's
/// buffers, each measured against its limit first.
fn copy_key_and_value(
    cx: &mut StoreContextMut<'_, HostState>,
    key: &WasmStr,
    value: &WasmStr,
) -> wasmtime::Result<(String, String)> {
    let limits = cx.data().limits;
    let scratch = &mut cx.data_mut().scratch;
    let (mut key_buf, mut value_buf) = (take(&mut scratch.key), take(&mut scratch.value));
    copy_str(&mut key_buf, key, cx, limits.key_bytes, key_too_long)?;
    copy_str(
        &mut value_buf,
        value,
        cx,
        limits.value_bytes,
        value_too_long,
    )?;
    Ok((key_buf, value_buf))
}

/// Copies the ids of an `ack` out of the component's memory, the list's length and
/// each id measured against their limits first.
fn copy_ids(
    cx: &mut StoreContextMut<'_, HostState>,
    ids: &WasmList<WasmStr>,
) -> wasmtime::Result<Vec<String>> {
    let limits = cx.data().limits;
    if ids.len() > limits.ids_per_ack {
        return Err(wasmtime::Error::new(LimitExceeded::IdsPerAck {
            count: ids.len(),
            limit: limits.ids_per_ack,
        }));
    }
    // One pass reads the (pointer, length) pairs, a second copies the text: the
    // iterator holds the store, which each copy needs.
    let ids: Vec<WasmStr> = ids.iter(&mut *cx)?.collect::<wasmtime::Result<_>>()?;
    let mut copied = Vec::with_capacity(ids.len());
    for id in &ids {
        let mut buf = String::new();
        copy_str(&mut buf, id, cx, limits.id_bytes, id_too_long)?;
        copied.push(buf);
    }
    Ok(copied)
}

/// Copies `s`, a string in the component's memory, into `buf` if it is at most `limit`
/// bytes; a longer one traps with the [`LimitExceeded`] that `too_long` makes, and text
/// that is not UTF-8 traps as it does when a WIT `string` is lifted.
fn copy_str(
    buf: &mut String,
    s: &WasmStr,
    cx: &StoreContextMut<'_, HostState>,
    limit: usize,
    too_long: fn(usize, usize) -> LimitExceeded,
) -> wasmtime::Result<()> {
    // UTF-8 text is borrowed from the component's memory, not copied, until it passes.
    let text = s.to_str(cx)?;
    if text.len() > limit {
        return Err(wasmtime::Error::new(too_long(text.len(), limit)));
    }
    buf.clear();
    buf.push_str(&text);
    Ok(())
}

fn key_too_long(len: usize, limit: usize) -> LimitExceeded {
    LimitExceeded::KeyBytes { len, limit }
}

fn value_too_long(len: usize, limit: usize) -> LimitExceeded {
    LimitExceeded::ValueBytes { len, limit }
}

fn id_too_long(len: usize, limit: usize) -> LimitExceeded {
    LimitExceeded::IdBytes { len, limit }
}

/// An ack's outcome as the component receives it: a WIT `result`, or the trap that
/// [`AckError::Abort`] asks for.
fn ack_result(result: AckResult) -> wasmtime::Result<(Result<(), WitAckError>,)> {
    Ok((match result {
        Ok(()) => Ok(()),
        Err(Fault::Error(AckError::Rejected(m))) => Err(WitAckError::Rejected(m)),
        Err(Fault::Error(AckError::Unavailable(m))) => Err(WitAckError::Unavailable(m)),
        Err(Fault::Error(AckError::InvalidBatch(m))) => Err(WitAckError::InvalidBatch(m)),
        Err(Fault::Abort(m)) => {
            return Err(wasmtime::Error::msg(format!(
                "consumer aborted the call: {m}"
            )));
        }
    },))
}

/// A storage call's outcome as the component receives it: a WIT `result`, or the trap
/// that [`StorageError::Abort`] asks for.
fn storage_result<T>(result: StorageResult<T>) -> wasmtime::Result<(Result<T, WitStorageError>,)> {
    Ok((match result {
        Ok(value) => Ok(value),
        Err(Fault::Error(e)) => Err(to_wit_storage_error(e)),
        Err(Fault::Abort(m)) => {
            return Err(wasmtime::Error::msg(format!(
                "storage aborted the call: {m}"
            )));
        }
    },))
}

/// The boundary: the host's error, with its cause, becomes the WIT case and a text.
fn to_wit_storage_error(error: StorageError) -> WitStorageError {
    let text = error.text();
    match error {
        StorageError::InvalidKey(_) => WitStorageError::InvalidKey(text),
        StorageError::NoSpace(_) => WitStorageError::NoSpace(text),
        StorageError::AccessDenied(_) => WitStorageError::AccessDenied(text),
        StorageError::InvalidData(_) => WitStorageError::InvalidData(text),
        StorageError::Unavailable(_) => WitStorageError::Unavailable(text),
        StorageError::Io(_) => WitStorageError::Io(text),
        StorageError::Conflict(_) => WitStorageError::Conflict(text),
    }
}

impl wall_clock::Host for HostState {
    fn now(&mut self) -> wasmtime::Result<Datetime> {
        let since_epoch = (self.clock)()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Ok(Datetime {
            seconds: since_epoch.as_secs(),
            nanoseconds: since_epoch.subsec_nanos(),
        })
    }

    fn resolution(&mut self) -> wasmtime::Result<Datetime> {
        Ok(Datetime {
            seconds: 0,
            nanoseconds: 1,
        })
    }
}

impl From<WitStorageError> for StorageError {
    fn from(e: WitStorageError) -> Self {
        match e {
            WitStorageError::InvalidKey(m) => StorageError::InvalidKey(m),
            WitStorageError::NoSpace(m) => StorageError::NoSpace(m.into()),
            WitStorageError::AccessDenied(m) => StorageError::AccessDenied(m.into()),
            WitStorageError::InvalidData(m) => StorageError::InvalidData(m.into()),
            WitStorageError::Unavailable(m) => StorageError::Unavailable(m.into()),
            WitStorageError::Io(m) => StorageError::Io(m.into()),
            WitStorageError::Conflict(m) => StorageError::Conflict(m),
        }
    }
}

impl From<WitAckError> for AckError {
    fn from(e: WitAckError) -> Self {
        match e {
            WitAckError::Rejected(m) => AckError::Rejected(m),
            WitAckError::Unavailable(m) => AckError::Unavailable(m),
            WitAckError::InvalidBatch(m) => AckError::InvalidBatch(m),
        }
    }
}

impl From<WitCheckpointError> for crate::CheckpointError {
    fn from(e: WitCheckpointError) -> Self {
        use crate::CheckpointError as E;
        match e {
            WitCheckpointError::WriteFailed(e) => E::WriteFailed(e.into()),
            WitCheckpointError::AckFailed(e) => E::AckFailed(e.into()),
            WitCheckpointError::OffsetRegression(Regression { durable, requested }) => {
                E::OffsetRegression { durable, requested }
            }
            WitCheckpointError::CorruptRecord(why) => E::CorruptRecord(why),
            WitCheckpointError::ReadFailed(e) => E::ReadFailed(e.into()),
            WitCheckpointError::Fenced(why) => E::Fenced(why),
        }
    }
}
