// Deno KV as the package's storage, run by `deno test --unstable-kv` (Deno's own flag
// for Deno.openKv; the package needs no permission). Two handles on one database file
// stand for two processes: each is its own SQLite connection, as another process's is.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AsyncCheckpointManager, Fenced, MemoryConsumer } from 'pipeline-checkpoint';
import { DenoKvStorage } from 'pipeline-checkpoint/deno-kv';

async function database() {
  const path = await Deno.makeTempFile({ suffix: '.sqlite' });
  return { open: () => Deno.openKv(path), remove: () => Deno.remove(path) };
}

test('a takeover through another connection fences the old writer, which acks nothing more', async () => {
  const db = await database();
  const [first, second] = [await db.open(), await db.open()];
  try {
    const oldAcks = new MemoryConsumer();
    const old = new AsyncCheckpointManager(new DenoKvStorage(first), oldAcks);
    assert.equal(await old.writeCheckpoint(['a'], 1), true);
    const successor = new AsyncCheckpointManager(new DenoKvStorage(second), new MemoryConsumer());
    assert.equal(await successor.getCheckpoint(), 1n);
    assert.equal(await successor.writeCheckpoint(['b'], 2), true);
    await assert.rejects(old.writeCheckpoint(['c'], 3), Fenced);
    assert.deepEqual(oldAcks.acked, [['a']]);
    assert.equal(await new AsyncCheckpointManager(new DenoKvStorage(first), new MemoryConsumer()).getCheckpoint(), 2n);
  } finally {
    first.close();
    second.close();
    await db.remove();
  }
});

test('of two writers that both find nothing stored, only one creates the record', async () => {
  const kv = await Deno.openKv(':memory:');
  try {
    const one = new AsyncCheckpointManager(new DenoKvStorage(kv), new MemoryConsumer());
    const other = new AsyncCheckpointManager(new DenoKvStorage(kv), new MemoryConsumer());
    assert.equal(await one.getCheckpoint(), 0n);
    assert.equal(await other.getCheckpoint(), 0n);
    assert.equal(await one.writeCheckpoint([], 5), true);
    await assert.rejects(other.writeCheckpoint([], 6), Fenced);
  } finally {
    kv.close();
  }
});

test('the put is committed before the ack, and the record is the JSON the other hosts read', async () => {
  const kv = await Deno.openKv(':memory:');
  try {
    const seen = [];
    const consumer = {
      async ack(ids) {
        const stored = await kv.get(['pipeline-checkpoint', 'pipeline/checkpoint.json']);
        seen.push([ids, JSON.parse(stored.value).offset]);
      },
    };
    const manager = new AsyncCheckpointManager(new DenoKvStorage(kv), consumer);
    await manager.writeCheckpoint(['a'], 7);
    await manager.writeCheckpoint(['b'], 8);
    assert.deepEqual(seen, [[['a'], 7], [['b'], 8]]);
  } finally {
    kv.close();
  }
});

test('a value that is not a string is a corrupt record, never overwritten', async () => {
  const kv = await Deno.openKv(':memory:');
  try {
    await kv.set(['pipeline-checkpoint', 'pipeline/checkpoint.json'], 42);
    const manager = new AsyncCheckpointManager(new DenoKvStorage(kv), new MemoryConsumer());
    await assert.rejects(manager.writeCheckpoint(['a'], 1), (e) => e.name === 'CorruptRecord' && /holds a number/.test(e.message));
    assert.equal((await kv.get(['pipeline-checkpoint', 'pipeline/checkpoint.json'])).value, 42);
  } finally {
    kv.close();
  }
});
