// Per-write cost of the JS package, with the inputs and steps of
// bindings/python/bench/bench_write.py, so that the two print comparable figures:
// batches of 100 UUID-shaped ids (the Rust pipeline's generated(i).id), offsets that
// strictly increase, interleaved rounds, medians. Series:
//
//   js/memory    MemoryStorage, a consumer that acks nothing (only the manager is timed)
//   js/durable   FileStorage (temporary file, fsync, rename, fsync of the directory) and
//                an ack log appended and fdatasynced per batch, as seed_bench.FileConsumer
//   js/floor     the same durable steps written out in JS, without the manager: what
//                this process pays for the disk alone, interleaved with js/durable
//
// Prints one JSON line per series, {"series", "ns_per_write", "writes"}, and a table on
// stderr. Usage: node bench/bench_write.mjs --dir DIR [--writes N] [--memory-writes N]
//                [--rounds N] [--batch N]

import { closeSync, constants, fdatasyncSync, fsyncSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { CheckpointManager, MemoryStorage } from 'pipeline-checkpoint';
import { FileStorage } from 'pipeline-checkpoint/node';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: '.' },
    writes: { type: 'string', default: '10' },
    'memory-writes': { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '35' },
    batch: { type: 'string', default: '100' },
  },
});

const MASK = (1n << 64n) - 1n;

/** seed_bench.generated_id: a splitmix64 UUID-shaped id. */
function generatedId(index) {
  let z = (BigInt(index) + 0x9E3779B97F4A7C15n) & MASK;
  z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & MASK;
  z ^= z >> 31n;
  const hex = (value, width) => value.toString(16).padStart(width, '0');
  const i = BigInt(index);
  return `${hex(z >> 32n, 8)}-${hex((z >> 16n) & 0xFFFFn, 4)}-4${hex(z & 0xFFFn, 3)}-8${hex((i >> 48n) & 0xFFFn, 3)}-${hex(i & 0xFFFFFFFFFFFFn, 12)}`;
}

/** seed_bench.FileConsumer: one JSON line per ack, appended and fdatasynced. */
class AckLog {
  constructor(path) {
    this.fd = openSync(path, 'a');
  }

  ack(messageIds) {
    const line = Buffer.from(`${JSON.stringify({ ids: messageIds })}\n`);
    for (let done = 0; done < line.length;) done += writeSync(this.fd, line, done);
    fdatasyncSync(this.fd);
  }

  close() {
    closeSync(this.fd);
  }
}

/** The durable steps alone, with the manager's call signature, so that Series times it
 * the same way: the record's file replaced durably, then the batch appended to the log. */
class Floor {
  constructor(directory, ackLog) {
    this.directory = directory;
    this.ackLog = ackLog;
  }

  writeCheckpoint(ids, offset) {
    const target = join(this.directory, 'checkpoint.json');
    const temp = join(this.directory, '.checkpoint.json.tmp');
    const data = Buffer.from(JSON.stringify({ offset, written_at: Date.now() / 1000 }));
    const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o666);
    for (let done = 0; done < data.length;) done += writeSync(fd, data, done);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, target);
    const dir = openSync(this.directory, constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(dir);
    closeSync(dir);
    this.ackLog.ack(ids);
    return true;
  }
}

class Series {
  constructor(name, manager, writes) {
    this.name = name;
    this.manager = manager;
    this.writes = writes;
    this.offset = 0;
    this.perWrite = [];
  }

  run(ids, timed = true) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < this.writes; i += 1) {
      this.offset += 1;
      if (!this.manager.writeCheckpoint(ids, this.offset)) throw new Error(`${this.name}: a write failed`);
    }
    if (timed) this.perWrite.push(Number(process.hrtime.bigint() - start) / this.writes);
  }

  median() {
    const sorted = [...this.perWrite].sort((a, b) => a - b);
    const middle = sorted.length >> 1;
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  }
}

const rounds = Number(values.rounds);
const ids = Array.from({ length: Number(values.batch) }, (_, i) => generatedId(i));
const scratch = mkdtempSync(join(values.dir, 'bench-js-'));
try {
  const state = join(scratch, 'durable');
  mkdirSync(state);
  const ackLog = new AckLog(join(state, 'acks.log'));
  const floorState = join(scratch, 'floor');
  mkdirSync(floorState);
  const floorLog = new AckLog(join(floorState, 'acks.log'));
  const series = [
    new Series('js/memory', new CheckpointManager(new MemoryStorage(), { ack() {} }), Number(values['memory-writes'])),
    new Series('js/durable', new CheckpointManager(new FileStorage(state), ackLog), Number(values.writes)),
    new Series('js/floor', new Floor(floorState, floorLog), Number(values.writes)),
  ];
  for (const s of series) s.run(ids, false); // warm-up: the first write reads, the JIT settles
  for (let round = 0; round < rounds; round += 1) for (const s of series) s.run(ids);
  ackLog.close();
  floorLog.close();
  for (const s of series) {
    console.log(JSON.stringify({ series: s.name, ns_per_write: s.median(), writes: s.writes * rounds }));
    console.error(`${s.name.padEnd(30)} ${(s.median() / 1000).toFixed(1).padStart(12)} us/write`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
