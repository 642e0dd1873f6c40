// The Node series of the edge benchmark (run by edge.mjs under Node 26): in memory,
// one JSPI suspension, and files: the package's FileStorage and an ack log through the
// sync and the JSPI builds, beside the same file operations written out (read the
// record, compare, replace it durably, append the ack and sync it).
//
// Usage: node bench/node.mjs --group memory|durable --dir DIR [--rounds N]; prints
// {"series", "ns_per_write", "rounds"} lines. Each group runs in a process of its own,
// so that the memory series' garbage is not collected during a durable one.

import { closeSync, constants, fdatasyncSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { AsyncCheckpointManager, CheckpointManager } from 'pipeline-checkpoint';
import { FileStorage } from 'pipeline-checkpoint/node';

import { measure } from './measure.mjs';
import { BATCH, floorSeries, managerSeries, memorySeries, openSeries, record } from './series.mjs';
import { SUSPENSION_WASM, suspensionSeries } from './suspension.mjs';

const { values } = parseArgs({
  options: { dir: { type: 'string', default: '.' }, rounds: { type: 'string', default: '15' }, group: { type: 'string', default: 'memory' } },
});

/** An ack log: one JSON line per batch, appended and fdatasynced. */
class AckLog {
  constructor(path) {
    this.fd = openSync(path, 'a');
  }

  ack(ids) {
    const line = Buffer.from(`${JSON.stringify(ids)}\n`);
    for (let done = 0; done < line.length;) done += writeSync(this.fd, line, done);
    fdatasyncSync(this.fd);
  }
}

/** The package's file steps written out: read the record and compare it with the one
 * last written (FileStorage's versions are its content), replace it durably, ack. */
function fileFloor(directory) {
  const target = join(directory, 'checkpoint.json');
  const temp = join(directory, '.checkpoint.json.tmp');
  const log = new AckLog(join(directory, 'acks.log'));
  let last = null;
  return floorSeries((offset) => {
    let current = null;
    try { current = readFileSync(target, 'utf8'); } catch (e) { if (e.code !== 'ENOENT') throw e; }
    if (current !== last) throw new Error('the record changed under the floor');
    const value = record(offset);
    const data = Buffer.from(value);
    const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o666);
    for (let done = 0; done < data.length;) done += writeSync(fd, data, done);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, target);
    const dir = openSync(directory, constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(dir);
    closeSync(dir);
    last = value;
    log.ack(BATCH);
  });
}

const scratch = mkdtempSync(join(values.dir, 'bench-edge-node-'));
try {
  const dir = (name) => { const path = join(scratch, name); mkdirSync(path); return path; };
  const syncDir = dir('sync');
  const jspiDir = dir('jspi');
  const series = values.group === 'memory' ? {
    ...memorySeries(),
    ...openSeries(),
    ...suspensionSeries(new WebAssembly.Module(SUSPENSION_WASM)),
  } : {
    'files/sync': managerSeries(new CheckpointManager(new FileStorage(syncDir), new AckLog(join(syncDir, 'acks.log')))),
    'files/jspi': managerSeries(new AsyncCheckpointManager(new FileStorage(jspiDir), new AckLog(join(jspiDir, 'acks.log')))),
    'files/floor': fileFloor(dir('floor')),
  };
  const writes = (name) => (name.startsWith('files/') ? 5 : name.startsWith('call/') ? 20000 : name.startsWith('open/') ? 200 : 2000);
  for (const line of await measure(series, { writes, warmup: (name) => (name.startsWith('files/') ? 1000 : writes(name)), rounds: Number(values.rounds) })) console.log(JSON.stringify(line));
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
