"""The storage and consumer protocols a CheckpointManager accepts, the exceptions a
storage raises to report a failure precisely, and the content version of a value.

Two storage protocols are accepted:

* the seed's, unchanged: ``put(key, value) -> bool`` (True: durable; False: the write
  failed) and ``get(key) -> Optional[str]``;
* the versioned one, for stores that can compare-and-swap:
  ``get_versioned(key) -> Optional[Tuple[str, int]]`` (the value and its version) and
  ``put_versioned(key, value, expected) -> int``, which stores ``value`` only if the
  key still holds version ``expected`` (``None``: only if the key holds nothing),
  atomically with respect to every other writer, and returns the new version; if the
  key does not match it writes nothing and raises :class:`VersionConflict`.
  Versions are integers in ``[0, 2**64)``.

A storage that offers both is used through the versioned calls. Either kind may raise
:class:`StorageFailure` to report a failure of one of the contract's kinds; any other
exception is reported as ``io``.
"""

from typing import List, Optional, Protocol, Tuple

#: The contract's storage-error cases (wit/storage.wit), the ``kind`` of a failure.
STORAGE_ERROR_KINDS = frozenset(
    {"invalid-key", "no-space", "access-denied", "invalid-data", "unavailable", "io", "conflict"}
)

#: Where a manager keeps its record unless told otherwise: the seed's key.
CHECKPOINT_KEY = "pipeline/checkpoint.json"


class StorageFailure(Exception):
    """Raised by a storage to report a failure of one of the contract's kinds.

    ``kind`` is one of :data:`STORAGE_ERROR_KINDS`: ``invalid-key``, ``no-space``,
    ``access-denied``, ``invalid-data`` (stored bytes that are not text: the manager
    reports the record corrupt), ``unavailable``, ``io`` or ``conflict``.
    """

    def __init__(self, kind: str, detail: str) -> None:
        if kind not in STORAGE_ERROR_KINDS:
            raise ValueError(f"unknown storage failure kind {kind!r}; one of {sorted(STORAGE_ERROR_KINDS)}")
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class VersionConflict(StorageFailure):
    """Raised by ``put_versioned`` when the key no longer holds the expected version.
    Nothing was written; ``detail`` says what is stored instead."""

    def __init__(self, detail: str) -> None:
        super().__init__("conflict", detail)


#: The contract's ack-error cases (wit/consumer.wit), the ``kind`` of an ack failure.
ACK_ERROR_KINDS = frozenset({"rejected", "unavailable", "invalid-batch"})


class AckFailure(Exception):
    """Raised by a consumer's ``ack`` to report why it failed, as one of
    :data:`ACK_ERROR_KINDS`. Any other exception is reported as ``unavailable``."""

    def __init__(self, kind: str, detail: str) -> None:
        if kind not in ACK_ERROR_KINDS:
            raise ValueError(f"unknown ack failure kind {kind!r}; one of {sorted(ACK_ERROR_KINDS)}")
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class StorageBackend(Protocol):
    """Storage backend for checkpoint records.

    put() returns True when the write is durably stored and False when the
    write fails. Callers rely on the boolean return value rather than
    exceptions for normal write-failure handling.
    """

    def put(self, key: str, value: str) -> bool: ...

    def get(self, key: str) -> Optional[str]: ...


class VersionedStorage(Protocol):
    """A storage with a real compare-and-swap (see the module's docstring)."""

    def get_versioned(self, key: str) -> Optional[Tuple[str, int]]: ...

    def put_versioned(self, key: str, value: str, expected: Optional[int]) -> int: ...


class ConsumerBackend(Protocol):
    def ack(self, message_ids: List[str]) -> None: ...


_FNV_OFFSET_BASIS = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_U64 = (1 << 64) - 1


def content_version(value: str) -> int:
    """The version of a value derived from its UTF-8 bytes alone: 64-bit FNV-1a, the
    scheme of the Rust host library's ``content_version``, so that Python and Rust
    hosts sharing an unversioned store (or a FileStorage directory) agree on every
    record's version without storing anything beside it."""
    h = _FNV_OFFSET_BASIS
    for byte in value.encode("utf-8"):
        h = ((h ^ byte) * _FNV_PRIME) & _U64
    return h
