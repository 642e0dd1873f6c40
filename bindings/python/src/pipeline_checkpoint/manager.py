"""CheckpointManager: the seed's class, backed by the checkpoint component."""

import operator
import threading
from typing import Any, Callable, List, Optional, Tuple

import wasmtime
from wasmtime.component import Linker

from . import _abi, _component
from ._adapters import adapt
from ._host import Host
from .errors import (
    AckFailed,
    CheckpointError,
    ComponentTrapped,
    CorruptRecord,
    Fenced,
    InvalidArgument,
    OffsetRegression,
    ReadFailed,
    WriteFailed,
)

#: Linear memory one instance may grow to. The component works within 4 MiB; a call
#: that needs more (a storage returning a huge value) traps instead of growing the
#: process, and the manager recovers on a fresh instance.
MEMORY_LIMIT = 16 << 20

_U64_LIMIT = 1 << 64
_STR_ONLY = frozenset({str})


class CheckpointManager:
    """Persists pipeline progress to object storage and coordinates consumer acks.

    Durability contract: write_checkpoint() must write and confirm the new
    offset in storage before sending any consumer acknowledgements. If the
    storage write fails, no acks are sent and the caller receives False so the
    batch can be retried from the previous offset.

    ``storage`` has the seed's ``put(key, value) -> bool`` and ``get(key)``, or the
    versioned calls of :mod:`pipeline_checkpoint.storage`; ``consumer`` has
    ``ack(message_ids)``; ``key`` defaults to ``pipeline/checkpoint.json``. What a
    bool cannot say is raised as a :class:`~pipeline_checkpoint.errors.CheckpointError`.
    A manager may be shared between threads (calls are serialized), but must not be
    called from inside its own storage or consumer.
    """

    def __init__(self, storage: Any, consumer: Any, key: Optional[str] = None) -> None:
        if key is not None and not isinstance(key, str):
            raise InvalidArgument(f"key must be a str or None, not {type(key).__name__}")
        if not callable(getattr(consumer, "ack", None)):
            raise InvalidArgument(f"{type(consumer).__name__} is not a consumer: it needs ack(message_ids)")
        self._storage = storage
        self._consumer = consumer
        self._key = key
        self._host = Host(adapt(storage), consumer)
        self._lock = threading.Lock()
        self._caller: Optional[int] = None
        self._exports: Optional[_abi.Exports] = None
        self._store: Optional[wasmtime.Store] = None
        #: Why the last write_checkpoint returned False, as a (not raised)
        #: WriteFailed; None after a write that succeeded.
        self.last_write_error: Optional[WriteFailed] = None
        engine, _ = _component.load()
        self._linker = Linker(engine)
        self._linker.add_wasip2()
        _abi.link(self._linker, self._host)
        error = self._open()
        if error is not None:
            raise ComponentTrapped("opening the manager", error, reopened=False, reopen_error=error)

    def write_checkpoint(self, batch_ids: List[str], new_offset: int) -> bool:
        """Persist the new offset as the pipeline checkpoint, then ack the batch.

        Parameters
        ----------
        batch_ids : list of str
            Message IDs to acknowledge with the consumer after a successful write.
        new_offset : int
            Offset to record as the new resume point.

        Returns
        -------
        bool
            True if the checkpoint was written; False if the storage write failed.
        """
        ids = _checked_ids(batch_ids)
        offset = _checked_offset(new_offset)
        ok, error = self._run("write_checkpoint", ids, lambda exports: exports.write_batch(offset))
        if ok:
            self.last_write_error = None
            return True
        case, payload = error
        if case == "write-failed":
            failure = WriteFailed(*payload)
            if self._host.put_raised is not None:
                raise failure from self._host.put_raised
            failure.__cause__ = self._host.cause
            self.last_write_error = failure
            return False
        raise self._error(case, payload, offset) from self._host.cause

    def get_checkpoint(self) -> int:
        """Return the last persisted pipeline offset.

        Reads the checkpoint record from storage and returns the stored offset.
        Returns 0 if no checkpoint exists yet. The stored payload is expected to
        be a previously written checkpoint record from this component.
        """
        ok, result = self._run("get_checkpoint", None, lambda exports: exports.get_checkpoint())
        if ok:
            return result
        raise self._error(*result, None) from self._host.cause

    @property
    def key(self) -> str:
        """The storage key of this manager's record."""
        return self._key if self._key is not None else "pipeline/checkpoint.json"

    def _open(self) -> Optional[str]:
        """Starts a fresh instance; returns why it could not, or None."""
        engine, component = _component.load()
        store = wasmtime.Store(engine)
        store.set_wasi(wasmtime.WasiConfig())
        store.set_limits(memory_size=MEMORY_LIMIT)
        self._host.begin(None)
        try:
            instance = self._linker.instantiate(store, component)
            self._exports = _abi.Exports(store, instance, self._key)
        except wasmtime.WasmtimeError as e:
            return str(e)
        self._store = store
        return None

    def _run(self, operation: str, batch: Any, call: Callable[[_abi.Exports], Tuple[bool, Any]]) -> Tuple[bool, Any]:
        me = threading.get_ident()
        if self._caller == me:
            raise CheckpointError(
                f"{operation} was called from inside this manager's own storage or consumer; "
                "a component instance cannot be re-entered"
            )
        with self._lock:
            self._caller = me
            try:
                if self._exports is None:
                    error = self._open()
                    if error is not None:
                        raise ComponentTrapped(operation, "the previous call's instance failed", False, error)
                self._host.begin(batch)
                try:
                    return call(self._exports)
                except wasmtime.WasmtimeError as trap:
                    self._recover(operation, trap)
                    raise AssertionError("unreachable: _recover raises")  # pragma: no cover
                finally:
                    self._host.batch = None
            finally:
                self._caller = None

    def _recover(self, operation: str, trap: wasmtime.WasmtimeError) -> None:
        """After a trap: never touch the instance again (it may be mid-update), open
        a fresh one, and raise what happened."""
        fault = self._host.faulted
        self._exports = None
        self._store = None
        error = self._open()
        detail = _summary(trap) if fault is None else f"{type(fault).__name__}: {fault}"
        if fault is not None and not isinstance(fault, Exception):
            raise fault  # KeyboardInterrupt, SystemExit: the caller wants to stop
        raise ComponentTrapped(operation, detail, reopened=error is None, reopen_error=error) from (fault or trap)

    @staticmethod
    def _error(case: str, payload: Any, offset: Optional[int]) -> CheckpointError:
        if case == "ack-failed":
            return AckFailed(offset if offset is not None else -1, *payload)
        if case == "offset-regression":
            return OffsetRegression(*payload)
        if case == "corrupt-record":
            return CorruptRecord(payload)
        if case == "read-failed":
            return ReadFailed(*payload)
        if case == "fenced":
            return Fenced(payload)
        if case == "write-failed":
            return WriteFailed(*payload)
        return CheckpointError(f"the component returned an unknown error case {case}: {payload!r}")


def _summary(trap: wasmtime.WasmtimeError) -> str:
    """A trap's cause without its wasm backtrace (which stays in ``__cause__``)."""
    text = str(trap).strip()
    lines = [line.strip() for line in text.split("Caused by:")[-1].splitlines() if line.strip()]
    return "; ".join(lines) if lines else text


def _checked_offset(offset: Any) -> int:
    if isinstance(offset, bool):
        raise InvalidArgument("new_offset must be an int, not a bool")
    try:
        value = operator.index(offset)
    except TypeError:
        raise InvalidArgument(f"new_offset must be an int, not {type(offset).__name__}") from None
    if not 0 <= value < _U64_LIMIT:
        raise InvalidArgument(f"new_offset {value} is outside [0, 2**64): offsets are unsigned 64-bit")
    return value


def _checked_ids(ids: Any) -> Any:
    # A str is a sequence of str too: refusing it catches write_checkpoint("id", n).
    if not isinstance(ids, (list, tuple)):
        raise InvalidArgument(f"batch_ids must be a list of str, not {type(ids).__name__}")
    # The common case checked in C (map/set): it is on every write's path.
    if set(map(type, ids)) <= _STR_ONLY:
        return ids
    for i, item in enumerate(ids):
        if not isinstance(item, str):
            raise InvalidArgument(f"batch_ids[{i}] is {type(item).__name__}, not str")
    return ids
