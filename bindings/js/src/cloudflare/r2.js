// An R2 bucket as versioned storage: the record's version is derived from its ETag, and
// a put is R2's conditional put, `onlyIf: {etagMatches}` over the version read (or
// `etagDoesNotMatch: '*'` to create), which R2 applies atomically: a stale writer in any
// Worker is fenced.
//
// R2's ETag is the MD5 of the content: two writes of identical bytes have the same one.
// The checkpoint record carries its write time in microseconds, so two writers' records
// differ; a storage holding other values must make them unique the same way.

import { contentVersion } from '../content-version.js';
import { StorageFailure, VersionConflict } from '../errors.js';

/** The contract's u64 version of an ETag: its FNV-1a 64 hash. */
const versionOf = (etag) => contentVersion(etag);

export class R2Storage {
  /** The ETag last seen for each key, so that a put needs no extra request. */
  #etags = new Map();

  /** @param bucket an R2Bucket binding. @param options.prefix put before every key. */
  constructor(bucket, { prefix = '' } = {}) {
    if (typeof bucket?.put !== 'function' || typeof bucket?.head !== 'function') throw new TypeError('R2Storage needs an R2 bucket binding');
    this.bucket = bucket;
    this.prefix = prefix;
  }

  async getVersioned(key) {
    const name = this.prefix + key;
    const object = await unavailableOnError(`reading ${name}`, () => this.bucket.get(name), false);
    if (object === null) {
      this.#etags.delete(name);
      return null;
    }
    const value = await object.text();
    this.#etags.set(name, object.etag);
    return [value, versionOf(object.etag)];
  }

  async putVersioned(key, value, expected) {
    const name = this.prefix + key;
    const onlyIf = expected === null ? { etagDoesNotMatch: '*' } : { etagMatches: await this.#etagOf(name, expected) };
    const written = await unavailableOnError(`writing ${name}`, () => this.bucket.put(name, value, { onlyIf }), true);
    if (written === null) {
      this.#etags.delete(name);
      throw new VersionConflict(`${key}: expected ${expected === null ? 'absent' : `version ${expected}`}, `
        + 'but R2 refused the conditional put: another writer stored it since');
    }
    this.#etags.set(name, written.etag);
    return versionOf(written.etag);
  }

  /** The ETag whose version is `expected`, or a conflict if the object has another. */
  async #etagOf(name, expected) {
    const known = this.#etags.get(name);
    if (known !== undefined && versionOf(known) === expected) return known;
    const head = await unavailableOnError(`reading ${name}`, () => this.bucket.head(name), false);
    if (head === null) throw new VersionConflict(`${name}: expected version ${expected}, holds nothing`);
    if (versionOf(head.etag) !== expected) {
      throw new VersionConflict(`${name}: expected version ${expected}, holds version ${versionOf(head.etag)}`);
    }
    return head.etag;
  }
}

/** R2 calls that throw are network failures: `unavailable`, and a put that threw may
 * have been applied. */
async function unavailableOnError(what, call, mayHaveApplied) {
  try {
    return await call();
  } catch (e) {
    throw new StorageFailure('unavailable', `${what}: ${e?.message ?? e}`, { cause: e, mayHaveApplied });
  }
}
