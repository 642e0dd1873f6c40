"""The exceptions a CheckpointManager raises, one per case of the contract's
``checkpoint-error`` (wit/manager.wit) that a bool cannot say, all under
:class:`CheckpointError`.

A failed storage write is not among them: ``write_checkpoint`` returns False for it,
as the seed's ``StorageBackend`` docstring promises, unless ``put`` *raised*, which
the manager reports as :class:`WriteFailed` with the storage's exception chained.
"""

from typing import Optional


class CheckpointError(Exception):
    """Base class of every error a CheckpointManager raises."""


class WriteFailed(CheckpointError):
    """The storage raised while storing the new offset. Nothing was acknowledged and
    the durable offset is unchanged: retry the batch from the previous offset.

    ``kind`` is the contract's storage-error case (``io`` for an exception), and the
    storage's exception is ``__cause__``. A put that returns False is not an
    exception: ``write_checkpoint`` returns False.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"storing the checkpoint failed ({kind}): {detail}")
        self.kind = kind
        self.detail = detail


class AckFailed(CheckpointError):
    """The new offset is durable, but acknowledging the batch failed. The upstream
    will redeliver those messages (duplicates, never loss). Retrying the same write,
    with the same offset, is safe and acknowledges again.

    ``kind`` is the contract's ack-error case (``rejected``, ``unavailable`` or
    ``invalid-batch``); a consumer exception is ``__cause__``.
    """

    def __init__(self, offset: int, kind: str, detail: str) -> None:
        super().__init__(
            f"offset {offset} is durable but acknowledging the batch failed ({kind}): "
            f"{detail}; writing offset {offset} again acknowledges again"
        )
        self.offset = offset
        self.kind = kind
        self.detail = detail


class OffsetRegression(CheckpointError):
    """The requested offset is lower than the durable one; nothing was written or
    acknowledged. Writing an offset equal to the durable one is an idempotent retry.
    """

    def __init__(self, durable: int, requested: int) -> None:
        super().__init__(
            f"offset {requested} is lower than the durable offset {durable}: refused, "
            "nothing written or acknowledged"
        )
        self.durable = durable
        self.requested = requested


class CorruptRecord(CheckpointError):
    """The stored record cannot be understood (empty, NUL bytes, invalid JSON, a
    missing or malformed ``offset``, bytes that are not text). Nothing was written; an
    operator must repair or reset the record."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"the stored checkpoint record is corrupt: {detail}")
        self.detail = detail


class ReadFailed(CheckpointError):
    """Reading the stored record failed; nothing was written or acknowledged.

    ``kind`` is the contract's storage-error case (``io`` when ``get`` raised, whose
    exception is then ``__cause__``).
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"reading the checkpoint record failed ({kind}): {detail}")
        self.kind = kind
        self.detail = detail


class Fenced(CheckpointError):
    """Another writer replaced the record since this manager read it: its worker no
    longer owns the key. Nothing was written or acknowledged, and every later write
    of this manager raises Fenced too. To take the key over again, create a new
    CheckpointManager."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"fenced: another writer replaced the checkpoint record ({detail})")
        self.detail = detail


class ComponentTrapped(CheckpointError):
    """The component instance failed (a trap, or a storage or consumer that broke the
    protocol, e.g. returned a value of the wrong type). The call was abandoned: it
    may or may not have stored its offset, and acknowledged nothing after a put that
    did not return. The instance was discarded; the next call runs on a fresh one
    that reads the stored record before it writes, as a restarted process would.

    ``reopened`` says whether the fresh instance is already running; if not, the next
    call starts it. The fault, when it came from Python, is ``__cause__``.
    """

    def __init__(self, operation: str, detail: str, reopened: bool, reopen_error: Optional[str] = None) -> None:
        if reopened:
            after = "the instance was discarded and a fresh one opened, which reads the stored record before its first write"
        else:
            after = f"the instance was discarded; reopening it failed ({reopen_error}) and is retried by the next call"
        super().__init__(f"{operation}: the component instance failed: {detail}; {after}")
        self.operation = operation
        self.detail = detail
        self.reopened = reopened


class InvalidArgument(CheckpointError, ValueError, TypeError):
    """An argument the contract cannot carry: an offset that is not an int (a bool
    included), negative, or not below 2**64; batch ids that are not a list (or tuple)
    of str; a key that is not a str. Nothing was called. It is also a ValueError and
    a TypeError, as Python's own argument checks raise."""
