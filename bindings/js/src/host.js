// The host side of one manager's instance: the imports it gives the component, and
// what a call left behind for the manager to report.
//
// A storage or consumer error never crosses into the component: it becomes the
// contract's error case (put and get: a storage-error; ack: an ack-error) and is kept
// as `cause`, which the manager attaches to what it throws after the call. Only a
// broken protocol (a wrong return type, a batch that is not the one lent) abandons the
// call, as a trap would.
//
// For the JSPI build (`asynchronous`), get, put, ack and ackBatch may return promises:
// jco wraps them in WebAssembly.Suspending, so the component's call is suspended until
// the promise settles and goes on with its value. The order of the contract is then
// the order of settlement: ack is not called before put's promise resolved `ok`.

import { ProtocolViolation, describe, isThenable, settle } from './adapters.js';
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
  constructor(adapter, consumer, { asynchronous }) {
    this.adapter = adapter;
    this.consumer = consumer;
    this.asynchronous = asynchronous;
    this.begin(null);
  }

  /** Clears what the previous call left and lends `batch` to this one. */
  begin(batch) {
    this.batch = batch;
    /** The error behind the error case the component last received. */
    this.cause = null;
    /** An error a put threw that was not a StorageFailure. */
    this.putThrew = null;
    /** Whether the last failed put may still have stored its value. */
    this.putMayHaveApplied = false;
    /** What abandoned the call, if anything did. */
    this.faulted = null;
  }

  get(key) {
    return this.#then(this.#guard(() => this.adapter.get(key)), (outcome) => {
      if (outcome.cause !== null) this.cause = outcome.cause;
      switch (outcome.tag) {
        case 'found': return { tag: 'found', val: { value: outcome.a, version: outcome.b } };
        case 'absent': return { tag: 'absent' };
        default: return { tag: 'failed', val: { tag: outcome.a, val: outcome.b } };
      }
    });
  }

  put(key, value, expected) {
    const want = expected.tag === 'absent' ? null : expected.val;
    return this.#then(this.#guard(() => this.adapter.put(key, value, want)), (outcome) => {
      const cause = outcome.cause;
      if (cause !== null) {
        this.cause = cause;
        if (!(cause instanceof StorageFailure)) this.putThrew = cause;
      }
      if (outcome.tag === 'ok') return outcome.a;
      this.putMayHaveApplied = outcome.mayHaveApplied ?? true;
      // jco lowers a thrown (or, through JSPI, returned) {tag, val} as the error case.
      const error = { tag: outcome.a, val: outcome.b };
      if (this.asynchronous) return { tag: 'err', val: error };
      throw error;
    });
  }

  ack(ids) {
    try {
      return settle(this.asynchronous, () => this.consumer.ack(ids), () => undefined, (e) => this.#ackFailed(e),
        'consumer.ack returned a Promise, which CheckpointManager cannot wait for: use AsyncCheckpointManager');
    } catch (e) {
      // A synchronous manager's consumer answered with a promise: the offset is
      // durable, so this is an ack that failed (and may yet happen), not a broken
      // instance.
      if (!(e instanceof ProtocolViolation)) throw e;
      this.cause = e;
      throw { tag: 'unavailable', val: e.message };
    }
  }

  ackBatch(batch) {
    if (this.batch === null || batch !== this.batch) {
      this.#fault(new ProtocolViolation(`the component acknowledged batch ${describe(batch)}, which this call did not lend`));
    }
    return this.ack(batch.ids);
  }

  #ackFailed(e) {
    this.cause = e;
    const error = e instanceof AckFailure
      ? { tag: e.kind, val: `consumer.ack: ${e.detail}` }
      : { tag: 'unavailable', val: `consumer.ack threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}` };
    // jco lowers a thrown (or, through JSPI, returned) {tag, val} as the error case.
    if (this.asynchronous) return { tag: 'err', val: error };
    throw error;
  }

  /** Runs an adapter call; a protocol violation abandons the component's call. */
  #guard(call) {
    try {
      const outcome = call();
      return isThenable(outcome) ? outcome.catch((e) => this.#fault(e)) : outcome;
    } catch (e) {
      return this.#fault(e);
    }
  }

  #then(outcome, next) {
    return isThenable(outcome) ? outcome.then(next) : next(outcome);
  }

  #fault(error) {
    if (this.faulted === null) this.faulted = error;
    throw error;
  }
}

/** The import object jco's instantiate takes, keyed with and without the version, each
 * call reaching `binding.host`: the host of the manager that holds the instance now. */
export function importsThrough(binding) {
  const storage = {
    get: (key) => binding.host.get(key),
    put: (key, value, expected) => binding.host.put(key, value, expected),
  };
  const consumer = { Batch, ack: (ids) => binding.host.ack(ids), ackBatch: (batch) => binding.host.ackBatch(batch) };
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

/** wasi:clocks/wall-clock.now from Date.now(): every runtime has it, edge ones included. */
function wallClockNow() {
  const millis = Date.now();
  const seconds = Math.floor(millis / 1000);
  return { seconds: BigInt(seconds), nanoseconds: (millis - seconds * 1000) * NANOS_PER_MILLI };
}
