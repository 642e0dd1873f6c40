// Runs the example Worker in miniflare as `wrangler dev` would, with its state
// persisted under the directory given as the first argument, and prints
// `ready <url>` once it serves. A test kills this process (and workerd with it) and
// starts it again on the same directory.
//
// Usage: node test/serve.mjs PERSIST_DIR (with PIPELINE_CHECKPOINT_JS_TOOLS set)

import { fileURLToPath } from 'node:url';

import { bundleWorker, moduleOptions, workersTools } from '../../../test/workerd/tools.js';

const persist = process.argv[2];
const tools = await workersTools();
if (tools.skip) throw new Error(tools.skip);
const worker = new tools.Miniflare({
  ...moduleOptions(await bundleWorker(tools.esbuild, fileURLToPath(new URL('../src/worker.js', import.meta.url)))),
  host: '127.0.0.1',
  port: 0,
  // The bindings of wrangler.toml.
  queueProducers: { ORDERS: { queueName: 'orders' } },
  queueConsumers: { orders: { maxBatchSize: 10, maxBatchTimeout: 0.05, maxRetries: 100 } },
  durableObjects: { PIPELINE: { className: 'PipelineState', useSQLite: true } },
  durableObjectsPersist: persist,
});
console.log(`ready ${await worker.ready}`);
