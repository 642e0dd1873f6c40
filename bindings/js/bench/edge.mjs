// The edge benchmark: per write, the sync and JSPI builds side by side on Node 26, Deno
// and workerd (miniflare), in memory and on each runtime's durable store beside the
// same store operations written out without the package (the floor), plus what one
// JSPI suspension costs in each runtime. Every runtime runs PASSES times, alternately,
// so that load on the machine falls on all of them; a figure is the median of its
// passes, each pass's the median of its interleaved rounds.
//
// Usage (Node 24.22 or later, the package built):
//   PIPELINE_CHECKPOINT_JS_TOOLS=PREFIX node bench/edge.mjs --deno DENO [--passes 3] [--rounds 15] [--dir DIR] [--json FILE]
//     [--runtimes node,deno,workerd]
// where PREFIX holds miniflare and esbuild (npm install --prefix PREFIX miniflare esbuild).

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { bundleWorker, moduleOptions, workersTools } from '../test/workerd/tools.js';
import { median } from './measure.mjs';
import { SUSPENSION_WASM } from './suspension.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    deno: { type: 'string' },
    passes: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '15' },
    dir: { type: 'string', default: resolve(HERE, '..', '..', '..', 'target', 'tmp') },
    json: { type: 'string' },
    runtimes: { type: 'string', default: 'node,deno,workerd' },
  },
});
if (!values.deno) throw new Error('--deno PATH is required');
const rounds = Number(values.rounds);
const runtimes = values.runtimes.split(',');
mkdirSync(values.dir, { recursive: true });

const lines = (text) => text.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));

const GROUPS = ['memory', 'durable'];

function runNode() {
  return GROUPS.flatMap((group) => lines(execFileSync(process.execPath,
    [join(HERE, 'node.mjs'), '--group', group, '--dir', values.dir, '--rounds', String(rounds)], { encoding: 'utf8' })));
}

function runDeno() {
  const dir = mkdtempSync(join(values.dir, 'bench-edge-deno-'));
  try {
    return GROUPS.flatMap((group) => lines(execFileSync(values.deno, ['run', '--no-check', '--no-prompt', '--unstable-kv',
      `--allow-read=${dir}`, `--allow-write=${dir}`, join(HERE, 'deno.mjs'), group, dir, String(rounds)], { encoding: 'utf8' })));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const WORKERD_WRITES = { 'do/': 100, 'call/': 20000, 'memory/': 2000, 'open/': 200 };
const workerdWrites = (name) => Object.entries(WORKERD_WRITES).find(([prefix]) => name.startsWith(prefix))[1];
const WORKERD_GROUPS = [
  ['memory/sync', 'memory/jspi', 'memory/jspi-promises', 'open/new-instance', 'open/pooled', 'call/plain', 'call/suspending'],
  ['do/sync', 'do/floor-sync', 'do/jspi-sync-api', 'do/jspi', 'do/floor-async', 'do/floor-async-suspended'],
];

/** Times one request from outside workerd, in ns. */
async function timed(worker, name, writes) {
  const start = process.hrtime.bigint();
  const response = await worker.dispatchFetch(`http://bench/run?series=${encodeURIComponent(name)}&writes=${writes}`);
  const text = await response.text();
  if (!response.ok) throw new Error(`workerd ${name}: ${response.status} ${text}`);
  return Number(process.hrtime.bigint() - start);
}

/** Per write: a request's time less that of the same request with no write; rounds
 * forwards and backwards in turn, as measure.mjs runs them, one group after the other. */
async function runWorkerd(worker) {
  const results = [];
  for (const group of WORKERD_GROUPS) results.push(...await runWorkerdGroup(worker, group));
  return results;
}

async function runWorkerdGroup(worker, names) {
  // Warm-up, as measure.mjs: the Durable Object series with 1,000 writes each.
  for (const name of names) await timed(worker, name, name.startsWith('do/') ? 1000 : workerdWrites(name));
  const perWrite = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < rounds; round += 1) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) {
      const n = workerdWrites(name);
      const empty = median([await timed(worker, name, 0), await timed(worker, name, 0), await timed(worker, name, 0)]);
      perWrite[name].push((await timed(worker, name, n) - empty) / n);
    }
  }
  return names.map((name) => ({ series: name, ns_per_write: median(perWrite[name]), rounds: perWrite[name] }));
}

async function startWorkerd() {
  const tools = await workersTools();
  if (tools.skip) throw new Error(tools.skip);
  writeFileSync(join(HERE, 'suspension.wasm'), SUSPENSION_WASM);
  return new tools.Miniflare({
    ...moduleOptions(await bundleWorker(tools.esbuild, join(HERE, 'worker.js'))),
    durableObjects: { BENCH: { className: 'Bench', useSQLite: true } },
  });
}

const denoVersion = execFileSync(values.deno, ['--version'], { encoding: 'utf8' }).split('\n')[0];
const load = [loadavg()[0].toFixed(2)];
const worker = await startWorkerd();
const passes = {};
const roundsOf = {};
const record = (runtime, results) => {
  for (const { series, ns_per_write: ns, rounds: values } of results) {
    (passes[`${runtime}/${series}`] ??= []).push(ns);
    (roundsOf[`${runtime}/${series}`] ??= []).push(values);
  }
};
/** The ratio of two series measured side by side: per pass, the median of the ratios
 * of their figures in the same round; then the median over the passes. */
const pairedRatio = (name, base) => median(roundsOf[name].map((values, pass) => median(values.map((v, r) => v / roundsOf[base][pass][r]))));
try {
  for (let pass = 0; pass < Number(values.passes); pass += 1) {
    if (runtimes.includes('node')) record('node', runNode());
    if (runtimes.includes('deno')) record('deno', runDeno());
    if (runtimes.includes('workerd')) record('workerd', await runWorkerd(worker));
  }
} finally {
  await worker.dispose();
}
load.push(loadavg()[0].toFixed(2));
const figure = Object.fromEntries(Object.entries(passes).map(([name, ns]) => [name, median(ns)]));
const us = (ns) => (ns / 1000).toFixed(ns < 10_000 ? 2 : 1);

const workerdVersion = JSON.parse(readFileSync(createRequire(join(process.env.PIPELINE_CHECKPOINT_JS_TOOLS, 'package.json'))
  .resolve('workerd/package.json'), 'utf8')).version;
console.log(`Node ${process.versions.node}, ${denoVersion}, workerd ${workerdVersion} (miniflare); `
  + `${values.passes} passes of ${rounds} rounds; load average ${load[0]} before, ${load[1]} after`);
console.log('\n| runtime | series | µs per write | ratio | the passes (µs) |\n|---|---|---:|---|---|');
const RATIOS = {
  'memory/jspi': ['memory/sync', '× sync'],
  'memory/jspi-promises': ['memory/sync', '× sync'],
  'open/pooled': ['open/new-instance', '× new instance'],
  'files/sync': ['files/floor', '× floor'],
  'files/jspi': ['files/floor', '× floor'],
  'kv/jspi': ['kv/floor', '× floor'],
  'do/sync': ['do/floor-sync', '× floor'],
  'do/jspi': ['do/floor-async', '× floor'],
  'do/jspi-sync-api': ['do/floor-sync', '× floor'],
  'do/floor-async-suspended': ['do/floor-async', '× floor'],
};
for (const [name, ns] of Object.entries(figure)) {
  const [runtime, ...rest] = name.split('/');
  const series = rest.join('/');
  const base = RATIOS[series] && `${runtime}/${RATIOS[series][0]}`;
  const ratio = base && figure[base] ? `**${pairedRatio(name, base).toFixed(2)}** ${RATIOS[series][1]}` : '';
  console.log(`| ${runtime} | \`${series}\` | ${us(ns)} | ${ratio} | ${passes[name].map(us).join(', ')} |`);
}
console.log('\nOne suspension (call/suspending − call/plain), and the JSPI build\'s extra cost per write in memory'
  + ' (memory/jspi − memory/sync) over its two suspensions (put, ack):');
for (const runtime of runtimes) {
  const suspension = figure[`${runtime}/call/suspending`] - figure[`${runtime}/call/plain`];
  const extra = figure[`${runtime}/memory/jspi`] - figure[`${runtime}/memory/sync`];
  console.log(`- ${runtime}: one suspension ${us(suspension)} µs; JSPI build +${us(extra)} µs per write, ${us(extra / 2)} µs per suspension`);
}
if (values.json) writeFileSync(values.json, JSON.stringify({ load, passes, figure, rounds: roundsOf }, null, 1));
