// The test Worker: each route runs one scenario inside workerd, with the package
// imported as a Worker imports it (bundled with the `workerd` condition), and answers
// with what it saw as JSON. workerd.test.js asserts on it.

import { DurableObject } from 'cloudflare:workers';
import {
  AsyncCheckpointManager, CheckpointManager, Fenced, InvalidArgument, MemoryConsumer, MemoryStorage,
} from 'pipeline-checkpoint';
import {
  AsyncDurableObjectStorage, DurableObjectStorage, R2Storage, UnversionedWorkersKvStorage,
} from 'pipeline-checkpoint/cloudflare';

/** Records the order of the store's and the consumer's calls: `put-done` before `ack`. */
function journaled(storage, journal) {
  return {
    getVersioned: (key) => storage.getVersioned(key),
    putVersioned(key, value, expected) {
      const result = storage.putVersioned(key, value, expected);
      if (result instanceof Promise) return result.then((v) => { journal.push('put-done'); return v; });
      journal.push('put-done');
      return result;
    },
  };
}

function consumer(journal, acked) {
  return { ack(ids) { journal.push('ack'); acked.push(ids); } };
}

/** What each manager of a takeover saw: the successor wrote, the old writer was fenced. */
async function takeover(makeStorage, Manager) {
  const journal = [];
  const oldAcks = [];
  const old = new Manager(journaled(makeStorage(), journal), consumer(journal, oldAcks));
  await old.writeCheckpoint(['a'], 1);
  const successor = new Manager(makeStorage(), new MemoryConsumer());
  await successor.writeCheckpoint(['b'], 2);
  let fenced = null;
  try {
    await old.writeCheckpoint(['c'], 3);
  } catch (e) {
    fenced = e instanceof Fenced ? 'Fenced' : `${e.name}: ${e.message}`;
  }
  return { journal, oldAcks, fenced, durable: String(await successor.getCheckpoint()) };
}

export class Checkpoints extends DurableObject {
  async sync() {
    return takeover(() => new DurableObjectStorage(this.ctx.storage, { prefix: 'sync/' }), CheckpointManager);
  }

  async async() {
    return takeover(() => new AsyncDurableObjectStorage(this.ctx.storage, { prefix: 'async/' }), AsyncCheckpointManager);
  }
}

const scenarios = {
  async memory() {
    const acks = new MemoryConsumer();
    const manager = new CheckpointManager(new MemoryStorage(), acks);
    manager.writeCheckpoint(['a'], 2n ** 60n);
    return { offset: String(manager.getCheckpoint()), acked: acks.acked };
  },
  async 'durable-object-sync'(env) {
    return env.CHECKPOINTS.get(env.CHECKPOINTS.idFromName('sync')).sync();
  },
  async 'durable-object-async'(env) {
    return env.CHECKPOINTS.get(env.CHECKPOINTS.idFromName('async')).async();
  },
  async r2(env) {
    const result = await takeover(() => new R2Storage(env.BUCKET, { prefix: 'takeover/' }), AsyncCheckpointManager);
    // Two writers that both find nothing stored: R2 creates the object for one only.
    const first = new AsyncCheckpointManager(new R2Storage(env.BUCKET, { prefix: 'create/' }), new MemoryConsumer());
    const second = new AsyncCheckpointManager(new R2Storage(env.BUCKET, { prefix: 'create/' }), new MemoryConsumer());
    await first.getCheckpoint();
    await second.getCheckpoint();
    await first.writeCheckpoint([], 5);
    result.secondCreate = await second.writeCheckpoint([], 6).then(() => 'written', (e) => e.name);
    return result;
  },
  async 'workers-kv'(env) {
    const storage = new UnversionedWorkersKvStorage(env.KV);
    const manager = new AsyncCheckpointManager(storage, new MemoryConsumer());
    await manager.writeCheckpoint(['a'], 9);
    let syncRefusal = null;
    try {
      new CheckpointManager(storage, new MemoryConsumer());
    } catch (e) {
      syncRefusal = e instanceof InvalidArgument ? e.message : `${e.name}: ${e.message}`;
    }
    return { offset: String(await new AsyncCheckpointManager(storage, new MemoryConsumer()).getCheckpoint()), syncRefusal };
  },
};

export default {
  async fetch(request, env) {
    const name = new URL(request.url).pathname.slice(1);
    const scenario = scenarios[name];
    if (scenario === undefined) return new Response(`no scenario ${name}`, { status: 404 });
    try {
      return Response.json(await scenario(env));
    } catch (e) {
      return Response.json({ error: `${e.name}: ${e.message}` }, { status: 500 });
    }
  },
};
