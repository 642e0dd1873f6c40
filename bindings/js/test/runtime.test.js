// What each runtime gets: the package loads through the loader its runtime needs, and
// where a runtime lacks what an API needs, one clear error names the runtime and the
// fix, at construction and not in the middle of a call.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AckFailed, AsyncCheckpointManager, CheckpointManager, ComponentTrapped, InvalidArgument, MemoryConsumer, MemoryStorage,
  UnsupportedRuntime, hasJspi,
} from 'pipeline-checkpoint';
import { source } from '../src/core-modules/node.js';
import { deferred, later } from './support.js';

const runtime = globalThis.Deno ? 'Deno' : 'Node.js';

test('the core modules come from the loader this runtime needs', async () => {
  const { loaderSource } = await import('../src/instance.js');
  new CheckpointManager(new MemoryStorage(), new MemoryConsumer()).getCheckpoint();
  if (globalThis.Deno) assert.match(loaderSource(), /base64/, 'Deno loads them without a file permission');
  else assert.equal(loaderSource(), source);
});

test('without JSPI an AsyncCheckpointManager is refused at construction, naming the runtime and the fix',
  { skip: hasJspi() ? 'this runtime has JSPI' : false }, () => {
    assert.throws(() => new AsyncCheckpointManager(new MemoryStorage(), new MemoryConsumer()), (e) => e instanceof UnsupportedRuntime
      && e.runtime.startsWith(runtime) && /JSPI/.test(e.message) && /Node\.js 24\.22/.test(e.fix)
      && /CheckpointManager with a storage and a consumer that answer synchronously/.test(e.fix));
  });

test('an async store is refused by CheckpointManager at construction, with the way out', () => {
  const memory = new MemoryStorage();
  const storage = { getVersioned: async (key) => memory.getVersioned(key), putVersioned: async (k, v, e) => memory.putVersioned(k, v, e) };
  assert.throws(() => new CheckpointManager(storage, new MemoryConsumer()), (e) => e instanceof InvalidArgument
    && /storage.getVersioned and storage.putVersioned are async/.test(e.message)
    && (hasJspi() ? /use AsyncCheckpointManager/ : /lacks: JSPI is on by default/).test(e.message));
  assert.throws(() => new CheckpointManager(memory, { async ack() {} }), /consumer.ack is async/);
});

test('a storage that returns a promise to CheckpointManager: the write is abandoned unacknowledged, the store may still apply it',
  async () => {
    const memory = new MemoryStorage();
    const held = deferred();
    const storage = {
      getVersioned: (key) => memory.getVersioned(key),
      putVersioned: (key, value, expected) => held.promise.then(() => memory.putVersioned(key, value, expected)),
    };
    const consumer = new MemoryConsumer();
    const manager = new CheckpointManager(storage, consumer);
    assert.throws(() => manager.writeCheckpoint(['a'], 1), (e) => e instanceof ComponentTrapped
      && /returned a Promise/.test(e.message) && /may still apply it/.test(e.message) && /AsyncCheckpointManager/.test(e.message));
    assert.deepEqual(consumer.acked, []);
    held.reject(new Error('rejected after the manager gave up on it'));
    await later();
    // No unhandled rejection: node --test and deno test fail the run on one.
  });

test('a consumer that returns a promise to CheckpointManager: the offset is durable and the ack reported failed', () => {
  const memory = new MemoryStorage();
  const manager = new CheckpointManager(memory, { ack: () => Promise.reject(new Error('later')) });
  assert.throws(() => manager.writeCheckpoint(['a'], 3), (e) => e instanceof AckFailed && e.offset === 3n
    && /returned a Promise/.test(e.message));
  assert.equal(new CheckpointManager(memory, new MemoryConsumer()).getCheckpoint(), 3n);
});
