// CheckpointManager: the original pipelines' class, backed by the checkpoint component,
// for a storage and a consumer that answer synchronously (the sync build: every
// runtime, no JSPI needed).

import { asyncCalls, adapt, isAsyncFunction } from './adapters.js';
import {
  CHECKPOINT_KEY, checkedConsumer, checkedIds, checkedKey, checkedOffset, contractError, isContractError,
  writeFailed,
} from './calls.js';
import { CheckpointError, InvalidArgument } from './errors.js';
import { Batch, Host } from './host.js';
import { InstanceSlot } from './instance-slot.js';
import { hasJspi, jspiFix, runtimeName } from './runtime.js';

/**
 * Persists pipeline progress to storage and coordinates consumer acks.
 *
 * Durability contract: writeCheckpoint() writes and confirms the new offset in storage
 * before it sends any consumer acknowledgement. If the storage write fails, no acks are
 * sent and the caller receives false, so the batch can be retried from the previous
 * offset. What a boolean cannot say is thrown as a CheckpointError.
 */
export class CheckpointManager {
  #host;
  #slot;
  #busy = null;

  /**
   * @param storage put(key, value) -> boolean and get(key) -> string | null, or
   *   getVersioned / putVersioned for a real compare-and-swap; all synchronous.
   * @param consumer ack(messageIds), synchronous.
   * @param options.key the record's key, `pipeline/checkpoint.json` by default.
   */
  constructor(storage, consumer, { key } = {}) {
    const checked = checkedKey(key);
    checkedConsumer(consumer);
    refuseAsync(storage, consumer);
    this.#host = new Host(adapt(storage, { asynchronous: false }), consumer, { asynchronous: false });
    /** Why the last writeCheckpoint returned false, as a (not thrown) WriteFailed;
     * null after a write that succeeded. @type {import('./errors.js').WriteFailed | null} */
    this.lastWriteError = null;
    this.#slot = new InstanceSlot(this.#host, checked, 'sync');
    this.#slot.openFirst();
  }

  /** The storage key of this manager's record. */
  get key() {
    return this.#slot.key ?? CHECKPOINT_KEY;
  }

  /**
   * Persists the new offset as the pipeline checkpoint, then acks the batch.
   * @param {string[]} batchIds message ids to acknowledge after a successful write.
   * @param {bigint | number} newOffset the new resume point: a bigint, or a Number that
   *   is a safe integer.
   * @returns {boolean} true if the checkpoint was written; false if the storage write
   *   failed (nothing was acknowledged; `lastWriteError` says why).
   */
  writeCheckpoint(batchIds, newOffset) {
    const ids = checkedIds(batchIds);
    const offset = checkedOffset(newOffset);
    const failure = this.#run('writeCheckpoint', new Batch(ids), (manager, batch) => manager.writeCheckpointBatch(batch, offset));
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
   * Returns the last persisted pipeline offset: the stored record's `offset`, or 0n if
   * no record exists yet. It only reads; it never writes to storage.
   * @returns {bigint}
   */
  getCheckpoint() {
    let offset = null;
    const failure = this.#run('getCheckpoint', null, (manager) => { offset = manager.getCheckpoint(); });
    if (failure === null) return offset;
    throw contractError(failure, null, this.#host);
  }

  /** Drops this manager's record handle and gives its instance to the next manager
   * created (one per batch or request then costs no instantiation). Every later call
   * throws. Also `using manager = new CheckpointManager(...)` where supported. */
  close() {
    if (this.#busy !== null) {
      throw new CheckpointError(`close() was called from inside this manager's own storage or consumer (during ${this.#busy})`);
    }
    this.#slot.close();
  }

  [Symbol.dispose ?? Symbol.for('dispose')]() {
    this.close();
  }

  /** Calls the instance; returns null, or the contract's checkpoint-error. */
  #run(operation, batch, call) {
    if (this.#busy !== null) {
      throw new CheckpointError(`${operation} was called from inside this manager's own storage or consumer `
        + `(during ${this.#busy}); a component instance cannot be re-entered`);
    }
    this.#busy = operation;
    try {
      const manager = this.#slot.current(operation);
      this.#host.begin(batch);
      try {
        call(manager, batch);
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

/** A storage or consumer declared async always answers with a promise, which this
 * manager could not wait for: refused before any call, with the way out. */
function refuseAsync(storage, consumer) {
  const calls = asyncCalls(storage).map((name) => `storage.${name}`);
  if (isAsyncFunction(consumer.ack)) calls.push('consumer.ack');
  if (calls.length === 0) return;
  const how = hasJspi()
    ? `use AsyncCheckpointManager, which waits for them through JSPI (${runtimeName()} has it)`
    : `AsyncCheckpointManager waits for them through JSPI, which ${runtimeName()} lacks: ${jspiFix()}`;
  throw new InvalidArgument(`${calls.join(' and ')} ${calls.length > 1 ? 'are' : 'is'} async, but CheckpointManager `
    + `calls its storage and consumer synchronously; ${how}`);
}
