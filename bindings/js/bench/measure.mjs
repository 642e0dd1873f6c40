// Interleaved rounds of every series, timed by the runtime's own clock: each round runs
// each series in turn, forwards in even rounds and backwards in odd ones, so that a
// machine whose speed drifts (a disk busy with other work) drifts under all of them
// alike. Per round and series, the ns per write; a series' figure is the median.

export async function measure(series, { writes, rounds, warmup = writes }) {
  const names = Object.keys(series);
  const perRound = Object.fromEntries(names.map((name) => [name, []]));
  // Warm-up: the first read, and V8 compiling jco's glue, which it does only after some
  // hundreds of calls (before that a durable write costs ~0.3 ms more CPU).
  for (const name of names) await series[name].run(warmup(name));
  for (let round = 0; round < rounds; round += 1) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) {
      const n = writes(name);
      const start = performance.now();
      await series[name].run(n);
      perRound[name].push(((performance.now() - start) * 1e6) / n);
    }
  }
  return Object.entries(perRound).map(([name, values]) => ({ series: name, ns_per_write: median(values), rounds: values }));
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
