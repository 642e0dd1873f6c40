"""The Python seed's CheckpointManager, timed the way the Rust benchmark times the
component, so the two can be compared on the same machine.

The class is the seed's (pipeline/checkpoint.py) with one change: write_checkpoint
puts before it acks, as its own docstring requires (the seed acked first, which loses
data when the put fails). Both orders make the same calls, so the fix costs nothing;
get_checkpoint is kept as the seed has it but not timed, because it writes.

Prints one JSON object per line:
  {"series": "python/memory", "batch": 100, "ns_per_write": 1234.5, ...}
Run by benches/checkpoint.rs; runnable on its own with `python3 seed_bench.py --dir DIR`.
"""

import argparse
import json
import os
import statistics
import tempfile
import time
from typing import List, Optional, Protocol


class StorageBackend(Protocol):
    """Storage backend for checkpoint records.

    put() returns True when the write is durably stored and False when the
    write fails. Callers rely on the boolean return value rather than
    exceptions for normal write-failure handling.
    """

    def put(self, key: str, value: str) -> bool: ...

    def get(self, key: str) -> Optional[str]: ...


class ConsumerBackend(Protocol):
    def ack(self, message_ids: List[str]) -> None: ...


CHECKPOINT_KEY = "pipeline/checkpoint.json"


class CheckpointManager:
    """Persists pipeline progress to object storage and coordinates consumer acks.

    Durability contract: write_checkpoint() must write and confirm the new
    offset in storage before sending any consumer acknowledgements. If the
    storage write fails, no acks are sent and the caller receives False so the
    batch can be retried from the previous offset.
    """

    def __init__(self, storage: StorageBackend, consumer: ConsumerBackend) -> None:
        self._storage = storage
        self._consumer = consumer
        self._offset: int = 0

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
        payload = {"offset": new_offset, "written_at": time.time()}
        ok = self._storage.put(CHECKPOINT_KEY, json.dumps(payload))
        if ok:
            self._offset = new_offset
            self._consumer.ack(batch_ids)
        return ok

    def get_checkpoint(self) -> int:
        """Return the last persisted pipeline offset.

        Reads the checkpoint record from storage and returns the stored offset.
        Returns 0 if no checkpoint exists yet. The stored payload is expected to
        be a previously written checkpoint record from this component.
        """
        raw = self._storage.get(CHECKPOINT_KEY)
        if not raw:
            return 0
        data = json.loads(raw)
        self._storage.put(CHECKPOINT_KEY, json.dumps({**data, "last_read_at": time.time()}))
        return data["offset"]


class MemoryStorage:
    """A dict: what MemoryStorage is on the Rust side."""

    def __init__(self) -> None:
        self._values = {}

    def put(self, key: str, value: str) -> bool:
        self._values[key] = value
        return True

    def get(self, key: str) -> Optional[str]:
        return self._values.get(key)


class NullConsumer:
    """Acks nothing, like the Rust benchmark's consumer: only the manager is timed."""

    def ack(self, message_ids: List[str]) -> None:
        pass


class FileStorage:
    """The same durability steps as the Rust FileStorage: temporary file, fsync,
    rename over the key's file, fsync of the directory."""

    def __init__(self, root: str) -> None:
        self._root = root

    def put(self, key: str, value: str) -> bool:
        path = os.path.join(self._root, key)
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(value)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, path)
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
            return True
        except OSError:
            try:
                os.unlink(temp)
            except OSError:
                pass
            return False

    def get(self, key: str) -> Optional[str]:
        try:
            with open(os.path.join(self._root, key)) as f:
                return f.read()
        except FileNotFoundError:
            return None


class FileConsumer:
    """The Rust FileConsumer's ack log: one JSON line per ack, appended and
    fdatasynced before ack returns."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)

    def ack(self, message_ids: List[str]) -> None:
        line = (json.dumps({"ids": message_ids}, separators=(",", ":")) + "\n").encode()
        os.write(self._fd, line)
        os.fdatasync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def generated_id(index: int) -> str:
    """The Rust pipeline's generated(index).id: a splitmix64 UUID-shaped id."""
    mask = (1 << 64) - 1
    z = (index + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    z ^= z >> 31
    return "%08x-%04x-4%03x-8%03x-%012x" % (
        z >> 32,
        (z >> 16) & 0xFFFF,
        z & 0xFFF,
        (index >> 48) & 0xFFF,
        index & 0xFFFFFFFFFFFF,
    )


def time_writes(manager: CheckpointManager, ids: List[str], writes: int, rounds: int, start: int):
    """Per-write nanoseconds of `rounds` timed runs of `writes` writes each, with
    strictly increasing offsets (as the Rust benchmark uses)."""
    offset = start
    per_write = []
    for _ in range(rounds):
        began = time.perf_counter_ns()
        for _ in range(writes):
            offset += 1
            manager.write_checkpoint(ids, offset)
        per_write.append((time.perf_counter_ns() - began) / writes)
    return per_write, offset


def report(series: str, batch: int, per_write: List[float], writes: int) -> None:
    print(
        json.dumps(
            {
                "series": series,
                "batch": batch,
                "ns_per_write": statistics.median(per_write),
                "ns_min": min(per_write),
                "ns_max": max(per_write),
                "rounds": len(per_write),
                "writes_per_round": writes,
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="scratch directory on the disk to measure")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a smoke run")
    parser.add_argument("--batches", default="1,100,1000", help="comma-separated batch sizes")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    memory_writes, memory_rounds = (2_000, 5) if args.quick else (20_000, 15)
    durable_writes, durable_rounds = (20, 3) if args.quick else (100, 5)

    for batch in batches:
        ids = [generated_id(i) for i in range(batch)]
        manager = CheckpointManager(MemoryStorage(), NullConsumer())
        _, offset = time_writes(manager, ids, memory_writes, 1, 0)  # warm-up
        per_write, _ = time_writes(manager, ids, memory_writes, memory_rounds, offset)
        report("python/memory", batch, per_write, memory_writes)

    for batch in batches:
        ids = [generated_id(i) for i in range(batch)]
        with tempfile.TemporaryDirectory(dir=args.dir) as state:
            consumer = FileConsumer(os.path.join(state, "acks.log"))
            manager = CheckpointManager(FileStorage(state), consumer)
            _, offset = time_writes(manager, ids, max(durable_writes // 10, 5), 1, 0)
            per_write, _ = time_writes(manager, ids, durable_writes, durable_rounds, offset)
            consumer.close()
        report("python/durable", batch, per_write, durable_writes)


if __name__ == "__main__":
    main()
