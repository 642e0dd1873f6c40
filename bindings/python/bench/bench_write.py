"""Per-write cost of the seed's CheckpointManager against this package's, in the same
process, on the same storage types, in interleaved rounds (so that a disk that slows
down mid-run slows every series alike); medians of the rounds.

The seed's class and its storages come from host-example/host/benches/seed_bench.py
(the seed with its ack order fixed). Series:

  seed/memory, package/memory            seed_bench.MemoryStorage (unversioned)
  package/memory-versioned               pipeline_checkpoint.MemoryStorage
  seed/durable, package/durable          seed_bench.FileStorage + FileConsumer
  package/durable-filestorage            pipeline_checkpoint.FileStorage + FileConsumer

Prints one JSON object per series on stdout,
  {"series": "...", "ns_per_write": 1234.5, "writes": 500}
and a table on stderr. Usage: bench_write.py --dir DIR [--writes N]
"""

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pipeline_checkpoint import CheckpointManager, FileStorage, MemoryStorage

SEED_BENCH = Path(__file__).resolve().parents[3] / "host-example" / "host" / "benches" / "seed_bench.py"


def load_seed():
    spec = importlib.util.spec_from_file_location("seed_bench", SEED_BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Series:
    """One manager and the offsets it has written, timed a round at a time."""

    def __init__(self, name, manager, writes):
        self.name = name
        self.manager = manager
        self.writes = writes
        self.offset = 0
        self.per_write = []

    def run(self, ids, timed=True):
        manager = self.manager
        offset = self.offset
        began = time.perf_counter_ns()
        for _ in range(self.writes):
            offset += 1
            if not manager.write_checkpoint(ids, offset):
                raise RuntimeError(f"{self.name}: a write failed")
        elapsed = time.perf_counter_ns() - began
        self.offset = offset
        if timed:
            self.per_write.append(elapsed / self.writes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="scratch directory on the disk to measure")
    parser.add_argument("--writes", type=int, default=10, help="durable writes per series per round")
    parser.add_argument("--memory-writes", type=int, default=1000, help="in-memory writes per series per round")
    parser.add_argument("--rounds", type=int, default=35)
    parser.add_argument("--batch", type=int, default=100, help="ids per batch")
    args = parser.parse_args()

    seed = load_seed()
    ids = [seed.generated_id(i) for i in range(args.batch)]
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:

        def state(name):
            path = os.path.join(scratch, name)
            os.makedirs(path)
            return path

        consumers = []

        def file_consumer(path):
            consumer = seed.FileConsumer(os.path.join(path, "acks.log"))
            consumers.append(consumer)
            return consumer

        seed_dir, ours_dir, fs_dir = state("seed"), state("package"), state("filestorage")
        series = [
            Series("seed/memory", seed.CheckpointManager(seed.MemoryStorage(), seed.NullConsumer()), args.memory_writes),
            Series("package/memory", CheckpointManager(seed.MemoryStorage(), seed.NullConsumer()), args.memory_writes),
            Series(
                "package/memory-versioned", CheckpointManager(MemoryStorage(), seed.NullConsumer()), args.memory_writes
            ),
            Series(
                "seed/durable",
                seed.CheckpointManager(seed.FileStorage(seed_dir), file_consumer(seed_dir)),
                args.writes,
            ),
            Series(
                "package/durable",
                CheckpointManager(seed.FileStorage(ours_dir), file_consumer(ours_dir)),
                args.writes,
            ),
            Series(
                "package/durable-filestorage",
                CheckpointManager(FileStorage(fs_dir), file_consumer(fs_dir)),
                args.writes,
            ),
        ]
        for s in series:
            s.run(ids, timed=False)  # warm-up: the first write reads, caches fill
        for _ in range(args.rounds):
            for s in series:
                s.run(ids)
        for consumer in consumers:
            consumer.close()

    medians = {s.name: statistics.median(s.per_write) for s in series}
    for s in series:
        print(json.dumps({"series": s.name, "ns_per_write": medians[s.name], "writes": s.writes * args.rounds}), flush=True)
    print(f"{'series':30} {'us/write':>12} {'vs seed':>8}  ({args.rounds} rounds, batch {args.batch})", file=sys.stderr)
    for s in series:
        base = medians["seed/memory" if "memory" in s.name else "seed/durable"]
        print(f"{s.name:30} {medians[s.name] / 1000:12.1f} {medians[s.name] / base:7.2f}x", file=sys.stderr)


if __name__ == "__main__":
    main()
