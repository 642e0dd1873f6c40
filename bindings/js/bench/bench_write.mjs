// Per-write cost of the JS package: in memory, and durable on disk (FileStorage, whose
// put fsyncs the file and its directory). Prints one JSON line per series,
// {"series", "ns_per_write", "writes"}, as bindings/python/bench/bench_write.py does.
//
//   node bench/bench_write.mjs --dir DIR --writes N

import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { CheckpointManager, MemoryConsumer, MemoryStorage } from '../src/index.js';
import { FileStorage } from '../src/node/index.js';

const { values } = parseArgs({ options: { dir: { type: 'string', default: '.' }, writes: { type: 'string', default: '2000' } } });
const writes = Number(values.writes);

function measure(series, storage, count) {
  const manager = new CheckpointManager(storage, new MemoryConsumer());
  manager.writeCheckpoint(['warm'], 0);
  const start = process.hrtime.bigint();
  for (let i = 1; i <= count; i += 1) manager.writeCheckpoint([`m${i}`], i);
  const ns = Number(process.hrtime.bigint() - start) / count;
  console.log(JSON.stringify({ series, ns_per_write: Math.round(ns), writes: count }));
}

measure('js/memory', new MemoryStorage(), writes * 10);
const root = mkdtempSync(join(values.dir, 'bench-js-'));
try {
  measure('js/durable', new FileStorage(root), writes);
} finally {
  rmSync(root, { recursive: true, force: true });
}
