// The Deno series of the edge benchmark (run by edge.mjs): in memory, one JSPI
// suspension, and Deno KV: the package's DenoKvStorage through the JSPI build beside
// the same KV operations written out (an atomic check of the last versionstamp and set,
// then the ack, itself a KV write).
//
// Usage: deno run --unstable-kv --allow-read=DIR --allow-write=DIR bench/deno.mjs memory|durable DIR [ROUNDS]
// (each group in a process of its own, as node.mjs runs them)

import { AsyncCheckpointManager } from 'pipeline-checkpoint';
import { DenoKvStorage } from 'pipeline-checkpoint/deno-kv';

import { measure } from './measure.mjs';
import { BATCH, floorSeries, managerSeries, memorySeries, openSeries, record } from './series.mjs';
import { SUSPENSION_WASM, suspensionSeries } from './suspension.mjs';

const [group, dir, rounds = '15'] = Deno.args;
const kv = await Deno.openKv(`${dir}/bench.sqlite`);
const ackTo = (name) => ({ async ack(ids) { await kv.set(['acks', name], ids); } });

function kvFloor() {
  const key = ['floor', 'pipeline/checkpoint.json'];
  const consumer = ackTo('floor');
  let versionstamp = null;
  return floorSeries(async (offset) => {
    const result = await kv.atomic().check({ key, versionstamp }).set(key, record(offset)).commit();
    if (!result.ok) throw new Error('the record changed under the floor');
    versionstamp = result.versionstamp;
    await consumer.ack(BATCH);
  });
}

const series = group === 'memory' ? {
  ...memorySeries(),
  ...openSeries(),
  ...suspensionSeries(new WebAssembly.Module(SUSPENSION_WASM)),
} : {
  'kv/jspi': managerSeries(new AsyncCheckpointManager(new DenoKvStorage(kv, { prefix: ['package'] }), ackTo('package'))),
  'kv/floor': kvFloor(),
};
const writes = (name) => (name.startsWith('kv/') ? 50 : name.startsWith('call/') ? 20000 : name.startsWith('open/') ? 200 : 2000);
for (const line of await measure(series, { writes, warmup: (name) => (name.startsWith('kv/') ? 1000 : writes(name)), rounds: Number(rounds) })) console.log(JSON.stringify(line));
kv.close();
