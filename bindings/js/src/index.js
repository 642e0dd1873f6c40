// Durable stream-pipeline checkpoints: the pipeline-checkpoint WebAssembly component,
// hosted from JavaScript.
//
// `new CheckpointManager(storage, consumer, {key})` keeps the original pipelines'
// protocols and methods, with the offset made durable before any message is
// acknowledged, a read that never writes, and typed errors (under CheckpointError) for
// what a boolean cannot say. `AsyncCheckpointManager` is the same for a storage and a
// consumer that return promises (through JSPI). This module uses no runtime's own API;
// the entry points in ./entry/ name how each runtime loads the core modules.

export { AsyncCheckpointManager } from './async-manager.js';
export { CHECKPOINT_KEY } from './calls.js';
export { CheckpointManager } from './manager.js';
export { contentVersion } from './content-version.js';
export { MemoryConsumer, MemoryStorage } from './memory.js';
export { hasJspi } from './runtime.js';
export {
  ACK_ERROR_KINDS, AckFailed, AckFailure, CheckpointError, ComponentTrapped, CorruptRecord, Fenced, InvalidArgument,
  OffsetRegression, ReadFailed, STORAGE_ERROR_KINDS, StorageFailure, UnsupportedRuntime, VersionConflict, WriteFailed,
} from './errors.js';
