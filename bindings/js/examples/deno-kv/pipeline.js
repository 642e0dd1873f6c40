// A resumable stream pipeline in Deno, its state in Deno KV: it processes numbered
// orders in batches, appends each batch's results to the output, commits the batch's
// last offset (an atomic check-and-set, which fences any other process writing the same
// pipeline), and only then acks the batch. Kill it anywhere and run it again: it resumes
// after the committed offset, repeating at most the batch in flight.
//
//   deno run --unstable-kv --allow-read=DB --allow-write=DB pipeline.js DB [ORDERS] [BATCH]
//   deno run --unstable-kv --allow-read=DB --allow-write=DB pipeline.js DB --report
//
// The package needs no permission; Deno.openKv needs --unstable-kv, and a database file
// the right to read and write it.

import { AsyncCheckpointManager } from 'pipeline-checkpoint';
import { DenoKvStorage } from 'pipeline-checkpoint/deno-kv';

const [path, orders = '1000', batchSize = '10'] = Deno.args;
const kv = await Deno.openKv(path);

/** The upstream's acknowledgement, stood in for by a record per acked order. */
const consumer = {
  async ack(ids) {
    const op = kv.atomic();
    for (const id of ids) op.set(['acked', id], true);
    await op.commit();
  },
};

async function run(total, size) {
  const manager = new AsyncCheckpointManager(new DenoKvStorage(kv), consumer);
  let offset = await manager.getCheckpoint();
  console.log(`resuming after ${offset}`);
  while (offset < total) {
    const last = offset + BigInt(Math.min(size, Number(total - offset)));
    const ids = [];
    const results = kv.atomic();
    for (let n = offset + 1n; n <= last; n += 1n) {
      ids.push(`order-${n}`);
      // Appended, never overwritten: a repeated order shows as a second entry.
      results.set(['output', n, crypto.randomUUID()], `order ${n}: sku-${n % 17n}`);
    }
    await results.commit();
    if (!(await manager.writeCheckpoint(ids, last))) {
      console.error(`checkpoint ${last} not stored (${manager.lastWriteError.message}); retrying the batch`);
      continue;
    }
    offset = last;
    console.log(`checkpoint ${offset}`);
  }
  manager.close();
}

/** The committed offset, and how often each order reached the output. */
async function report() {
  const manager = new AsyncCheckpointManager(new DenoKvStorage(kv), { ack() {} });
  const counts = {};
  for await (const entry of kv.list({ prefix: ['output'] })) {
    const n = String(entry.key[1]);
    counts[n] = (counts[n] ?? 0) + 1;
  }
  let acked = 0;
  for await (const _ of kv.list({ prefix: ['acked'] })) acked += 1;
  console.log(JSON.stringify({ checkpoint: String(await manager.getCheckpoint()), counts, acked }));
  manager.close();
}

if (orders === '--report') await report();
else await run(BigInt(orders), Number(batchSize));
kv.close();
