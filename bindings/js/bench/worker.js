// The workerd series of the edge benchmark, as a Worker (run by edge.mjs under
// miniflare): GET /run?series=NAME&writes=N runs N writes of one series and answers
// when done; the harness times the request from outside, since a Worker's clock does
// not advance while it computes. The Durable Object series run inside the object:
// the package over its storage's synchronous API (sync build) and asynchronous API
// (JSPI build), each beside the same storage operations written out.

import { DurableObject } from 'cloudflare:workers';
import { AsyncCheckpointManager, CheckpointManager } from 'pipeline-checkpoint';
import { AsyncDurableObjectStorage, DurableObjectStorage } from 'pipeline-checkpoint/cloudflare';

import suspensionModule from './suspension.wasm';
import { BATCH, floorSeries, managerSeries, memorySeries, record } from './series.mjs';
import { suspensionSeries } from './suspension.mjs';

/** The ack: the batch handed to the upstream's client, here kept in memory. */
const acks = () => ({ last: null, ack(ids) { this.last = ids; } });

export class Bench extends DurableObject {
  #series = null;

  series() {
    if (this.#series !== null) return this.#series;
    const { storage } = this.ctx;
    const syncAck = acks();
    const asyncAck = acks();
    let syncVersion = null;
    let asyncVersion = null;
    this.#series = {
      'do/sync': managerSeries(new CheckpointManager(new DurableObjectStorage(storage, { prefix: 'package-sync/' }), acks())),
      // DurableObjectStorage.putVersioned's steps: read, compare, write, in one transaction.
      'do/floor-sync': floorSeries((offset) => {
        syncVersion = storage.transactionSync(() => {
          const have = storage.kv.get('floor-sync')?.version ?? null;
          if (have !== syncVersion) throw new Error('the record changed under the floor');
          const version = (have ?? 0n) + 1n;
          storage.kv.put('floor-sync', { value: record(offset), version });
          return version;
        });
        syncAck.ack(BATCH);
      }),
      'do/jspi': managerSeries(new AsyncCheckpointManager(new AsyncDurableObjectStorage(storage, { prefix: 'package-async/' }), acks())),
      // AsyncDurableObjectStorage.putVersioned's steps, awaited the same way.
      'do/floor-async': floorSeries(async (offset) => {
        asyncVersion = await storage.transaction(async (txn) => {
          const have = (await txn.get('floor-async'))?.version ?? null;
          if (have !== asyncVersion) throw new Error('the record changed under the floor');
          const version = (have ?? 0n) + 1n;
          await txn.put('floor-async', { value: record(offset), version });
          return version;
        });
        await storage.sync();
        asyncAck.ack(BATCH);
      }),
    };
    return this.#series;
  }

  async run(name, writes) {
    await this.series()[name].run(writes);
  }
}

let inWorker = null;

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const name = url.searchParams.get('series');
    const writes = Number(url.searchParams.get('writes'));
    if (name.startsWith('do/')) {
      await env.BENCH.get(env.BENCH.idFromName('bench')).run(name, writes);
    } else {
      inWorker ??= { ...memorySeries(), ...suspensionSeries(suspensionModule) };
      await inWorker[name].run(writes);
    }
    return new Response('done');
  },
};
