// pipeline-checkpoint/node's FileStorage: the original pipelines' file, durable puts,
// unsafe keys and symbolic links refused.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { CheckpointManager, CorruptRecord, FileConsumer, FileStorage, MemoryConsumer, StorageFailure } from 'pipeline-checkpoint/node';

const scratch = () => mkdtempSync(join(tmpdir(), 'pipeline-checkpoint-js-'));

test('record file holds the JSON the original pipelines read, and acks are appended', () => {
  const root = scratch();
  const manager = new CheckpointManager(new FileStorage(root), new FileConsumer(join(root, 'acks.jsonl')));
  assert.equal(manager.writeCheckpoint(['a', 'b'], 12), true);
  const record = JSON.parse(readFileSync(join(root, 'pipeline', 'checkpoint.json'), 'utf8'));
  assert.equal(record.offset, 12);
  assert.equal(readFileSync(join(root, 'acks.jsonl'), 'utf8'), '["a","b"]\n');
  assert.equal(new CheckpointManager(new FileStorage(root), new MemoryConsumer()).getCheckpoint(), 12n);
});

test('puts leave no temporary files', () => {
  const root = scratch();
  const manager = new CheckpointManager(new FileStorage(root), new MemoryConsumer());
  for (let offset = 1; offset <= 5; offset += 1) manager.writeCheckpoint([], offset);
  assert.deepEqual(readdirSync(join(root, 'pipeline')), ['checkpoint.json']);
});

for (const key of ['', '/etc/passwd', '../out', 'a/../b', 'a//b', 'a/', '.hidden', 'a\\b', 'a\nb', 'x'.repeat(1025)]) {
  test(`unsafe key ${JSON.stringify(key.slice(0, 20))} is refused and nothing is created`, () => {
    const root = scratch();
    const storage = new FileStorage(root);
    assert.throws(() => storage.put(key, 'v'), (e) => e instanceof StorageFailure && e.kind === 'invalid-key');
    assert.throws(() => storage.get(key), (e) => e instanceof StorageFailure && e.kind === 'invalid-key');
    assert.deepEqual(readdirSync(root), []);
  });
}

test('symlinked record is neither followed nor written through', () => {
  const root = scratch();
  const outside = join(scratch(), 'target.json');
  writeFileSync(outside, '{"offset": 9, "written_at": 1.0}');
  const storage = new FileStorage(root);
  storage.put('pipeline/other.json', 'x');
  symlinkSync(outside, join(root, 'pipeline', 'checkpoint.json'));
  const manager = new CheckpointManager(storage, new MemoryConsumer());
  assert.throws(() => manager.getCheckpoint(), CorruptRecord);
  assert.throws(() => storage.put('pipeline/checkpoint.json', 'y'), (e) => e.kind === 'access-denied');
  assert.equal(readFileSync(outside, 'utf8'), '{"offset": 9, "written_at": 1.0}');
});

test('record over the size limit is corrupt and not read whole', () => {
  const root = scratch();
  const storage = new FileStorage(root, { maxValueBytes: 64 });
  storage.put('pipeline/checkpoint.json', `{"offset": 1, "pad": "${' '.repeat(100)}"}`);
  assert.throws(() => new CheckpointManager(storage, new MemoryConsumer()).getCheckpoint(), /over the 64-byte limit/);
});

test('a put into a missing directory creates it; a file in the way fails as io', () => {
  const root = scratch();
  const storage = new FileStorage(root);
  assert.equal(storage.put('deep/er/key.json', 'v'), true);
  assert.ok(existsSync(join(root, 'deep', 'er', 'key.json')));
  writeFileSync(join(root, 'blocker'), '');
  assert.throws(() => storage.put('blocker/key.json', 'v'), (e) => e.kind === 'io' && /not a directory/.test(e.detail));
});

test('a put refused before it wrote says nothing was stored', () => {
  const root = scratch();
  writeFileSync(join(root, 'blocker'), '');
  const files = new FileStorage(root);
  const storage = { get: () => null, put: (key, value) => files.put(`blocker/${key}`, value) };
  const manager = new CheckpointManager(storage, new MemoryConsumer());
  assert.equal(manager.writeCheckpoint(['a'], 1), false);
  assert.equal(manager.lastWriteError.kind, 'io');
  assert.equal(manager.lastWriteError.mayHaveApplied, false);
  assert.match(manager.lastWriteError.message, /nothing was stored/);
});
