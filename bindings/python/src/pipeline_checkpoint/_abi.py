"""The component's calls and imports, lowered and lifted by hand.

wasmtime-py's generic ``Func.__call__`` and ``LinkerInstance.add_func`` rediscover the
types of every parameter and result through the C API on every call (a variant's
cases, a result's arms), which costs ~350 us per checkpoint write, more than a third
of an fsync. This contract's types are fixed, so this module reads and writes
``wasmtime_component_val_t`` values directly through ``wasmtime._ffi``: the same C
calls, minus the reflection. It depends on wasmtime-py's internals, which is why the
package pins ``wasmtime>=50.0.1,<51``; the constructor, called once per instance,
still goes through the public API.

Ownership follows wasmtime-py's own conversions: argument values belong to the C
caller, which drops them after the callback; result values and call parameters are
built here and handed over, and a call's result is dropped here once read.
"""

import ctypes
import itertools
from ctypes import POINTER, byref
from typing import Any, Dict, Optional, Tuple

from wasmtime import WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime.component import ResourceHost

_BOOL = ffi.WASMTIME_COMPONENT_BOOL.value
_U64 = ffi.WASMTIME_COMPONENT_U64.value
_STRING = ffi.WASMTIME_COMPONENT_STRING.value
_RECORD = ffi.WASMTIME_COMPONENT_RECORD.value
_VARIANT = ffi.WASMTIME_COMPONENT_VARIANT.value
_RESULT = ffi.WASMTIME_COMPONENT_RESULT.value
_RESOURCE = ffi.WASMTIME_COMPONENT_RESOURCE.value

_Val = ffi.wasmtime_component_val_t
_NULL_VAL = POINTER(_Val)()

#: The host resource type id of `consumer.batch` (any fixed number: it only has to
#: match between the linker and the handles lent to calls).
BATCH_RESOURCE = 0x62617463
#: The one batch rep a manager lends: a call never has more than one batch.
BATCH_REP = 1


def _vec(data: bytes) -> Any:
    vec = ffi.wasm_byte_vec_t()
    ffi.wasm_byte_vec_new_uninitialized(byref(vec), len(data))
    if data:
        ctypes.memmove(vec.data, data, len(data))
    return vec


def _read_str(vec: Any) -> str:
    if not vec.size:
        return ""
    return ctypes.string_at(vec.data, vec.size).decode("utf-8")


def _boxed(val: Any) -> Any:
    return ffi.wasmtime_component_val_new(byref(val))


def _string_val(data: bytes) -> Any:
    val = _Val()
    val.kind = _STRING
    val.of.string = _vec(data)
    return val


def _set_variant(into: Any, case: bytes, payload: Any) -> None:
    into.kind = _VARIANT
    into.of.variant.discriminant = _vec(case)
    into.of.variant.val = payload


def _error_variant(kind: str, detail: str) -> Any:
    """A storage-error or ack-error value: every case carries a string."""
    val = _Val()
    _set_variant(val, kind.encode(), _boxed(_string_val(detail.encode("utf-8", "replace"))))
    return val


def _set_result(into: Any, ok: bool, payload: Any) -> None:
    into.kind = _RESULT
    into.of.result.is_ok = ok
    into.of.result.val = payload


def _trap(message: str) -> int:
    """A host-side error for wasmtime to raise as a trap of the current call."""
    return ctypes.cast(WasmtimeError(message)._consume(), ctypes.c_void_p).value or 0


# -- imports ---------------------------------------------------------------------------
#
# Each trampoline finds its manager's host by the id wasmtime hands back as `env`. A
# host's methods return outcome tuples; anything they raise is a fault that abandons
# the call (see Host.fault in _host.py) and never reaches wasmtime as a Python
# exception, which wasmtime-py would smuggle through a global.

_HOSTS: Dict[int, Any] = {}
_ids = itertools.count(1)
_CALLBACK = ffi.wasmtime_component_func_callback_t
_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def _guarded(body: Any) -> Any:
    def entry(env: Any, context: Any, _ty: Any, args: Any, _nargs: int, results: Any, _nresults: int) -> int:
        host = _HOSTS.get(env or 0)
        if host is None:
            return _trap("pipeline-checkpoint: a call reached a closed manager")
        try:
            body(host, context, args, results)
            return 0
        except BaseException as e:  # noqa: BLE001 - a fault of any kind ends the call
            return host.fault(e)

    return _CALLBACK(entry)


def _storage_get(host: Any, _context: Any, args: Any, results: Any) -> None:
    tag, a, b, cause = host.get(_read_str(args[0].of.string))
    out = results[0]
    if tag == "found":
        record = ffi.wasmtime_component_valrecord_t()
        ffi.wasmtime_component_valrecord_new_uninit(byref(record), 2)
        value, version = record.data[0], record.data[1]
        value.name = _vec(b"value")
        value.val.kind = _STRING
        value.val.of.string = _vec(a)
        version.name = _vec(b"version")
        version.val.kind = _U64
        version.val.of.u64 = b
        payload = _Val()
        payload.kind = _RECORD
        payload.of.record = record
        _set_variant(out, b"found", _boxed(payload))
    elif tag == "absent":
        _set_variant(out, b"absent", _NULL_VAL)
    else:
        _set_variant(out, b"failed", _boxed(_error_variant(a, b)))


def _storage_put(host: Any, _context: Any, args: Any, results: Any) -> None:
    expected_arg = args[2].of.variant
    expected: Optional[int] = None
    if _read_str(expected_arg.discriminant) == "version":
        expected = int(expected_arg.val.contents.of.u64)
    tag, a, b, _cause = host.put(_read_str(args[0].of.string), _read_str(args[1].of.string), expected)
    if tag == "ok":
        version = _Val()
        version.kind = _U64
        version.of.u64 = a
        _set_result(results[0], True, _boxed(version))
    else:
        _set_result(results[0], False, _boxed(_error_variant(a, b)))


def _ack_result(results: Any, outcome: Optional[Tuple[str, str]]) -> None:
    if outcome is None:
        _set_result(results[0], True, _NULL_VAL)
    else:
        _set_result(results[0], False, _boxed(_error_variant(*outcome)))


def _consumer_ack(host: Any, _context: Any, args: Any, results: Any) -> None:
    ids = args[0].of.list
    _ack_result(results, host.ack([_read_str(ids.data[i].of.string) for i in range(ids.size)]))


def _consumer_ack_batch(host: Any, context: Any, args: Any, results: Any) -> None:
    handle = POINTER(ffi.wasmtime_component_resource_host_t)()
    error = ffi.wasmtime_component_resource_any_to_host(context, args[0].of.resource, byref(handle))
    if error:
        raise WasmtimeError._from_ptr(error)
    try:
        rep = ffi.wasmtime_component_resource_host_rep(handle)
    finally:
        ffi.wasmtime_component_resource_host_delete(handle)
    _ack_result(results, host.ack_batch(rep))


_GET = _guarded(_storage_get)
_PUT = _guarded(_storage_put)
_ACK = _guarded(_consumer_ack)
_ACK_BATCH = _guarded(_consumer_ack_batch)


@_FINALIZER
def _forget(env: Any) -> None:
    _HOSTS.pop(env or 0, None)


def _add(instance: Any, name: str, callback: Any, env: int) -> None:
    raw = name.encode()
    error = ffi.wasmtime_component_linker_instance_add_func(
        instance.ptr(), ctypes.create_string_buffer(raw), len(raw), callback, env, _forget
    )
    if error:
        raise WasmtimeError._from_ptr(error)


def link(linker: Any, host: Any) -> None:
    """Defines the contract's imports in `linker`, served by `host` (see _host.py)
    for as long as the linker lives."""
    from wasmtime.component import ResourceType

    env = next(_ids)
    _HOSTS[env] = host
    with linker.root() as root:
        with root.add_instance("pipeline:checkpoint/storage@0.3.0") as storage:
            _add(storage, "get", _GET, env)
            _add(storage, "put", _PUT, env)
        with root.add_instance("pipeline:checkpoint/consumer@0.3.0") as consumer:
            consumer.add_resource("batch", ResourceType.host(BATCH_RESOURCE), lambda _store, _rep: None)
            _add(consumer, "ack", _ACK, env)
            _add(consumer, "ack-batch", _ACK_BATCH, env)
    host.env = env


def unlink(host: Any) -> None:
    """Forgets `host`: calls that still reach it trap instead of running."""
    _HOSTS.pop(getattr(host, "env", 0), None)


# -- exports ---------------------------------------------------------------------------


class Exports:
    """The manager resource of one instance and its two methods, called by hand."""

    def __init__(self, store: Any, instance: Any, key: Optional[str]) -> None:
        manager = instance.get_export_index(store, "pipeline:checkpoint/manager@0.3.0")

        def func(name: str) -> Any:
            index = instance.get_export_index(store, name, manager)
            if index is None:
                raise WasmtimeError(f"the component does not export {name}: not a pipeline:checkpoint@0.3.0 component")
            return instance.get_func(store, index)

        constructor = func("[constructor]checkpoint-manager")
        self._write = func("[method]checkpoint-manager.write-checkpoint-batch")._func
        self._read = func("[method]checkpoint-manager.get-checkpoint")._func
        self._store = store
        self._handle = constructor(store, key)
        constructor.post_return(store)

    def _call(self, func: Any, params: Any, count: int) -> Any:
        """Calls `func` and returns its raw result; a trap raises WasmtimeError."""
        context = self._store._context()
        result = _Val()
        try:
            error = ffi.wasmtime_component_func_call(byref(func), context, params, count, byref(result), 1)
            if error:
                raise WasmtimeError._from_ptr(error)
        finally:
            for i in range(count):
                ffi.wasmtime_component_val_delete(byref(params[i]))
        try:
            return _lift_result(result)
        finally:
            ffi.wasmtime_component_val_delete(byref(result))
            error = ffi.wasmtime_component_func_post_return(byref(func), context)
            if error:
                raise WasmtimeError._from_ptr(error)

    def _params(self, count: int) -> Any:
        params = (_Val * count)()
        params[0].kind = _RESOURCE
        params[0].of.resource = ffi.wasmtime_component_resource_any_clone(self._handle.ptr())
        return params

    def write_batch(self, offset: int) -> Tuple[bool, Any]:
        """write-checkpoint-batch with the manager's lent batch: (True, None) or
        (False, (case, payload))."""
        params = self._params(3)
        params[1].kind = _RESOURCE
        params[1].of.resource = ResourceHost.borrow(BATCH_REP, BATCH_RESOURCE).to_any(self._store)._consume()
        params[2].kind = _U64
        params[2].of.u64 = offset
        return self._call(self._write, params, 3)

    def get_checkpoint(self) -> Tuple[bool, Any]:
        """get-checkpoint: (True, offset) or (False, (case, payload))."""
        return self._call(self._read, self._params(1), 1)


def _lift_result(result: Any) -> Tuple[bool, Any]:
    if result.of.result.is_ok:
        payload = result.of.result.val
        return True, (int(payload.contents.of.u64) if payload else None)
    error = result.of.result.val.contents.of.variant
    case = _read_str(error.discriminant)
    payload = error.val.contents
    if payload.kind == _STRING:
        return False, (case, _read_str(payload.of.string))
    if payload.kind == _VARIANT:
        inner = payload.of.variant
        return False, (case, (_read_str(inner.discriminant), _read_str(inner.val.contents.of.string)))
    if payload.kind == _RECORD:
        fields = {_read_str(payload.of.record.data[i].name): int(payload.of.record.data[i].val.of.u64) for i in range(payload.of.record.size)}
        return False, (case, (fields["durable"], fields["requested"]))
    raise WasmtimeError(f"checkpoint-error case {case} has a payload of unexpected kind {payload.kind}")
