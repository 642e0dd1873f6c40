"""The host side of one manager's instance: what its imports do during a call, and
what the call left behind for the manager to report.

A storage or consumer exception never crosses into wasmtime: it becomes the
contract's error case for the component (put and get: a storage-error; ack: an
ack-error) and is kept as ``cause``, which the manager chains to the exception it
raises after the call. Only a broken protocol (a wrong return type, a batch handle
that is not the one lent) or an exception that is not an ``Exception``
(KeyboardInterrupt) abandons the call, as a trap.
"""

from typing import Any, Optional, Sequence, Tuple

from ._abi import BATCH_REP, _trap
from ._adapters import Outcome, ProtocolViolation
from .storage import AckFailure, StorageFailure


class Host:
    def __init__(self, storage: Any, consumer: Any) -> None:
        self.storage = storage
        self.ack_ids = consumer.ack
        self.env = 0
        self.batch: Optional[Sequence[str]] = None
        self.begin(None)

    def begin(self, batch: Optional[Sequence[str]]) -> None:
        """Clears what the previous call left and lends `batch` to this one."""
        self.batch = batch
        #: The exception behind the error case the component last received.
        self.cause: Optional[BaseException] = None
        #: An exception raised by a put (not a reported StorageFailure).
        self.put_raised: Optional[BaseException] = None
        #: What abandoned the call, if anything did.
        self.faulted: Optional[BaseException] = None

    def get(self, key: str) -> Outcome:
        outcome = self.storage.get(key)
        if outcome[3] is not None:
            self.cause = outcome[3]
        return outcome

    def put(self, key: str, value: str, expected: Optional[int]) -> Outcome:
        outcome = self.storage.put(key, value, expected)
        cause = outcome[3]
        if cause is not None:
            self.cause = cause
            if not isinstance(cause, StorageFailure):
                self.put_raised = cause
        return outcome

    def ack(self, ids: Sequence[str]) -> Optional[Tuple[str, str]]:
        try:
            self.ack_ids(ids)
        except AckFailure as e:
            self.cause = e
            return (e.kind, f"consumer.ack: {e.detail}")
        except Exception as e:  # noqa: BLE001 - reported to the component, chained after
            self.cause = e
            return ("unavailable", f"consumer.ack raised {type(e).__name__}: {e}")
        return None

    def ack_batch(self, rep: int) -> Optional[Tuple[str, str]]:
        if rep != BATCH_REP or self.batch is None:
            raise ProtocolViolation(f"the component acknowledged batch handle {rep}, which this call did not lend")
        return self.ack(self.batch)

    def fault(self, error: BaseException) -> int:
        """Abandons the current call because of `error`; returns the trap."""
        if self.faulted is None:
            self.faulted = error
        return _trap(f"the host abandoned the call: {type(error).__name__}: {error}")
