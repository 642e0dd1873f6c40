// Workers KV, which has no compare-and-swap and is eventually consistent (a read may
// return a value up to a minute old, another location's write may land later): named as
// unversioned storage so that nobody mistakes it for a store that fences.
//
// It offers the original pipelines' get/put, so a manager versions values by content
// and compares before it writes, which fences nothing between Workers and, with a store
// this slow, not even reliably within one. A stale read can make a restarted pipeline
// resume from an older offset: duplicates, never loss, since a put still precedes every
// ack. Use it only where one writer per key is guaranteed by other means.

export class UnversionedWorkersKvStorage {
  /** @param namespace a KV namespace binding. @param options.prefix put before every key. */
  constructor(namespace, { prefix = '' } = {}) {
    if (typeof namespace?.get !== 'function' || typeof namespace?.put !== 'function') {
      throw new TypeError('UnversionedWorkersKvStorage needs a KV namespace binding');
    }
    this.namespace = namespace;
    this.prefix = prefix;
  }

  async get(key) {
    return this.namespace.get(this.prefix + key, { type: 'text' });
  }

  async put(key, value) {
    await this.namespace.put(this.prefix + key, value);
    return true;
  }
}
