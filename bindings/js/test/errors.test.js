// Every case of the contract's checkpoint-error reaches JavaScript as its own class.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AckFailed, AckFailure, CHECKPOINT_KEY, CheckpointError, CheckpointManager, ComponentTrapped, CorruptRecord, Fenced,
  InvalidArgument, MemoryConsumer, MemoryStorage, OffsetRegression, ReadFailed, StorageFailure, WriteFailed,
} from 'pipeline-checkpoint';
import { Consumer, SeedStorage, setup } from './support.js';

for (const record of ['', 'not json', '{"offset": -1}', '{"written_at": 1}', '{"offset": "5"}', 'a\u0000b']) {
  test(`corrupt record ${JSON.stringify(record)} is reported and never overwritten`, () => {
    const { journal, storage, consumer } = setup();
    storage.values.set(CHECKPOINT_KEY, record);
    const manager = new CheckpointManager(storage, consumer);
    assert.throws(() => manager.writeCheckpoint(['a'], 5), CorruptRecord);
    assert.throws(() => manager.getCheckpoint(), CorruptRecord);
    assert.ok(!journal.kinds().includes('put') && !journal.kinds().includes('ack'));
    assert.equal(storage.values.get(CHECKPOINT_KEY), record);
  });
}

test('lower offset is refused with both offsets', () => {
  const { journal, storage, consumer } = setup();
  const manager = new CheckpointManager(storage, consumer);
  manager.writeCheckpoint([], 10);
  journal.events.length = 0;
  assert.throws(() => manager.writeCheckpoint(['a'], 9), (e) => e instanceof OffsetRegression && e.durable === 10n && e.requested === 9n);
  assert.ok(!journal.kinds().includes('ack') && !journal.kinds().includes('put'));
});

for (const [name, make] of [['seed', () => new SeedStorage()], ['versioned', () => new MemoryStorage()]]) {
  test(`manager overtaken by another writer is fenced for good (${name} storage)`, () => {
    const storage = make();
    const consumer = new MemoryConsumer();
    const stale = new CheckpointManager(storage, consumer);
    stale.writeCheckpoint(['a'], 1);
    new CheckpointManager(storage, new MemoryConsumer()).writeCheckpoint([], 2);
    assert.throws(() => stale.writeCheckpoint(['b'], 3), Fenced);
    assert.throws(() => stale.writeCheckpoint(['b'], 4), Fenced);
    assert.deepEqual(consumer.acked, [['a']]);
    assert.equal(new CheckpointManager(storage, consumer).getCheckpoint(), 2n);
  });
}

test('consumer that throws gives AckFailed with the offset durable, and a retry acks again', () => {
  const storage = new MemoryStorage();
  const broken = new Error('broker gone');
  let fail = true;
  const acked = [];
  const consumer = { ack(ids) { if (fail) throw broken; acked.push(ids); } };
  const manager = new CheckpointManager(storage, consumer);
  try {
    manager.writeCheckpoint(['a'], 7);
    assert.fail('no error');
  } catch (e) {
    assert.ok(e instanceof AckFailed);
    assert.equal(e.offset, 7n);
    assert.equal(e.kind, 'unavailable');
    assert.equal(e.cause, broken);
  }
  assert.match(storage.value(CHECKPOINT_KEY), /"offset":7,/);
  fail = false;
  assert.equal(manager.writeCheckpoint(['a'], 7), true);
  assert.deepEqual(acked, [['a']]);
});

test('consumer can say why an ack failed', () => {
  const consumer = { ack() { throw new AckFailure('rejected', 'lease lost'); } };
  const manager = new CheckpointManager(new MemoryStorage(), consumer);
  assert.throws(() => manager.writeCheckpoint(['a'], 1), (e) => e instanceof AckFailed && e.kind === 'rejected' && /lease lost/.test(e.detail));
});

test('get that throws gives ReadFailed and nothing is written', () => {
  const { journal, consumer } = setup();
  const storage = new SeedStorage(journal);
  const broken = new Error('disk gone');
  storage.get = () => { throw broken; };
  const manager = new CheckpointManager(storage, consumer);
  assert.throws(() => manager.writeCheckpoint(['a'], 1), (e) => e instanceof ReadFailed && e.kind === 'io' && e.cause === broken);
  assert.deepEqual(journal.events, []);
});

test('versioned get can report its failure kind, read-failed reachable', () => {
  const storage = { getVersioned() { throw new StorageFailure('unavailable', 'region down'); }, putVersioned() { return 1n; } };
  const manager = new CheckpointManager(storage, new MemoryConsumer());
  assert.throws(() => manager.getCheckpoint(), (e) => e instanceof ReadFailed && e.kind === 'unavailable');
});

test('bytes that are not text are a corrupt record', () => {
  const storage = new SeedStorage();
  storage.values.set(CHECKPOINT_KEY, '{"offset": 1, "x": "\ud800"}');
  assert.throws(() => new CheckpointManager(storage, new MemoryConsumer()).getCheckpoint(), CorruptRecord);
});

test('put that throws gives WriteFailed with its cause, and acks nothing', () => {
  const { storage, consumer } = setup();
  const broken = new RangeError('bug in storage');
  storage.put = () => { throw broken; };
  const manager = new CheckpointManager(storage, consumer);
  assert.throws(() => manager.writeCheckpoint(['a'], 1), (e) => e instanceof WriteFailed && e.cause === broken);
  assert.deepEqual(consumer.acked, []);
});

test('versioned put reporting a failure returns false with its kind', () => {
  const memory = new MemoryStorage();
  const storage = {
    getVersioned: (key) => memory.getVersioned(key),
    putVersioned() { throw new StorageFailure('no-space', 'quota'); },
  };
  const consumer = new Consumer();
  const manager = new CheckpointManager(storage, consumer);
  assert.equal(manager.writeCheckpoint(['a'], 1), false);
  assert.equal(manager.lastWriteError.kind, 'no-space');
  assert.deepEqual(consumer.acked, []);
});

test('every error is a CheckpointError', () => {
  for (const kind of [WriteFailed, AckFailed, OffsetRegression, CorruptRecord, ReadFailed, Fenced, ComponentTrapped, InvalidArgument]) {
    assert.ok(kind.prototype instanceof CheckpointError, kind.name);
  }
  assert.throws(() => new StorageFailure('nope', 'x'), TypeError);
  assert.throws(() => new AckFailure('nope', 'x'), TypeError);
});
