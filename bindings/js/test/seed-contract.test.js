// The original pipelines' behaviours: ordering, false and no ack after a failed put,
// 0 when absent, a read that never writes, and their record read and written.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CHECKPOINT_KEY, CheckpointManager, InvalidArgument, MemoryConsumer, MemoryStorage } from 'pipeline-checkpoint';
import { SEED_RECORD, setup } from './support.js';

test('offset is put before the batch is acked', () => {
  const { journal, storage, consumer } = setup();
  assert.equal(new CheckpointManager(storage, consumer).writeCheckpoint(['a', 'b'], 10), true);
  const kinds = journal.kinds();
  assert.ok(kinds.indexOf('put') < kinds.indexOf('ack'), kinds.join(','));
  assert.deepEqual(consumer.acked, [['a', 'b']]);
});

test('failed put returns false and acks nothing', () => {
  const { journal, storage, consumer } = setup();
  storage.putResult = false;
  const manager = new CheckpointManager(storage, consumer);
  assert.equal(manager.writeCheckpoint(['a'], 10), false);
  assert.equal(manager.lastWriteError.kind, 'io');
  assert.ok(!journal.kinds().includes('ack'));
  storage.putResult = true;
  assert.equal(manager.writeCheckpoint(['a'], 10), true);
  assert.equal(manager.lastWriteError, null);
  assert.deepEqual(consumer.acked, [['a']]);
});

test('checkpoint is 0n when no record exists', () => {
  const { storage, consumer } = setup();
  assert.equal(new CheckpointManager(storage, consumer).getCheckpoint(), 0n);
});

test('getCheckpoint only reads', () => {
  const { journal, storage, consumer } = setup();
  storage.values.set(CHECKPOINT_KEY, SEED_RECORD);
  const manager = new CheckpointManager(storage, consumer);
  assert.equal(manager.getCheckpoint(), 1234n);
  assert.equal(manager.getCheckpoint(), 1234n);
  assert.deepEqual([...new Set(journal.kinds())], ['get']);
  assert.equal(storage.values.get(CHECKPOINT_KEY), SEED_RECORD);
});

test('record holds exactly offset and written_at under the original key', () => {
  const { storage, consumer } = setup();
  const before = Date.now() / 1000;
  new CheckpointManager(storage, consumer).writeCheckpoint([], 42);
  const record = JSON.parse(storage.values.get(CHECKPOINT_KEY));
  assert.deepEqual(Object.keys(record).sort(), ['offset', 'written_at']);
  assert.equal(record.offset, 42);
  assert.ok(record.written_at >= Math.floor(before) && record.written_at <= Date.now() / 1000 + 1, String(record.written_at));
});

test('record written by the original class is read, extra fields tolerated', () => {
  const { storage, consumer } = setup();
  storage.values.set(CHECKPOINT_KEY, '{"offset": 77, "written_at": 1.5, "host": "old", "extra": [1]}');
  const manager = new CheckpointManager(storage, consumer);
  assert.equal(manager.getCheckpoint(), 77n);
  assert.equal(manager.writeCheckpoint(['x'], 78), true);
});

test('custom key is used for reads and writes', () => {
  const { journal, storage, consumer } = setup();
  const manager = new CheckpointManager(storage, consumer, { key: 'tenants/a/offset.json' });
  assert.equal(manager.key, 'tenants/a/offset.json');
  manager.writeCheckpoint([], 3);
  assert.deepEqual([...storage.values.keys()], ['tenants/a/offset.json']);
  assert.ok(journal.events.every((event) => event[0] === 'ack' || event[1] === 'tenants/a/offset.json'));
});

test('writing the durable offset again acks again without rewriting', () => {
  const { journal, storage, consumer } = setup();
  const manager = new CheckpointManager(storage, consumer);
  manager.writeCheckpoint(['a'], 5);
  journal.events.length = 0;
  assert.equal(manager.writeCheckpoint(['a'], 5), true);
  assert.deepEqual(journal.kinds(), ['ack']);
});

test('offsets beyond 2^53 round-trip as bigint, up to 2^64 - 1', () => {
  const storage = new MemoryStorage();
  const manager = new CheckpointManager(storage, new MemoryConsumer());
  const largest = (1n << 64n) - 1n;
  assert.equal(manager.writeCheckpoint([], (1n << 53n) + 1n), true);
  assert.equal(manager.writeCheckpoint([], largest), true);
  assert.equal(new CheckpointManager(storage, new MemoryConsumer()).getCheckpoint(), largest);
  assert.match(storage.value(CHECKPOINT_KEY), /"offset":18446744073709551615,/);
});

for (const offset of [-1, -1n, 1n << 64n, 2 ** 53, 1.5, NaN, '5', null, true]) {
  test(`offset ${typeof offset} ${String(offset)} is refused before any call`, () => {
    const { journal, storage, consumer } = setup();
    const manager = new CheckpointManager(storage, consumer);
    assert.throws(() => manager.writeCheckpoint(['a'], offset), InvalidArgument);
    assert.deepEqual(journal.events, []);
  });
}

for (const ids of ['abc', [1], [null], new Set(['a']), null]) {
  test(`batch ids ${JSON.stringify(ids)} that are not an array of strings are refused`, () => {
    const { journal, storage, consumer } = setup();
    assert.throws(() => new CheckpointManager(storage, consumer).writeCheckpoint(ids, 1), InvalidArgument);
    assert.deepEqual(journal.events, []);
  });
}

test('a key that is not a string, and objects without the protocols, are refused', () => {
  const { storage, consumer } = setup();
  assert.throws(() => new CheckpointManager(storage, consumer, { key: 5 }), InvalidArgument);
  assert.throws(() => new CheckpointManager({}, consumer), /is not a storage/);
  assert.throws(() => new CheckpointManager({ getVersioned() {} }, consumer), /putVersioned/);
  assert.throws(() => new CheckpointManager(storage, {}), /is not a consumer/);
});

test('ids with any unicode reach the consumer unchanged, each batch in call order', () => {
  const { storage, consumer } = setup();
  const manager = new CheckpointManager(storage, consumer);
  const ids = ['é', '🦀', '\u0000', 'a'.repeat(4096)];
  manager.writeCheckpoint(ids, 1);
  manager.writeCheckpoint(['second'], 2);
  assert.deepEqual(consumer.acked, [ids, ['second']]);
  assert.equal(consumer.acked[0], ids, "the consumer receives the caller's array itself");
});
