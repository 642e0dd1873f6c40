// Types of `pipeline-checkpoint/cloudflare`: storages over Cloudflare's stores.

/** A SQLite-backed Durable Object's synchronous storage API, as much of it as is used. */
interface SyncDurableObjectStorage {
  kv: { get(key: string): any; put(key: string, value: any): void };
  transactionSync<T>(closure: () => T): T;
}

/** Compare-and-swap in one transactionSync: fences across Workers. For CheckpointManager. */
export class DurableObjectStorage {
  constructor(storage: SyncDurableObjectStorage, options?: { prefix?: string });
  getVersioned(key: string): [string, bigint] | null;
  putVersioned(key: string, value: string, expected: bigint | null): bigint;
}

/** Compare-and-swap in one transaction, then sync(): fences across Workers. For AsyncCheckpointManager. */
export class AsyncDurableObjectStorage {
  constructor(storage: any, options?: { prefix?: string });
  getVersioned(key: string): Promise<[string, bigint] | null>;
  putVersioned(key: string, value: string, expected: bigint | null): Promise<bigint>;
}

/** R2 conditional puts (onlyIf etagMatches / etagDoesNotMatch '*'): fences across Workers. */
export class R2Storage {
  constructor(bucket: any, options?: { prefix?: string });
  getVersioned(key: string): Promise<[string, bigint] | null>;
  putVersioned(key: string, value: string, expected: bigint | null): Promise<bigint>;
}

/** Workers KV: no compare-and-swap, eventually consistent. Fences nothing. */
export class UnversionedWorkersKvStorage {
  constructor(namespace: any, options?: { prefix?: string });
  get(key: string): Promise<string | null>;
  put(key: string, value: string): Promise<boolean>;
}
