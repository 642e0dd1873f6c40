//! Host bindings generated from `wit/`, and their implementation over the host's
//! [`Storage`], [`Consumer`] and clock.

use std::mem::take;

use wasmtime::StoreContextMut;
use wasmtime::component::{HasSelf, Linker, Resource, WasmStr};

use crate::storage::Expected;
use crate::{AckError, Consumer, Storage, StorageError};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "checkpointer",
    // Every import may trap: that is how a host's `Abort` stops a call.
    imports: { default: trappable },
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
use pipeline::checkpoint::consumer::{AckError as WitAckError, HostBatch};
use pipeline::checkpoint::storage::{
    Expected as WitExpected, StorageError as WitStorageError, Stored as WitStored,
};
use wasi::clocks::wall_clock::{self, Datetime};

/// The `batch` resource's host type. There is at most one batch per call, held in
/// [`HostState::batch`], so a handle carries no data: its representation is always 0.
pub struct LentBatch;

/// A clock for `written_at`: the system clock, or a fixed one in tests.
pub type Clock = fn() -> std::time::SystemTime;

/// Everything a component instance's imports reach: the data of its `Store`.
pub struct HostState {
    pub(crate) storage: Box<dyn Storage>,
    pub(crate) consumer: Box<dyn Consumer>,
    pub(crate) clock: Clock,
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
}

impl HostState {
    pub(crate) fn new(
        storage: Box<dyn Storage>,
        consumer: Box<dyn Consumer>,
        clock: Clock,
    ) -> Self {
        Self {
            storage,
            consumer,
            clock,
            batch: Vec::new(),
            scratch: Box::default(),
        }
    }
}

/// Registers the host side of every import of the `checkpointer` world.
///
/// `storage` is registered by hand rather than by the generated `add_to_linker`, whose
/// `put` lifts the key and the value into two new `String`s on every call: two
/// allocations and two frees per checkpoint, for strings the host only reads. Here they
/// are validated as the generated code would and copied into [`Scratch`]. They call the
/// versioned half of [`Storage`]: `put_if` and `get_versioned`. The other
/// interfaces are registered as generated.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    pipeline::checkpoint::consumer::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    wall_clock::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    let mut storage = linker.instance("pipeline:checkpoint/storage@0.2.0")?;
    storage.func_wrap(
        "put",
        |mut cx, (key, value, expected): (WasmStr, WasmStr, WitExpected)| {
            // Taken out of the state while the strings borrow the store; if a string is
            // invalid the call traps and the buffers are simply reallocated next time.
            let scratch = &mut cx.data_mut().scratch;
            let (mut key_buf, mut value_buf) = (take(&mut scratch.key), take(&mut scratch.value));
            copy_str(&mut key_buf, &key, &cx)?;
            copy_str(&mut value_buf, &value, &cx)?;
            let state = cx.data_mut();
            let expected = match expected {
                WitExpected::Absent => Expected::Absent,
                WitExpected::Version(v) => Expected::Version(v),
            };
            let result = state.storage.put_if(&key_buf, &value_buf, expected);
            (state.scratch.key, state.scratch.value) = (key_buf, value_buf);
            storage_result(result)
        },
    )?;
    storage.func_wrap("get", |mut cx, (key,): (WasmStr,)| {
        let mut key_buf = take(&mut cx.data_mut().scratch.key);
        copy_str(&mut key_buf, &key, &cx)?;
        let state = cx.data_mut();
        let result = state.storage.get_versioned(&key_buf);
        state.scratch.key = key_buf;
        storage_result(result.map(|stored| {
            stored.map(|s| WitStored {
                value: s.value,
                version: s.version,
            })
        }))
    })?;
    Ok(())
}

/// Copies `s`, a string in the component's memory, into `buf`; text that is not UTF-8
/// is an error (a trap), as it is when a WIT `string` is lifted.
fn copy_str(
    buf: &mut String,
    s: &WasmStr,
    cx: &StoreContextMut<'_, HostState>,
) -> wasmtime::Result<()> {
    buf.clear();
    buf.push_str(&s.to_str(cx)?);
    Ok(())
}

/// A storage call's outcome as the component receives it: a WIT `result`, or the trap
/// that [`StorageError::Abort`] asks for.
fn storage_result<T>(
    result: Result<T, StorageError>,
) -> wasmtime::Result<(Result<T, WitStorageError>,)> {
    Ok((match result {
        Ok(value) => Ok(value),
        Err(e) => Err(to_wit_storage_error(e)?),
    },))
}

fn to_wit_storage_error(error: StorageError) -> wasmtime::Result<WitStorageError> {
    Ok(match error {
        StorageError::InvalidKey(m) => WitStorageError::InvalidKey(m),
        StorageError::NoSpace(m) => WitStorageError::NoSpace(m),
        StorageError::AccessDenied(m) => WitStorageError::AccessDenied(m),
        StorageError::InvalidData(m) => WitStorageError::InvalidData(m),
        StorageError::Unavailable(m) => WitStorageError::Unavailable(m),
        StorageError::Io(m) => WitStorageError::Io(m),
        StorageError::Conflict(m) => WitStorageError::Conflict(m),
        StorageError::Abort(m) => {
            return Err(wasmtime::Error::msg(format!(
                "storage aborted the call: {m}"
            )));
        }
    })
}

impl pipeline::checkpoint::consumer::Host for HostState {
    fn ack(&mut self, message_ids: Vec<String>) -> Result<(), AckError> {
        self.consumer.ack(&message_ids)
    }

    fn ack_batch(&mut self, _ids: Resource<LentBatch>) -> Result<(), AckError> {
        self.consumer.ack(&self.batch)
    }

    fn convert_ack_error(&mut self, error: AckError) -> wasmtime::Result<WitAckError> {
        Ok(match error {
            AckError::Rejected(m) => WitAckError::Rejected(m),
            AckError::Unavailable(m) => WitAckError::Unavailable(m),
            AckError::InvalidBatch(m) => WitAckError::InvalidBatch(m),
            AckError::Abort(m) => {
                return Err(wasmtime::Error::msg(format!(
                    "consumer aborted the call: {m}"
                )));
            }
        })
    }
}

impl HostBatch for HostState {
    fn drop(&mut self, _batch: Resource<LentBatch>) -> wasmtime::Result<()> {
        // Batches are only ever lent (borrowed) to the component, so it never owns one
        // to drop; nothing to free either way.
        Ok(())
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
            WitStorageError::NoSpace(m) => StorageError::NoSpace(m),
            WitStorageError::AccessDenied(m) => StorageError::AccessDenied(m),
            WitStorageError::InvalidData(m) => StorageError::InvalidData(m),
            WitStorageError::Unavailable(m) => StorageError::Unavailable(m),
            WitStorageError::Io(m) => StorageError::Io(m),
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
