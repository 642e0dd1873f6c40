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
