// Types of `pipeline-checkpoint/deno-kv`: Deno KV as a storage that fences.

/** Puts are atomic().check(versionstamp).set(): fences across processes. */
export class DenoKvStorage {
  /** @param kv a Deno.Kv. @param options.prefix key parts before each key, ['pipeline-checkpoint'] by default. */
  constructor(kv: any, options?: { prefix?: unknown[] });
  getVersioned(key: string): Promise<[string, bigint] | null>;
  putVersioned(key: string, value: string, expected: bigint | null): Promise<bigint>;
}
