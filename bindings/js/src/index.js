// Durable stream-pipeline checkpoints: the pipeline-checkpoint WebAssembly component,
// hosted from JavaScript.
//
// `new CheckpointManager(storage, consumer, {key})` keeps the original pipelines'
// protocols and methods, with the offset made durable before any message is
// acknowledged, a read that never writes, and typed errors (under CheckpointError) for
// what a boolean cannot say. This entry point uses no Node API; `pipeline-checkpoint/node`
// adds a file storage.

export { CHECKPOINT_KEY, CheckpointManager } from './manager.js';
export { contentVersion } from './content-version.js';
export { MemoryConsumer, MemoryStorage } from './memory.js';
export {
  ACK_ERROR_KINDS, AckFailed, AckFailure, CheckpointError, ComponentTrapped, CorruptRecord, Fenced, InvalidArgument,
  OffsetRegression, ReadFailed, STORAGE_ERROR_KINDS, StorageFailure, VersionConflict, WriteFailed,
} from './errors.js';
