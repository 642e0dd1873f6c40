"""The user's storage as the contract's two calls: ``get`` (a value and its version)
and a conditional ``put``.

A versioned storage is called as it is. The seed's unversioned storage is wrapped
the way the Rust host library's ``ProcessFenced`` wraps one: a value's version is its
:func:`content_version`, and ``put`` reads the current value and compares its version
before it writes. That compare-then-write is atomic only against writers in this
process that go through this module (a lock per storage object): it fences a stale
manager in this process, not a stale worker in another process, which can read, be
overtaken and still overwrite. Shared stores need the versioned calls.

Outcomes are plain tuples, ``(tag, a, b, cause)``: the host hot path builds one per
storage call, and the caller only branches on ``tag``.
"""

import threading
import weakref
from typing import Any, Optional, Tuple

from .errors import InvalidArgument
from .storage import StorageFailure, content_version

_U64_LIMIT = 1 << 64

Outcome = Tuple[str, Any, Any, Optional[BaseException]]


class ProtocolViolation(Exception):
    """A storage or consumer returned something its protocol does not allow. The
    host abandons the component's call (a trap) rather than guess."""


def _failure(call: str, error: Exception) -> Outcome:
    """The outcome for an exception raised by the user's ``call``."""
    if isinstance(error, StorageFailure):
        return ("failed", error.kind, f"{call}: {error.detail}", error)
    return ("failed", "io", f"{call} raised {type(error).__name__}: {error}", error)


def _encoded(call: str, value: Any) -> Optional[bytes]:
    """The UTF-8 bytes of a value a storage returned, or None if it is text that
    UTF-8 cannot carry (lone surrogates): such bytes are invalid data, not a str."""
    if not isinstance(value, str):
        raise ProtocolViolation(f"{call} returned {type(value).__name__}, expected str or None")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        return None


def _check_version(call: str, version: Any) -> int:
    if type(version) is not int or not 0 <= version < _U64_LIMIT:
        raise ProtocolViolation(f"{call} returned version {version!r}, expected an int in [0, 2**64)")
    return version


class VersionedAdapter:
    """A storage offering ``get_versioned``/``put_versioned``: its own versions and
    compare-and-swap, so fencing holds across processes."""

    def __init__(self, storage: Any) -> None:
        self._get = storage.get_versioned
        self._put = storage.put_versioned

    def get(self, key: str) -> Outcome:
        try:
            found = self._get(key)
        except Exception as e:  # noqa: BLE001 - every failure is reported, none escapes
            return _failure("storage.get_versioned", e)
        if found is None:
            return ("absent", None, None, None)
        if not isinstance(found, tuple) or len(found) != 2:
            raise ProtocolViolation(
                f"storage.get_versioned returned {type(found).__name__}, expected (value, version) or None"
            )
        value, version = found
        data = _encoded("storage.get_versioned", value)
        version = _check_version("storage.get_versioned", version)
        if data is None:
            return ("failed", "invalid-data", f"the value under {key!r} is not valid UTF-8 text", None)
        return ("found", data, version, None)

    def put(self, key: str, value: str, expected: Optional[int]) -> Outcome:
        try:
            version = self._put(key, value, expected)
        except Exception as e:  # noqa: BLE001
            return _failure("storage.put_versioned", e)
        return ("ok", _check_version("storage.put_versioned", version), None, None)


#: One lock per unversioned storage object, so that the compare and the write of
#: every manager of this process sharing it are one step.
_LOCKS: "weakref.WeakKeyDictionary[Any, threading.Lock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()
#: For storage objects that cannot be weakly referenced or hashed.
_SHARED_LOCK = threading.Lock()


def _lock_for(storage: Any) -> threading.Lock:
    with _LOCKS_GUARD:
        try:
            lock = _LOCKS.get(storage)
            if lock is None:
                lock = _LOCKS[storage] = threading.Lock()
            return lock
        except TypeError:
            return _SHARED_LOCK


class ProcessFencedAdapter:
    """The seed's ``put``/``get`` storage, versioned by content and fenced within
    this process only (see the module's docstring)."""

    def __init__(self, storage: Any) -> None:
        self._get = storage.get
        self._put = storage.put
        self._lock = _lock_for(storage)

    def get(self, key: str) -> Outcome:
        try:
            value = self._get(key)
        except Exception as e:  # noqa: BLE001
            return _failure("storage.get", e)
        if value is None:
            return ("absent", None, None, None)
        data = _encoded("storage.get", value)
        if data is None:
            return ("failed", "invalid-data", f"the value under {key!r} is not valid UTF-8 text", None)
        return ("found", data, content_version(value), None)

    def put(self, key: str, value: str, expected: Optional[int]) -> Outcome:
        with self._lock:
            current = self.get(key)
            if current[0] == "failed":
                _, kind, detail, cause = current
                return ("failed", kind, f"reading before the write: {detail}", cause)
            have = current[2]
            if have != expected:
                return ("failed", "conflict", _conflict(key, have, expected), None)
            try:
                ok = self._put(key, value)
            except Exception as e:  # noqa: BLE001
                return _failure("storage.put", e)
            if ok is True:
                return ("ok", content_version(value), None, None)
            if ok is False:
                return ("failed", "io", "storage.put returned False", None)
            raise ProtocolViolation(f"storage.put returned {ok!r}, expected True (durable) or False (failed)")


def _conflict(key: str, have: Optional[int], want: Optional[int]) -> str:
    """The conflict text, worded as the Rust host's ``check_expected`` words it."""
    if want is None:
        return f"{key}: expected absent, holds version {have}"
    if have is None:
        return f"{key}: expected version {want}, holds nothing"
    return f"{key}: expected version {want}, holds version {have}"


def adapt(storage: Any) -> Any:
    """The adapter for ``storage``: versioned if it offers both versioned calls."""
    has_get = callable(getattr(storage, "get_versioned", None))
    has_put = callable(getattr(storage, "put_versioned", None))
    if has_get and has_put:
        return VersionedAdapter(storage)
    if has_get or has_put:
        missing = "put_versioned" if has_get else "get_versioned"
        raise InvalidArgument(f"the storage offers one versioned call but not {missing}; offer both, or neither")
    if callable(getattr(storage, "get", None)) and callable(getattr(storage, "put", None)):
        return ProcessFencedAdapter(storage)
    raise InvalidArgument(
        f"{type(storage).__name__} is not a storage: it needs put(key, value) and get(key), "
        "or put_versioned and get_versioned"
    )
