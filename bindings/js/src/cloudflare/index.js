// pipeline-checkpoint/cloudflare: storages over Cloudflare's stores. They use no API of
// the package's core, so a Worker imports them beside `pipeline-checkpoint`.

export { AsyncDurableObjectStorage, DurableObjectStorage } from './durable-object.js';
export { R2Storage } from './r2.js';
export { UnversionedWorkersKvStorage } from './workers-kv.js';
