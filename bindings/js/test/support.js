// Storages and consumers that record what the manager does to them, in one journal.

export class Journal {
  events = [];

  kinds() {
    return this.events.map((event) => event[0]);
  }
}

/** The original pipelines' unversioned protocol over a Map; `putResult` makes puts fail. */
export class SeedStorage {
  constructor(journal = new Journal()) {
    this.values = new Map();
    this.journal = journal;
    this.putResult = true;
  }

  put(key, value) {
    this.journal.events.push(['put', key, value]);
    if (this.putResult === true) this.values.set(key, value);
    return this.putResult;
  }

  get(key) {
    this.journal.events.push(['get', key]);
    return this.values.get(key) ?? null;
  }
}

export class Consumer {
  constructor(journal = new Journal()) {
    this.journal = journal;
    this.acked = [];
  }

  ack(ids) {
    this.journal.events.push(['ack', [...ids]]);
    this.acked.push(ids);
  }
}

export function setup() {
  const journal = new Journal();
  return { journal, storage: new SeedStorage(journal), consumer: new Consumer(journal) };
}

/** The original Python class writes this. */
export const SEED_RECORD = '{"offset": 1234, "written_at": 1764230400.5}';

/** Whether this run must have JSPI: the workspace's tests say so for Node 26
 * (PIPELINE_CHECKPOINT_EXPECT_JSPI=1) and Deno (`-- --expect-jspi`, read without the
 * env permission), so that a runtime without it fails them rather than skip. */
export function jspiExpected() {
  if (globalThis.Deno) return globalThis.Deno.args.includes('--expect-jspi');
  return globalThis.process?.env?.PIPELINE_CHECKPOINT_EXPECT_JSPI === '1';
}

/** A promise with its resolve and reject at hand: a store call held open until a test
 * lets it go. */
export function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

/** Settles after `turns` trips through the task queue: later than anything already
 * queued, with no clock involved. */
export async function later(turns = 3) {
  for (let i = 0; i < turns; i += 1) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** An asynchronous versioned storage over a MemoryStorage: every call answers after a
 * turn of the task queue, and records when it started and when it settled. */
export class DelayedStorage {
  constructor(memory, journal = new Journal()) {
    this.memory = memory;
    this.journal = journal;
  }

  async getVersioned(key) {
    this.journal.events.push(['get-start', key]);
    await later(1);
    const found = this.memory.getVersioned(key);
    this.journal.events.push(['get-done', key]);
    return found;
  }

  async putVersioned(key, value, expected) {
    this.journal.events.push(['put-start', key]);
    await later(2);
    const version = this.memory.putVersioned(key, value, expected);
    this.journal.events.push(['put-done', key]);
    return version;
  }
}

/** An asynchronous consumer that records when each ack started and settled. */
export class DelayedConsumer {
  constructor(journal = new Journal()) {
    this.journal = journal;
    this.acked = [];
  }

  async ack(ids) {
    this.journal.events.push(['ack-start', [...ids]]);
    await later(2);
    this.acked.push([...ids]);
    this.journal.events.push(['ack-done', [...ids]]);
  }
}
