// Deno KV as versioned storage: a put is one atomic operation that checks the
// versionstamp read (`atomic().check(...)`, null to require absence) before it sets the
// value, so a stale writer in any process sharing the database is fenced.
//
// A versionstamp is 80 bits, the contract's version 64: the version is the FNV-1a 64
// hash of the versionstamp, and the adapter keeps the versionstamp it last saw to check
// against (reading it again when asked for a version it did not see).

import { contentVersion } from '../content-version.js';
import { StorageFailure, VersionConflict } from '../errors.js';

const versionOf = (versionstamp) => contentVersion(versionstamp);

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
    const check = expected === null ? null : await this.#versionstampOf(key, expected);
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

  async #versionstampOf(key, expected) {
    const known = this.#versionstamps.get(key);
    if (known !== undefined && versionOf(known) === expected) return known;
    const entry = await this.#read(key);
    if (entry.versionstamp === null) throw new VersionConflict(`${key}: expected version ${expected}, holds nothing`);
    if (versionOf(entry.versionstamp) !== expected) {
      throw new VersionConflict(`${key}: expected version ${expected}, holds version ${versionOf(entry.versionstamp)}`);
    }
    return entry.versionstamp;
  }
}
