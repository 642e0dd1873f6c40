// Deno KV as versioned storage: a put is one atomic operation that checks the
// versionstamp read (`atomic().check(...)`, null to require absence) before it sets the
// value, so a stale writer in any process sharing the database is fenced.
//
// A versionstamp is 80 bits (20 hex digits), the contract's version 64: the version is
// its low 64 bits, six bytes of the commit's version and its two-byte order, distinct
// for any two commits a key sees unless they are 2^48 commits apart. The adapter keeps
// the versionstamp it last saw to check against (reading it again when asked for a
// version it did not see).

import { StorageFailure, VersionConflict } from '../errors.js';

const versionOf = (versionstamp) => BigInt(`0x${versionstamp.slice(-16)}`);

export class DenoKvStorage {
  #versionstamps = new Map();

  /** @param kv a Deno.Kv. @param options.prefix the key parts put before each key. */
  constructor(kv, { prefix = ['pipeline-checkpoint'] } = {}) {
    if (typeof kv?.atomic !== 'function') throw new TypeError('DenoKvStorage needs a Deno.Kv (Deno.openKv())');
    this.kv = kv;
    this.prefix = prefix;
  }

  async getVersioned(key) {
    const entry = await this.#read(key);
    if (entry.versionstamp === null) return null;
    if (typeof entry.value !== 'string') {
      throw new StorageFailure('invalid-data', `${key}: Deno KV holds a ${typeof entry.value}, not a string`);
    }
    return [entry.value, versionOf(entry.versionstamp)];
  }

  async putVersioned(key, value, expected) {
    const check = expected === null ? null : this.#knownVersionstamp(key, expected) ?? await this.#versionstampOf(key, expected);
    let result;
    try {
      result = await this.kv.atomic().check({ key: [...this.prefix, key], versionstamp: check }).set([...this.prefix, key], value).commit();
    } catch (e) {
      throw new StorageFailure('unavailable', `writing ${key} to Deno KV: ${e?.message ?? e}`, { cause: e });
    }
    if (!result.ok) {
      this.#versionstamps.delete(key);
      throw new VersionConflict(`${key}: expected ${expected === null ? 'absent' : `version ${expected}`}, `
        + 'but the atomic check failed: another writer stored it since');
    }
    this.#versionstamps.set(key, result.versionstamp);
    return versionOf(result.versionstamp);
  }

  async #read(key) {
    let entry;
    try {
      entry = await this.kv.get([...this.prefix, key], { consistency: 'strong' });
    } catch (e) {
      throw new StorageFailure('unavailable', `reading ${key} from Deno KV: ${e?.message ?? e}`, { cause: e });
    }
    if (entry.versionstamp === null) this.#versionstamps.delete(key);
    else this.#versionstamps.set(key, entry.versionstamp);
    return entry;
  }

  /** The versionstamp this adapter last saw for `key`, if its version is `expected`:
   * then the put needs no read first. */
  #knownVersionstamp(key, expected) {
    const known = this.#versionstamps.get(key);
    return known !== undefined && versionOf(known) === expected ? known : undefined;
  }

  /** The versionstamp stored now, if its version is `expected`; else a conflict. */
  async #versionstampOf(key, expected) {
    const entry = await this.#read(key);
    if (entry.versionstamp === null) throw new VersionConflict(`${key}: expected version ${expected}, holds nothing`);
    if (versionOf(entry.versionstamp) !== expected) {
      throw new VersionConflict(`${key}: expected version ${expected}, holds version ${versionOf(entry.versionstamp)}`);
    }
    return entry.versionstamp;
  }
}
