// pipeline-checkpoint/node: the core package plus storage and a consumer on Node's file
// system.

export * from '../entry/node.js';
export { FileConsumer } from './consumer.js';
export { DEFAULT_MAX_VALUE_BYTES, FileStorage, MAX_KEY_BYTES, validateKey } from './file-storage.js';
