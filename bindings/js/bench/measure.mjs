// Interleaved rounds of every series, timed by the runtime's own clock: each round runs
// each series in turn, so that a machine whose speed drifts drifts under all of them;
// the figure of a series is its median over the rounds, in ns per write.

export async function measure(series, { writes, rounds }) {
  const names = Object.keys(series);
  const perWrite = Object.fromEntries(names.map((name) => [name, []]));
  for (const name of names) await series[name].run(writes(name)); // warm-up: first reads, JIT
  for (let round = 0; round < rounds; round += 1) {
    for (const name of names) {
      const n = writes(name);
      const start = performance.now();
      await series[name].run(n);
      perWrite[name].push(((performance.now() - start) * 1e6) / n);
    }
  }
  return Object.fromEntries(names.map((name) => [name, median(perWrite[name])]));
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
