// pipeline-checkpoint/deno-kv: Deno KV as a storage that fences across processes.

export { DenoKvStorage } from './kv.js';
