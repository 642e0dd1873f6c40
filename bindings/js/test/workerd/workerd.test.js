// The package in Cloudflare Workers (workerd, run by miniflare): loaded as a Worker
// loads it, the sync build in a fetch handler, both builds in a SQLite-backed Durable
// Object, the fencing stores (Durable Object storage, R2) fencing a takeover, Workers KV
// as the unversioned storage it is, and the error a Worker gets without the `workerd`
// condition.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { bundleWorker, moduleOptions, workersTools } from './tools.js';

const tools = await workersTools();
const skip = tools.skip ?? false;
let worker = null;
let unsupported = null;

before(async () => {
  if (skip) return;
  const here = (name) => fileURLToPath(new URL(name, import.meta.url));
  worker = new tools.Miniflare({
    ...moduleOptions(await bundleWorker(tools.esbuild, here('worker.js'))),
    durableObjects: { CHECKPOINTS: { className: 'Checkpoints', useSQLite: true } },
    r2Buckets: ['BUCKET'],
    kvNamespaces: ['KV'],
  });
  unsupported = new tools.Miniflare(moduleOptions(await bundleWorker(tools.esbuild, here('unsupported-worker.js'), { conditions: [] })));
});

after(async () => {
  await worker?.dispose();
  await unsupported?.dispose();
});

async function scenario(name) {
  const response = await worker.dispatchFetch(`http://worker/${name}`);
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body;
}

/** A takeover as the worker reports it: the old writer's put preceded its ack, then it
 * was fenced and acked nothing more; the successor's offset is the durable one. */
function assertFencedTakeover(result) {
  assert.deepEqual(result.journal, ['put-done', 'ack']);
  assert.deepEqual(result.oldAcks, [['a']]);
  assert.equal(result.fenced, 'Fenced');
  assert.equal(result.durable, '2');
}

test('the sync build runs in a fetch handler', { skip }, async () => {
  assert.deepEqual(await scenario('memory'), { offset: String(2n ** 60n), acked: [['a']] });
});

test('Durable Object storage (sync API, CheckpointManager) fences a takeover', { skip }, async () => {
  assertFencedTakeover(await scenario('durable-object-sync'));
});

test('Durable Object storage (async API, AsyncCheckpointManager through JSPI) fences a takeover', { skip }, async () => {
  assertFencedTakeover(await scenario('durable-object-async'));
});

test('R2 conditional puts fence a takeover and let only one of two creators write', { skip }, async () => {
  const result = await scenario('r2');
  assertFencedTakeover(result);
  assert.equal(result.secondCreate, 'Fenced');
});

test('Workers KV serves only as unversioned storage, through AsyncCheckpointManager', { skip }, async () => {
  const result = await scenario('workers-kv');
  assert.equal(result.offset, '9');
  assert.match(result.syncRefusal, /storage.get and storage.put are async/);
});

test('without the workerd condition a Worker gets one error naming the runtime and the fix, every time', { skip }, async () => {
  const seen = await (await unsupported.dispatchFetch('http://worker/')).json();
  assert.equal(seen.length, 2);
  for (const attempt of seen) {
    assert.equal(attempt.unsupported, true, JSON.stringify(attempt));
    assert.equal(attempt.runtime, 'Cloudflare Workers (workerd)');
    assert.match(attempt.message, /compiles no WebAssembly from bytes/);
    assert.match(attempt.message, /`workerd` export condition/);
    assert.doesNotMatch(attempt.message, /retried/);
  }
});
