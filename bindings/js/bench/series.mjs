// The benchmark's series that every runtime runs, over the package imported by name
// (each runtime's export condition picks its loader). A series is {run(writes)}: that
// many checkpoints of a batch of 100 UUID-shaped ids at strictly increasing offsets.
// Timing is the caller's (workerd's clock does not advance inside a request).

import { AsyncCheckpointManager, CheckpointManager, MemoryStorage } from 'pipeline-checkpoint';

/** The splitmix64 UUID-shaped ids of bench_write.mjs and the Rust pipeline. */
export function generatedId(index) {
  const mask = (1n << 64n) - 1n;
  let z = (BigInt(index) + 0x9E3779B97F4A7C15n) & mask;
  z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & mask;
  z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & mask;
  z ^= z >> 31n;
  const hex = (value, width) => value.toString(16).padStart(width, '0');
  const i = BigInt(index);
  return `${hex(z >> 32n, 8)}-${hex((z >> 16n) & 0xFFFn, 4)}-4${hex(z & 0xFFFn, 3)}-8${hex((i >> 48n) & 0xFFFn, 3)}-${hex(i & 0xFFFFFFFFFFFFn, 12)}`;
}

export const BATCH = Array.from({ length: 100 }, (_, i) => generatedId(i));

/** A series driving `manager` (sync or async) from offset 1 on. */
export function managerSeries(manager) {
  let offset = 0n;
  return {
    async run(writes) {
      for (let i = 0; i < writes; i += 1) {
        offset += 1n;
        if (!(await manager.writeCheckpoint(BATCH, offset))) throw new Error(`a write failed: ${manager.lastWriteError}`);
      }
    },
  };
}

/** A series of written-out steps with the same shape: `step(offset)` per write. */
export function floorSeries(step) {
  let offset = 0n;
  return {
    async run(writes) {
      for (let i = 0; i < writes; i += 1) {
        offset += 1n;
        await step(offset);
      }
    },
  };
}

/** The record the component writes, for the floors to write the same bytes. */
export const record = (offset) => `{"offset":${offset},"written_at":${Date.now() / 1000}}`;

const noAck = { ack() {} };

/** In memory: the sync build, the JSPI build over the same synchronous store and
 * consumer, and the JSPI build over a store and consumer that return promises. */
export function memorySeries() {
  const memory = new MemoryStorage();
  const asyncMemory = {
    getVersioned: async (key) => memory.getVersioned(key),
    putVersioned: async (key, value, expected) => memory.putVersioned(key, value, expected),
  };
  return {
    'memory/sync': managerSeries(new CheckpointManager(new MemoryStorage(), noAck)),
    'memory/jspi': managerSeries(new AsyncCheckpointManager(new MemoryStorage(), noAck)),
    'memory/jspi-promises': managerSeries(new AsyncCheckpointManager(asyncMemory, { async ack() {} })),
  };
}

/** Opening a manager (its first call included): a new instance each time, or the
 * instance a closed manager handed back to the pool. */
export function openSeries() {
  const storage = new MemoryStorage();
  const open = (close) => ({
    async run(n) {
      for (let i = 0; i < n; i += 1) {
        const manager = new CheckpointManager(storage, noAck);
        manager.getCheckpoint();
        if (close) manager.close();
      }
    },
  });
  return { 'open/new-instance': open(false), 'open/pooled': open(true) };
}
