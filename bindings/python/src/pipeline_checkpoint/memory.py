"""In-memory storage and consumer, for tests, examples and pipelines whose offsets
need not outlive the process."""

import threading
from typing import Dict, List, Optional, Tuple

from .storage import VersionConflict


class MemoryStorage:
    """A dict of values with versioned calls: a real compare-and-swap, but only for
    managers of this process sharing this object. Versions count puts."""

    def __init__(self) -> None:
        self._values: Dict[str, Tuple[str, int]] = {}
        self._last_version = 0
        self._lock = threading.Lock()

    def get_versioned(self, key: str) -> Optional[Tuple[str, int]]:
        with self._lock:
            return self._values.get(key)

    def put_versioned(self, key: str, value: str, expected: Optional[int]) -> int:
        with self._lock:
            current = self._values.get(key)
            have = None if current is None else current[1]
            if have != expected:
                want = "absent" if expected is None else f"version {expected}"
                holds = "nothing" if have is None else f"version {have}"
                raise VersionConflict(f"{key}: expected {want}, holds {holds}")
            self._last_version += 1
            self._values[key] = (value, self._last_version)
            return self._last_version

    def value(self, key: str) -> Optional[str]:
        """The value under `key`, for inspection."""
        current = self.get_versioned(key)
        return None if current is None else current[0]


class MemoryConsumer:
    """Records every acknowledged batch, in order, in ``acked``."""

    def __init__(self) -> None:
        self.acked: List[List[str]] = []

    def ack(self, message_ids: List[str]) -> None:
        self.acked.append(list(message_ids))
