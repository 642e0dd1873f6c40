// In-memory storage and consumer, for tests, examples and pipelines whose offsets need
// not outlive the process.

import { VersionConflict } from './errors.js';

/** A map of values with the versioned calls: a real compare-and-swap, for the managers
 * of this process that share this object. Versions count puts. */
export class MemoryStorage {
  #values = new Map();
  #lastVersion = 0n;

  /** @returns {[string, bigint] | null} */
  getVersioned(key) {
    return this.#values.get(key) ?? null;
  }

  /** @returns {bigint} */
  putVersioned(key, value, expected) {
    const current = this.#values.get(key);
    const have = current === undefined ? null : current[1];
    if (have !== expected) {
      const want = expected === null ? 'absent' : `version ${expected}`;
      const holds = have === null ? 'nothing' : `version ${have}`;
      throw new VersionConflict(`${key}: expected ${want}, holds ${holds}`);
    }
    this.#lastVersion += 1n;
    this.#values.set(key, [value, this.#lastVersion]);
    return this.#lastVersion;
  }

  /** The value under `key`, for inspection, or null. */
  value(key) {
    return this.#values.get(key)?.[0] ?? null;
  }
}

/** Records every acknowledged batch, in order, in `acked`. */
export class MemoryConsumer {
  /** @type {string[][]} */
  acked = [];

  ack(messageIds) {
    this.acked.push([...messageIds]);
  }
}
