// Types of `pipeline-checkpoint`: the checkpoint component hosted from JavaScript.

/** The original pipelines' storage: `put` returns true once durable, false if it failed. */
export interface SeedStorage {
  put(key: string, value: string): boolean;
  get(key: string): string | null | undefined;
}

/** A storage with a real compare-and-swap: `putVersioned` stores only if the key still
 * holds version `expected` (null: holds nothing), atomically, and returns the new
 * version; otherwise it writes nothing and throws VersionConflict. */
export interface VersionedStorage {
  getVersioned(key: string): [value: string, version: bigint] | null | undefined;
  putVersioned(key: string, value: string, expected: bigint | null): bigint;
}

export type Storage = SeedStorage | VersionedStorage;

export interface Consumer {
  ack(messageIds: string[]): void;
}

/** A storage for AsyncCheckpointManager: each call returns a value or a promise of one. */
export type AsyncStorage = {
  put(key: string, value: string): boolean | Promise<boolean>;
  get(key: string): string | null | undefined | Promise<string | null | undefined>;
} | {
  getVersioned(key: string): [string, bigint] | null | undefined | Promise<[string, bigint] | null | undefined>;
  putVersioned(key: string, value: string, expected: bigint | null): bigint | Promise<bigint>;
};

export interface AsyncConsumer {
  ack(messageIds: string[]): void | Promise<void>;
}

export const CHECKPOINT_KEY: 'pipeline/checkpoint.json';

export class CheckpointManager {
  constructor(storage: Storage, consumer: Consumer, options?: { key?: string | null });
  readonly key: string;
  /** Why the last writeCheckpoint returned false; null after one that succeeded. */
  lastWriteError: WriteFailed | null;
  /** True once the offset is durable and the batch acked; false if the storage write
   * failed (nothing acked). Offsets: a bigint, or a Number that is a safe integer. */
  writeCheckpoint(batchIds: string[], newOffset: bigint | number): boolean;
  /** The durable offset, 0n when no record exists. Never writes. */
  getCheckpoint(): bigint;
  /** Gives the component instance to the next manager created; later calls throw. */
  close(): void;
  [Symbol.dispose](): void;
}

/** The same contract for a storage and a consumer that return promises, through the
 * JSPI build: put has resolved before ack is called, and each method settles only once
 * the ack has. Throws UnsupportedRuntime where JSPI is missing. */
export class AsyncCheckpointManager {
  constructor(storage: AsyncStorage, consumer: AsyncConsumer, options?: { key?: string | null });
  readonly key: string;
  lastWriteError: WriteFailed | null;
  writeCheckpoint(batchIds: string[], newOffset: bigint | number): Promise<boolean>;
  getCheckpoint(): Promise<bigint>;
  /** Gives the component instance to the next manager created; refused while a call runs. */
  close(): void;
  [Symbol.dispose](): void;
}

/** Whether this runtime has WebAssembly JSPI, which AsyncCheckpointManager needs. */
export function hasJspi(): boolean;

export function contentVersion(value: string): bigint;

export class MemoryStorage implements VersionedStorage {
  getVersioned(key: string): [string, bigint] | null;
  putVersioned(key: string, value: string, expected: bigint | null): bigint;
  value(key: string): string | null;
}

export class MemoryConsumer implements Consumer {
  acked: string[][];
  ack(messageIds: string[]): void;
}

export type StorageErrorKind = 'invalid-key' | 'no-space' | 'access-denied' | 'invalid-data' | 'unavailable' | 'io' | 'conflict';
export type AckErrorKind = 'rejected' | 'unavailable' | 'invalid-batch';
export const STORAGE_ERROR_KINDS: readonly StorageErrorKind[];
export const ACK_ERROR_KINDS: readonly AckErrorKind[];

export class CheckpointError extends Error {}
export class WriteFailed extends CheckpointError { kind: StorageErrorKind; detail: string; mayHaveApplied: boolean; }
export class AckFailed extends CheckpointError { offset: bigint; kind: AckErrorKind; detail: string; }
export class OffsetRegression extends CheckpointError { durable: bigint; requested: bigint; }
export class CorruptRecord extends CheckpointError { detail: string; }
export class ReadFailed extends CheckpointError { kind: StorageErrorKind; detail: string; }
export class Fenced extends CheckpointError { detail: string; }
export class ComponentTrapped extends CheckpointError { operation: string; detail: string; reopened: boolean; }
export class InvalidArgument extends CheckpointError {}
export class UnsupportedRuntime extends CheckpointError { runtime: string; detail: string; fix: string; }

export class StorageFailure extends Error {
  constructor(kind: StorageErrorKind, detail: string, options?: { cause?: unknown; mayHaveApplied?: boolean });
  kind: StorageErrorKind;
  detail: string;
  /** Whether a failed put may still have stored its value. */
  mayHaveApplied: boolean;
}
export class VersionConflict extends StorageFailure {
  constructor(detail: string, options?: { cause?: unknown });
}
export class AckFailure extends Error {
  constructor(kind: AckErrorKind, detail: string, options?: { cause?: unknown });
  kind: AckErrorKind;
  detail: string;
}
