// A failed instance is never reused: the call throws ComponentTrapped, and the next call
// runs on a fresh instance that reads the stored record before it writes.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CheckpointError, CheckpointManager, ComponentTrapped, MemoryConsumer, WriteFailed } from 'pipeline-checkpoint';
import { SeedStorage, setup } from './support.js';

class Switchable extends SeedStorage {
  mode = null;

  get(key) {
    const value = super.get(key);
    return this.mode === 'wrong type' ? 42 : value;
  }
}

test('trap discards the instance and the next call recovers', () => {
  const { journal, consumer } = setup();
  const storage = new Switchable(journal);
  new CheckpointManager(storage, consumer).writeCheckpoint(['a'], 5);
  const fresh = new CheckpointManager(storage, consumer);
  storage.mode = 'wrong type';
  assert.throws(() => fresh.getCheckpoint(), (e) => e instanceof ComponentTrapped && e.reopened && /discarded/.test(e.message)
    && /storage.get returned number 42/.test(e.message));
  storage.mode = null;
  journal.events.length = 0;
  assert.equal(fresh.writeCheckpoint(['b'], 6), true);
  assert.equal(journal.kinds()[0], 'get', 'the fresh instance read the record before it wrote over it');
  assert.ok(journal.kinds().includes('put'));
});

test('put returning neither true nor false traps and acks nothing', () => {
  const { storage, consumer } = setup();
  storage.putResult = undefined;
  const manager = new CheckpointManager(storage, consumer);
  assert.throws(() => manager.writeCheckpoint(['a'], 1), /storage.put returned undefined/);
  assert.deepEqual(consumer.acked, []);
  storage.putResult = true;
  assert.equal(manager.writeCheckpoint(['a'], 1), true);
});

test('calling the manager from its own storage is refused, not re-entered', () => {
  const storage = new SeedStorage();
  const put = storage.put.bind(storage);
  let reenter = true;
  const manager = new CheckpointManager(Object.assign(storage, {
    put(key, value) {
      if (reenter) manager.getCheckpoint();
      return put(key, value);
    },
  }), new MemoryConsumer());
  assert.throws(() => manager.writeCheckpoint(['a'], 1), (e) => e instanceof WriteFailed
    && e.cause instanceof CheckpointError && /re-entered/.test(e.cause.message));
  reenter = false;
  assert.equal(manager.writeCheckpoint(['a'], 1), true);
});

test('managers on one storage each reach only their own consumer', () => {
  const storage = new SeedStorage();
  const consumers = [new MemoryConsumer(), new MemoryConsumer()];
  const managers = consumers.map((consumer, i) => new CheckpointManager(storage, consumer, { key: `k${i}` }));
  for (let offset = 1; offset <= 20; offset += 1) managers.forEach((m, i) => m.writeCheckpoint([`${i}:${offset}`], offset));
  consumers.forEach((consumer, i) => assert.ok(consumer.acked.every(([id]) => id.startsWith(`${i}:`))));
  assert.equal(consumers[1].acked.length, 20);
});
