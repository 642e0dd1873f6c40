// The workerd series of the edge benchmark, as a Worker (run by edge.mjs under
// miniflare): GET /run?series=NAME&writes=N runs N writes of one series and answers
// when done; the harness times the request from outside, since a Worker's clock does
// not advance while it computes. The Durable Object series run inside an object of
// their own (a storage.sync() waits for every pending write of its object, so series
// sharing one would pay for each other's): the package over the storage's synchronous
// API (sync build) and asynchronous API (JSPI build), each beside the same storage
// operations written out.

import { DurableObject } from 'cloudflare:workers';
import { AsyncCheckpointManager, CheckpointManager } from 'pipeline-checkpoint';
import { AsyncDurableObjectStorage, DurableObjectStorage } from 'pipeline-checkpoint/cloudflare';

import suspensionModule from './suspension.wasm';
import { BATCH, floorSeries, managerSeries, memorySeries, openSeries, record } from './series.mjs';
import { suspensionSeries } from './suspension.mjs';

/** The ack: the batch handed to the upstream's client, here kept in memory. */
const acks = () => ({ last: null, ack(ids) { this.last = ids; } });

/** DurableObjectStorage.putVersioned's steps: read, compare, write, in one transaction. */
function syncCas(storage, key) {
  let version = null;
  return (offset) => {
    version = storage.transactionSync(() => {
      const have = storage.kv.get(key)?.version ?? null;
      if (have !== version) throw new Error('the record changed under the floor');
      const next = (have ?? 0n) + 1n;
      storage.kv.put(key, { value: record(offset), version: next });
      return next;
    });
  };
}

/** AsyncDurableObjectStorage.putVersioned's steps, awaited the same way. */
function asyncCas(storage, key) {
  let version = null;
  return async (offset) => {
    version = await storage.transaction(async (txn) => {
      const have = (await txn.get(key))?.version ?? null;
      if (have !== version) throw new Error('the record changed under the floor');
      const next = (have ?? 0n) + 1n;
      await txn.put(key, { value: record(offset), version: next });
      return next;
    });
    await storage.sync();
  };
}

/** `step(offset)` called from wasm through one bare JSPI suspension: what JSPI alone
 * adds to the asynchronous floor. */
function throughOneSuspension(step) {
  let offset = 0n;
  const call = WebAssembly.promising(new WebAssembly.Instance(suspensionModule, {
    env: { f: new WebAssembly.Suspending(async () => { await step(offset); return 1; }) },
  }).exports.g);
  return async (next) => {
    offset = next;
    await call();
  };
}

export class Bench extends DurableObject {
  #series = null;

  series() {
    if (this.#series !== null) return this.#series;
    const { storage } = this.ctx;
    // Keys of this incarnation only: workerd evicts an idle object, and a new one
    // starts its offsets and versions afresh.
    const prefix = `${crypto.randomUUID()}/`;
    const ack = acks();
    const syncFloor = syncCas(storage, `${prefix}floor`);
    const asyncFloor = asyncCas(storage, `${prefix}floor`);
    const suspendedFloor = throughOneSuspension(asyncCas(storage, `${prefix}floor`));
    this.#series = {
      'do/sync': managerSeries(new CheckpointManager(new DurableObjectStorage(storage, { prefix }), acks())),
      'do/floor-sync': floorSeries((offset) => { syncFloor(offset); ack.ack(BATCH); }),
      'do/jspi-sync-api': managerSeries(new AsyncCheckpointManager(new DurableObjectStorage(storage, { prefix }), acks())),
      'do/jspi': managerSeries(new AsyncCheckpointManager(new AsyncDurableObjectStorage(storage, { prefix }), acks())),
      'do/floor-async': floorSeries(async (offset) => { await asyncFloor(offset); ack.ack(BATCH); }),
      'do/floor-async-suspended': floorSeries(async (offset) => { await suspendedFloor(offset); ack.ack(BATCH); }),
    };
    return this.#series;
  }

  /** Runs `name`, the one series this object serves. */
  async run(name, writes) {
    await this.series()[name].run(writes);
  }
}

let inWorker = null;

/** Runs the series named in the query; a failure answers 500 with its text. */
async function run(url, env) {
  const name = url.searchParams.get('series');
  const writes = Number(url.searchParams.get('writes'));
  if (name.startsWith('do/')) {
    await env.BENCH.get(env.BENCH.idFromName(name)).run(name, writes);
  } else {
    inWorker ??= { ...memorySeries(), ...openSeries(), ...suspensionSeries(suspensionModule) };
    await inWorker[name].run(writes);
  }
}

export default {
  async fetch(request, env) {
    try {
      await run(new URL(request.url), env);
      return new Response('done');
    } catch (e) {
      return new Response(`${e.name}: ${e.message}`, { status: 500 });
    }
  },
};
