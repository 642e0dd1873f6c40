// AsyncCheckpointManager over stores and consumers that answer with promises (the JSPI
// build): the same contract as the synchronous manager, in the order promises settle.
// Where the runtime has no JSPI these tests are skipped; runtime.test.js proves the
// refusal there.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AckFailed, AsyncCheckpointManager, CHECKPOINT_KEY, CheckpointError, Fenced, MemoryConsumer, MemoryStorage,
  StorageFailure, VersionConflict, WriteFailed, hasJspi,
} from 'pipeline-checkpoint';
import { DelayedConsumer, DelayedStorage, Journal, deferred, jspiExpected, later } from './support.js';

const jspi = { skip: hasJspi() || jspiExpected() ? false : 'no JSPI in this runtime (runtime.test.js proves the refusal)' };

function setup() {
  const journal = new Journal();
  const memory = new MemoryStorage();
  const storage = new DelayedStorage(memory, journal);
  const consumer = new DelayedConsumer(journal);
  return { journal, memory, storage, consumer, manager: new AsyncCheckpointManager(storage, consumer) };
}

test('put has resolved ok before the first ack is called', jspi, async () => {
  const { journal, manager, consumer } = setup();
  assert.equal(await manager.writeCheckpoint(['a', 'b'], 10), true);
  const kinds = journal.kinds();
  assert.deepEqual(kinds, ['get-start', 'get-done', 'put-start', 'put-done', 'ack-start', 'ack-done']);
  assert.deepEqual(consumer.acked, [['a', 'b']]);
});

test('writeCheckpoint settles only after the ack has', jspi, async () => {
  const memory = new MemoryStorage();
  const held = deferred();
  let settled = false;
  const manager = new AsyncCheckpointManager(memory, { ack: () => held.promise });
  const write = manager.writeCheckpoint(['a'], 1).then((ok) => { settled = true; return ok; });
  await later();
  assert.equal(settled, false, 'writeCheckpoint settled while the ack was pending');
  assert.match(memory.value(CHECKPOINT_KEY), /"offset":1,/, 'the record is durable before the ack settles');
  held.resolve();
  assert.equal(await write, true);
});

test('an ack that rejects is AckFailed with the offset durable, and a retry acks again', jspi, async () => {
  const memory = new MemoryStorage();
  let fail = true;
  const acked = [];
  const consumer = { async ack(ids) { await later(1); if (fail) throw new Error('broker gone'); acked.push(ids); } };
  const manager = new AsyncCheckpointManager(memory, consumer);
  await assert.rejects(manager.writeCheckpoint(['a'], 7), (e) => e instanceof AckFailed && e.offset === 7n && e.kind === 'unavailable');
  fail = false;
  assert.equal(await manager.writeCheckpoint(['a'], 7), true);
  assert.deepEqual(acked, [['a']]);
});

test('a rejected put acks nothing and says nothing was stored when the store says so', jspi, async () => {
  const { memory, consumer } = setup();
  const storage = {
    getVersioned: async (key) => memory.getVersioned(key),
    putVersioned: async () => { await later(1); throw new StorageFailure('no-space', 'quota', { mayHaveApplied: false }); },
  };
  const manager = new AsyncCheckpointManager(storage, consumer);
  assert.equal(await manager.writeCheckpoint(['a'], 1), false);
  assert.equal(manager.lastWriteError.kind, 'no-space');
  assert.equal(manager.lastWriteError.mayHaveApplied, false);
  assert.deepEqual(consumer.acked, []);
});

test('a put that rejects after writing says the store may have applied it, and acks nothing', jspi, async () => {
  const { memory, consumer, journal } = setup();
  const storage = new DelayedStorage(memory, journal);
  let failAfterWrite = true;
  const put = storage.putVersioned.bind(storage);
  storage.putVersioned = async (key, value, expected) => {
    const version = await put(key, value, expected);
    if (failAfterWrite) throw new Error('connection reset after the write');
    return version;
  };
  const manager = new AsyncCheckpointManager(storage, consumer);
  await assert.rejects(manager.writeCheckpoint(['a'], 5), (e) => e instanceof WriteFailed && e.mayHaveApplied === true
    && /may still have applied it/.test(e.message));
  assert.deepEqual(consumer.acked, []);
  assert.match(memory.value(CHECKPOINT_KEY), /"offset":5,/, 'the store did apply it');
  failAfterWrite = false;
  journal.events.length = 0;
  assert.equal(await manager.writeCheckpoint(['a'], 5), true, 'the retry finds the offset durable and acks');
  assert.equal(journal.kinds()[0], 'get-start', 'after a failed put the record is read again before anything else');
  assert.deepEqual(consumer.acked, [['a']]);
});

test('a takeover fences the old writer, which acks nothing more', jspi, async () => {
  const memory = new MemoryStorage();
  const oldConsumer = new MemoryConsumer();
  const old = new AsyncCheckpointManager(new DelayedStorage(memory), oldConsumer);
  assert.equal(await old.writeCheckpoint(['a'], 1), true);
  const successor = new AsyncCheckpointManager(new DelayedStorage(memory), new MemoryConsumer());
  assert.equal(await successor.writeCheckpoint(['b'], 2), true);
  await assert.rejects(old.writeCheckpoint(['c'], 3), Fenced);
  await assert.rejects(old.writeCheckpoint(['c'], 4), Fenced);
  assert.deepEqual(oldConsumer.acked, [['a']]);
  assert.equal(await successor.getCheckpoint(), 2n);
});

test('a put that reports a version conflict fences the manager', jspi, async () => {
  const memory = new MemoryStorage();
  const storage = {
    getVersioned: async (key) => memory.getVersioned(key),
    putVersioned: async (key) => { throw new VersionConflict(`${key}: expected absent, holds version 9`); },
  };
  const consumer = new MemoryConsumer();
  await assert.rejects(new AsyncCheckpointManager(storage, consumer).writeCheckpoint(['a'], 1), Fenced);
  assert.deepEqual(consumer.acked, []);
});

test('two managers wait for their stores concurrently, not one behind the other', jspi, async () => {
  const memory = new MemoryStorage();
  const held = deferred();
  const slow = {
    getVersioned: (key) => memory.getVersioned(key),
    putVersioned: async (key, value, expected) => { await held.promise; return memory.putVersioned(key, value, expected); },
  };
  const slowConsumer = new MemoryConsumer();
  const fastConsumer = new MemoryConsumer();
  const blocked = new AsyncCheckpointManager(slow, slowConsumer, { key: 'slow' });
  const free = new AsyncCheckpointManager(new DelayedStorage(memory), fastConsumer, { key: 'fast' });
  const first = blocked.writeCheckpoint(['s'], 1);
  await later();
  assert.equal(await free.writeCheckpoint(['f'], 1), true, 'the second manager finished while the first was suspended');
  assert.equal(await free.writeCheckpoint(['f2'], 2), true);
  assert.deepEqual(slowConsumer.acked, []);
  held.resolve();
  assert.equal(await first, true);
  assert.deepEqual(slowConsumer.acked, [['s']]);
  assert.deepEqual(fastConsumer.acked, [['f'], ['f2']]);
});

test('an overlapping call on one manager is refused, and the running one completes', jspi, async () => {
  const { manager, consumer } = setup();
  const first = manager.writeCheckpoint(['a'], 1);
  await assert.rejects(manager.writeCheckpoint(['b'], 2), (e) => e instanceof CheckpointError && /still running/.test(e.message));
  assert.equal(await first, true);
  assert.deepEqual(consumer.acked, [['a']]);
  assert.equal(await manager.getCheckpoint(), 1n);
});

test('a synchronous store and consumer work with AsyncCheckpointManager too', jspi, async () => {
  const memory = new MemoryStorage();
  const consumer = new MemoryConsumer();
  const manager = new AsyncCheckpointManager(memory, consumer);
  assert.equal(await manager.writeCheckpoint(['a'], (1n << 64n) - 1n), true);
  assert.equal(await manager.getCheckpoint(), (1n << 64n) - 1n);
  assert.deepEqual(consumer.acked, [['a']]);
});

test('an async unversioned store (get/put) is compared before it is written', jspi, async () => {
  const values = new Map();
  const storage = { async get(key) { await later(1); return values.get(key) ?? null; }, async put(key, value) { await later(1); values.set(key, value); return true; } };
  const consumer = new MemoryConsumer();
  const old = new AsyncCheckpointManager(storage, consumer);
  assert.equal(await old.writeCheckpoint(['a'], 1), true);
  assert.equal(await new AsyncCheckpointManager(storage, new MemoryConsumer()).writeCheckpoint([], 2), true);
  await assert.rejects(old.writeCheckpoint(['b'], 3), Fenced);
  assert.deepEqual(consumer.acked, [['a']]);
});
