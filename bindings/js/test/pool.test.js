// Closing a manager hands its instance to the next manager created, which starts as a
// new manager would: it reads the record before it writes. A closed manager is done.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AsyncCheckpointManager, CheckpointError, CheckpointManager, MemoryConsumer, MemoryStorage, hasJspi,
} from 'pipeline-checkpoint';
import { idleCount } from '../src/pool.js';
import { DelayedStorage, Journal, jspiExpected, setup } from './support.js';

test('a closed manager hands its instance to the next, which reads the record before it writes', () => {
  const { journal, storage, consumer } = setup();
  const first = new CheckpointManager(storage, consumer);
  first.writeCheckpoint(['a'], 5);
  const idle = idleCount('sync');
  first.close();
  assert.equal(idleCount('sync'), idle + 1);
  const next = new CheckpointManager(storage, consumer);
  assert.equal(idleCount('sync'), idle, 'the next manager took the idle instance');
  journal.events.length = 0;
  assert.equal(next.writeCheckpoint(['b'], 6), true);
  assert.deepEqual(journal.kinds(), ['get', 'get', 'put', 'ack']);
  assert.equal(next.getCheckpoint(), 6n);
});

test('a closed manager refuses every call, and closing again does nothing', () => {
  const manager = new CheckpointManager(new MemoryStorage(), new MemoryConsumer());
  manager.close();
  manager.close();
  assert.throws(() => manager.writeCheckpoint(['a'], 1), (e) => e instanceof CheckpointError && /closed manager/.test(e.message));
  assert.throws(() => manager.getCheckpoint(), /closed manager/);
});

test('an async manager cannot be closed while a call runs, and hands its instance back after',
  { skip: hasJspi() || jspiExpected() ? false : 'no JSPI in this runtime' }, async () => {
    const memory = new MemoryStorage();
    const manager = new AsyncCheckpointManager(new DelayedStorage(memory, new Journal()), new MemoryConsumer());
    const write = manager.writeCheckpoint(['a'], 1);
    assert.throws(() => manager.close(), /still running/);
    assert.equal(await write, true);
    const idle = idleCount('jspi');
    manager.close();
    assert.equal(idleCount('jspi'), idle + 1);
    await assert.rejects(manager.getCheckpoint(), /closed manager/);
    const next = new AsyncCheckpointManager(memory, new MemoryConsumer());
    assert.equal(await next.getCheckpoint(), 1n);
  });
