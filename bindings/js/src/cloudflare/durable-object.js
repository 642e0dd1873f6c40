// A Durable Object's storage as versioned storage: compare-and-swap inside one
// transaction, so that a stale writer is fenced whichever Worker or isolate it runs in
// (every request for the object reaches the same single instance, and the transaction
// makes the read, the compare and the write one step).
//
// Each record is stored as {value, version}, its version a counter bumped by every put.
// Nothing is durable when put returns: a Durable Object confirms its writes before any
// of its outgoing messages (an RPC response, a fetch) leaves it, so an ack sent from the
// object, or by its caller after the object answered, follows the durable write.

import { VersionConflict } from '../errors.js';

function conflict(key, have, expected) {
  const want = expected === null ? 'absent' : `version ${expected}`;
  const holds = have === null ? 'nothing' : `version ${have}`;
  return new VersionConflict(`${key}: expected ${want}, holds ${holds}`);
}

function versionOf(record) {
  return record === undefined || record === null ? null : record.version;
}

/** A SQLite-backed Durable Object's synchronous API (`ctx.storage.kv` and
 * `ctx.storage.transactionSync`), for CheckpointManager inside the object. */
export class DurableObjectStorage {
  /** @param storage the object's `ctx.storage`. @param options.prefix put before every key. */
  constructor(storage, { prefix = '' } = {}) {
    if (typeof storage?.transactionSync !== 'function' || typeof storage?.kv?.get !== 'function') {
      throw new TypeError('DurableObjectStorage needs a SQLite-backed Durable Object\'s ctx.storage (with kv and transactionSync); '
        + 'AsyncDurableObjectStorage takes any Durable Object\'s storage');
    }
    this.storage = storage;
    this.prefix = prefix;
  }

  getVersioned(key) {
    const record = this.storage.kv.get(this.prefix + key);
    return record === undefined ? null : [record.value, record.version];
  }

  putVersioned(key, value, expected) {
    const name = this.prefix + key;
    return this.storage.transactionSync(() => {
      const have = versionOf(this.storage.kv.get(name));
      if (have !== expected) throw conflict(key, have, expected);
      const version = (have ?? 0n) + 1n;
      this.storage.kv.put(name, { value, version });
      return version;
    });
  }
}

/** Any Durable Object's asynchronous API (`ctx.storage.get`, `transaction`, `sync`),
 * for AsyncCheckpointManager. */
export class AsyncDurableObjectStorage {
  constructor(storage, { prefix = '' } = {}) {
    if (typeof storage?.transaction !== 'function' || typeof storage?.get !== 'function') {
      throw new TypeError('AsyncDurableObjectStorage needs a Durable Object\'s ctx.storage');
    }
    this.storage = storage;
    this.prefix = prefix;
  }

  async getVersioned(key) {
    const record = await this.storage.get(this.prefix + key);
    return record === undefined ? null : [record.value, record.version];
  }

  async putVersioned(key, value, expected) {
    const name = this.prefix + key;
    const version = await this.storage.transaction(async (txn) => {
      const have = versionOf(await txn.get(name));
      if (have !== expected) throw conflict(key, have, expected);
      const next = (have ?? 0n) + 1n;
      await txn.put(name, { value, version: next });
      return next;
    });
    // Resolves once the write is on disk, not only in the object's write buffer: the
    // caller may ack right after, by a path the output gate does not hold.
    await this.storage.sync?.();
    return version;
  }
}
