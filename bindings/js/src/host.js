// The host side of one manager's instance: the imports it gives the component, and
// what a call left behind for the manager to report.
//
// A storage or consumer error never crosses into the component: it becomes the
// contract's error case (put and get: a storage-error; ack: an ack-error) and is kept
// as `cause`, which the manager attaches to what it throws after the call. Only a
// broken protocol (a wrong return type, a batch that is not the one lent) abandons the
// call, as a trap would.

import { ProtocolViolation, describe } from './adapters.js';
import { AckFailure, StorageFailure } from './errors.js';

/** The consumer's batch resource: a host object the component borrows and hands back
 * to ackBatch unread. A manager lends one per write. */
export class Batch {
  constructor(ids) {
    this.ids = ids;
  }
}

const NANOS_PER_MILLI = 1_000_000;

export class Host {
  constructor(storage, consumer) {
    this.storage = storage;
    this.consumer = consumer;
    this.begin(null);
  }

  /** Clears what the previous call left and lends `batch` to this one. */
  begin(batch) {
    this.batch = batch;
    /** The error behind the error case the component last received. */
    this.cause = null;
    /** An error a put threw that was not a StorageFailure. */
    this.putThrew = null;
    /** What abandoned the call, if anything did. */
    this.faulted = null;
  }

  /** The import object jco's instantiate takes, keyed with and without the version. */
  imports() {
    const storage = { get: (key) => this.get(key), put: (key, value, expected) => this.put(key, value, expected) };
    const consumer = { Batch, ack: (ids) => this.ack(ids), ackBatch: (batch) => this.ackBatch(batch) };
    const clock = { now: wallClockNow, resolution: () => ({ seconds: 0n, nanoseconds: NANOS_PER_MILLI }) };
    return {
      'pipeline:checkpoint/storage': storage,
      'pipeline:checkpoint/storage@0.3.0': storage,
      'pipeline:checkpoint/consumer': consumer,
      'pipeline:checkpoint/consumer@0.3.0': consumer,
      'wasi:clocks/wall-clock': clock,
      'wasi:clocks/wall-clock@0.2.6': clock,
    };
  }

  get(key) {
    const outcome = this.#guard(() => this.storage.get(key));
    if (outcome.cause !== null) this.cause = outcome.cause;
    switch (outcome.tag) {
      case 'found': return { tag: 'found', val: { value: outcome.a, version: outcome.b } };
      case 'absent': return { tag: 'absent' };
      default: return { tag: 'failed', val: { tag: outcome.a, val: outcome.b } };
    }
  }

  put(key, value, expected) {
    const want = expected.tag === 'absent' ? null : expected.val;
    const outcome = this.#guard(() => this.storage.put(key, value, want));
    const cause = outcome.cause;
    if (cause !== null) {
      this.cause = cause;
      if (!(cause instanceof StorageFailure)) this.putThrew = cause;
    }
    if (outcome.tag === 'ok') return outcome.a;
    // jco lowers a thrown {tag, val} as the result's error.
    throw { tag: outcome.a, val: outcome.b };
  }

  ack(ids) {
    try {
      this.consumer.ack(ids);
    } catch (e) {
      this.cause = e;
      if (e instanceof AckFailure) throw { tag: e.kind, val: `consumer.ack: ${e.detail}` };
      const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      throw { tag: 'unavailable', val: `consumer.ack threw ${what}` };
    }
  }

  ackBatch(batch) {
    if (this.batch === null || batch !== this.batch) {
      this.#fault(new ProtocolViolation(`the component acknowledged batch ${describe(batch)}, which this call did not lend`));
    }
    return this.ack(batch.ids);
  }

  /** Runs a storage adapter call; a protocol violation abandons the component's call. */
  #guard(call) {
    try {
      return call();
    } catch (e) {
      return this.#fault(e);
    }
  }

  #fault(error) {
    if (this.faulted === null) this.faulted = error;
    throw error;
  }
}

/** wasi:clocks/wall-clock.now from Date.now(): every runtime has it, edge ones included. */
function wallClockNow() {
  const millis = Date.now();
  const seconds = Math.floor(millis / 1000);
  return { seconds: BigInt(seconds), nanoseconds: (millis - seconds * 1000) * NANOS_PER_MILLI };
}
