// AsyncCheckpointManager: the same contract for a storage and a consumer that answer
// with promises (edge stores, anything over fetch), through the component's JSPI build.
//
// The component's call is suspended at each import that returns a promise and resumed
// with its value, so the order of the contract holds in time: the record's put has
// resolved `ok` before ack is called, and writeCheckpoint settles only once the ack has.
// Each manager has an instance of its own, so managers wait for their stores
// concurrently; a manager runs one call at a time, as an instance must.

import { adapt } from './adapters.js';
import {
  CHECKPOINT_KEY, checkedConsumer, checkedIds, checkedKey, checkedOffset, contractError, describeError, isContractError,
  writeFailed,
} from './calls.js';
import { CheckpointError, ComponentTrapped, UnsupportedRuntime } from './errors.js';
import { Batch, Host } from './host.js';
import { open, requireJspi } from './instance.js';

export class AsyncCheckpointManager {
  #host;
  #key;
  #manager = null;
  #busy = null;

  /**
   * @param storage getVersioned / putVersioned, or get / put, each returning a value or
   *   a promise of one.
   * @param consumer ack(messageIds), returning nothing or a promise.
   * @param options.key the record's key, `pipeline/checkpoint.json` by default.
   * @throws UnsupportedRuntime where JSPI is missing (Node.js before 24.22).
   */
  constructor(storage, consumer, { key } = {}) {
    requireJspi('AsyncCheckpointManager');
    this.#key = checkedKey(key);
    checkedConsumer(consumer);
    this.#host = new Host(adapt(storage, { asynchronous: true }), consumer, { asynchronous: true });
    /** Why the last writeCheckpoint resolved false; null after one that succeeded. */
    this.lastWriteError = null;
    const error = this.#open();
    if (error instanceof UnsupportedRuntime) throw error;
    if (error !== null) throw new ComponentTrapped('opening the manager', describeError(error), false, describeError(error), { cause: error });
  }

  /** The storage key of this manager's record. */
  get key() {
    return this.#key ?? CHECKPOINT_KEY;
  }

  /**
   * Makes `newOffset` durable, then acks `batchIds`. Resolves true once both are done,
   * false if the storage write failed (nothing acknowledged; `lastWriteError` says why
   * and whether the store may still have applied it); rejects with a CheckpointError
   * for what a boolean cannot say.
   * @returns {Promise<boolean>}
   */
  async writeCheckpoint(batchIds, newOffset) {
    const ids = checkedIds(batchIds);
    const offset = checkedOffset(newOffset);
    const failure = await this.#run('writeCheckpoint', new Batch(ids), (manager, batch) => manager.writeCheckpointBatch(batch, offset));
    if (failure === null) {
      this.lastWriteError = null;
      return true;
    }
    if (failure.tag === 'write-failed') {
      const error = writeFailed(failure, this.#host);
      if (this.#host.putThrew !== null) throw error;
      this.lastWriteError = error;
      return false;
    }
    throw contractError(failure, offset, this.#host);
  }

  /**
   * The durable offset: the stored record's `offset`, or 0n if there is none. Only reads.
   * @returns {Promise<bigint>}
   */
  async getCheckpoint() {
    let offset = null;
    const failure = await this.#run('getCheckpoint', null, async (manager) => { offset = await manager.getCheckpoint(); });
    if (failure === null) return offset;
    throw contractError(failure, null, this.#host);
  }

  #open() {
    this.#host.begin(null);
    try {
      const Manager = open(this.#host.imports(), { jspi: true });
      this.#manager = new Manager(this.#key);
      return null;
    } catch (e) {
      this.#manager = null;
      return e;
    }
  }

  /** Calls the instance and waits for it; resolves null, or the contract's error case. */
  async #run(operation, batch, call) {
    if (this.#busy !== null) {
      throw new CheckpointError(`${operation} was called while this manager's ${this.#busy} is still running `
        + '(overlapping calls, or a call from its own storage or consumer): await each call before the next; '
        + 'a component instance runs one call at a time');
    }
    this.#busy = operation;
    try {
      if (this.#manager === null) {
        const error = this.#open();
        if (error instanceof UnsupportedRuntime) throw error;
        if (error !== null) {
          throw new ComponentTrapped(operation, "the previous call's instance failed", false, describeError(error), { cause: error });
        }
      }
      this.#host.begin(batch);
      try {
        await call(this.#manager, batch);
        return null;
      } catch (e) {
        if (isContractError(e) && this.#host.faulted === null) return e.payload;
        throw this.#recover(operation, e);
      } finally {
        this.#host.batch = null;
      }
    } finally {
      this.#busy = null;
    }
  }

  /** After a trap: the instance may be mid-update (or still suspended), so it is never
   * called again; a fresh one reads the record before its first write. */
  #recover(operation, trap) {
    const fault = this.#host.faulted ?? trap;
    this.#manager = null;
    const error = this.#open();
    return new ComponentTrapped(operation, describeError(fault), error === null, error && describeError(error), { cause: fault });
  }
}
