// CheckpointManager: the original pipelines' class, backed by the checkpoint component.

import { adapt, describe } from './adapters.js';
import {
  AckFailed, CheckpointError, ComponentTrapped, CorruptRecord, Fenced, InvalidArgument, OffsetRegression,
  ReadFailed, WriteFailed,
} from './errors.js';
import { Batch, Host } from './host.js';
import { open } from './instance.js';

/** Where a manager keeps its record unless told otherwise: the original pipelines' key. */
export const CHECKPOINT_KEY = 'pipeline/checkpoint.json';

const U64_LIMIT = 1n << 64n;

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
  #key;
  #manager = null;
  #busy = null;

  /**
   * @param storage put(key, value) -> boolean and get(key) -> string | null, or
   *   getVersioned / putVersioned for a real compare-and-swap.
   * @param consumer ack(messageIds).
   * @param options.key the record's key, `pipeline/checkpoint.json` by default.
   */
  constructor(storage, consumer, { key } = {}) {
    if (key !== undefined && key !== null && typeof key !== 'string') {
      throw new InvalidArgument(`key must be a string, not ${describe(key)}`);
    }
    if (consumer === null || typeof consumer !== 'object' || typeof consumer.ack !== 'function') {
      throw new InvalidArgument(`${describe(consumer)} is not a consumer: it needs ack(messageIds)`);
    }
    this.#key = key ?? undefined;
    this.#host = new Host(adapt(storage), consumer);
    /** Why the last writeCheckpoint returned false, as a (not thrown) WriteFailed;
     * null after a write that succeeded. @type {WriteFailed | null} */
    this.lastWriteError = null;
    const error = this.#open();
    if (error !== null) throw new ComponentTrapped('opening the manager', describeError(error), false, describeError(error), { cause: error });
  }

  /** The storage key of this manager's record. */
  get key() {
    return this.#key ?? CHECKPOINT_KEY;
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
      const { putThrew, cause } = this.#host;
      const error = new WriteFailed(failure.val.tag, failure.val.val, { cause: putThrew ?? cause ?? undefined });
      if (putThrew !== null) throw error;
      this.lastWriteError = error;
      return false;
    }
    throw this.#error(failure, offset);
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
    throw this.#error(failure, null);
  }

  /** Starts a fresh instance; returns why it could not, or null. */
  #open() {
    this.#host.begin(null);
    try {
      const Manager = open(this.#host.imports());
      this.#manager = new Manager(this.#key);
      return null;
    } catch (e) {
      this.#manager = null;
      return e;
    }
  }

  /** Calls the instance; returns null, or the contract's checkpoint-error. */
  #run(operation, batch, call) {
    if (this.#busy !== null) {
      throw new CheckpointError(`${operation} was called from inside this manager's own storage or consumer `
        + `(during ${this.#busy}); a component instance cannot be re-entered`);
    }
    this.#busy = operation;
    try {
      if (this.#manager === null) {
        const error = this.#open();
        if (error !== null) {
          throw new ComponentTrapped(operation, "the previous call's instance failed", false, describeError(error), { cause: error });
        }
      }
      this.#host.begin(batch);
      try {
        call(this.#manager, batch);
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

  /** After a trap: never touch the instance again (it may be mid-update), open a fresh
   * one, and say what happened. */
  #recover(operation, trap) {
    const fault = this.#host.faulted ?? trap;
    this.#manager = null;
    const error = this.#open();
    return new ComponentTrapped(operation, describeError(fault), error === null, error && describeError(error), { cause: fault });
  }

  #error(failure, offset) {
    const cause = this.#host.cause ?? undefined;
    const { tag, val } = failure;
    switch (tag) {
      case 'ack-failed': return new AckFailed(offset ?? -1n, val.tag, val.val, { cause });
      case 'offset-regression': return new OffsetRegression(val.durable, val.requested);
      case 'corrupt-record': return new CorruptRecord(val);
      case 'read-failed': return new ReadFailed(val.tag, val.val, { cause });
      case 'fenced': return new Fenced(val);
      case 'write-failed': return new WriteFailed(val.tag, val.val, { cause });
      default: return new CheckpointError(`the component returned an unknown error case ${tag}`);
    }
  }
}

/** jco throws an export's error case as an Error whose own `payload` is {tag, val}. */
function isContractError(e) {
  return e instanceof Error && Object.hasOwn(e, 'payload') && typeof e.payload?.tag === 'string';
}

function describeError(error) {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function checkedOffset(offset) {
  if (typeof offset === 'bigint') {
    if (offset < 0n || offset >= U64_LIMIT) {
      throw new InvalidArgument(`newOffset ${offset} is outside [0, 2^64): offsets are unsigned 64-bit`);
    }
    return offset;
  }
  if (typeof offset === 'number') {
    if (!Number.isSafeInteger(offset)) {
      throw new InvalidArgument(`newOffset ${offset} is not a safe integer: pass offsets beyond 2^53 - 1 as a bigint`);
    }
    if (offset < 0) throw new InvalidArgument(`newOffset ${offset} is negative: offsets are unsigned 64-bit`);
    return BigInt(offset);
  }
  throw new InvalidArgument(`newOffset must be a bigint or a safe integer Number, not ${describe(offset)}`);
}

function checkedIds(ids) {
  if (!Array.isArray(ids)) throw new InvalidArgument(`batchIds must be an array of strings, not ${describe(ids)}`);
  for (let i = 0; i < ids.length; i += 1) {
    if (typeof ids[i] !== 'string') throw new InvalidArgument(`batchIds[${i}] is ${describe(ids[i])}, not a string`);
  }
  return ids;
}
