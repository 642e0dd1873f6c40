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
  CHECKPOINT_KEY, checkedConsumer, checkedIds, checkedKey, checkedOffset, contractError, isContractError,
  writeFailed,
} from './calls.js';
import { CheckpointError } from './errors.js';
import { Batch, Host } from './host.js';
import { InstanceSlot } from './instance-slot.js';
import { requireJspi } from './instance.js';

export class AsyncCheckpointManager {
  #host;
  #slot;
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
    const checked = checkedKey(key);
    checkedConsumer(consumer);
    this.#host = new Host(adapt(storage, { asynchronous: true }), consumer, { asynchronous: true });
    /** Why the last writeCheckpoint resolved false; null after one that succeeded. */
    this.lastWriteError = null;
    this.#slot = new InstanceSlot(this.#host, checked, 'jspi');
    this.#slot.openFirst();
  }

  /** The storage key of this manager's record. */
  get key() {
    return this.#slot.key ?? CHECKPOINT_KEY;
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

  /** Drops this manager's record handle and gives its instance to the next manager
   * created (one per batch or request then costs no instantiation). Every later call
   * rejects. Refused while a call is running: await it first. */
  close() {
    if (this.#busy !== null) {
      throw new CheckpointError(`close() was called while this manager's ${this.#busy} is still running: await it first`);
    }
    this.#slot.close();
  }

  [Symbol.dispose ?? Symbol.for('dispose')]() {
    this.close();
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
      const manager = this.#slot.current(operation);
      this.#host.begin(batch);
      try {
        await call(manager, batch);
        return null;
      } catch (e) {
        if (isContractError(e) && this.#host.faulted === null) return e.payload;
        throw this.#slot.recover(operation, e);
      } finally {
        this.#host.batch = null;
      }
    } finally {
      this.#busy = null;
    }
  }
}
