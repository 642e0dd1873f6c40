// The errors a CheckpointManager throws: one class per case of the contract's
// `checkpoint-error` (wit/manager.wit) that a boolean cannot say, all under
// CheckpointError, plus the two a storage or consumer throws to name a contract case.
//
// A failed storage write is not among the thrown ones: `writeCheckpoint` returns false
// for it, as the original pipelines expect, unless `put` threw something that is not a
// StorageFailure, which the manager reports as WriteFailed with that error as `cause`.

/** The contract's storage-error cases (wit/storage.wit): the `kind` of a StorageFailure. */
export const STORAGE_ERROR_KINDS = Object.freeze([
  'invalid-key', 'no-space', 'access-denied', 'invalid-data', 'unavailable', 'io', 'conflict',
]);

/** The contract's ack-error cases (wit/consumer.wit): the `kind` of an AckFailure. */
export const ACK_ERROR_KINDS = Object.freeze(['rejected', 'unavailable', 'invalid-batch']);

/** Base class of every error a CheckpointManager throws. */
export class CheckpointError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Storing the new offset failed: nothing was acknowledged. `mayHaveApplied` says
 * whether the store may still have stored it (a write that failed after it reached the
 * store, a timeout, a promise that rejected after writing): then the record holds the
 * previous offset or the new one, and the manager's next write reads it again before it
 * writes. Either way, retry the batch from the previous offset. */
export class WriteFailed extends CheckpointError {
  constructor(kind, detail, mayHaveApplied, options) {
    const outcome = mayHaveApplied
      ? 'the store may still have applied it (the next write reads the record again first)'
      : 'nothing was stored';
    super(`storing the checkpoint failed (${kind}): ${detail}; nothing was acknowledged and ${outcome}`, options);
    this.kind = kind;
    this.detail = detail;
    /** @type {boolean} */
    this.mayHaveApplied = mayHaveApplied;
  }
}

/** The new offset is durable, but acknowledging the batch failed. The upstream
 * redelivers those messages (duplicates, never loss); writing the same offset again
 * acknowledges again. */
export class AckFailed extends CheckpointError {
  constructor(offset, kind, detail, options) {
    super(`offset ${offset} is durable but acknowledging the batch failed (${kind}): ${detail}; `
      + `writing offset ${offset} again acknowledges again`, options);
    /** @type {bigint} */
    this.offset = offset;
    this.kind = kind;
    this.detail = detail;
  }
}

/** The requested offset is lower than the durable one; nothing was written or
 * acknowledged. Writing the durable offset again is an idempotent retry. */
export class OffsetRegression extends CheckpointError {
  constructor(durable, requested) {
    super(`offset ${requested} is lower than the durable offset ${durable}: refused, nothing written or acknowledged`);
    /** @type {bigint} */
    this.durable = durable;
    /** @type {bigint} */
    this.requested = requested;
  }
}

/** The stored record cannot be understood (empty, NUL bytes, invalid JSON, a missing or
 * malformed `offset`, bytes that are not text). Nothing was written; an operator must
 * repair or reset the record. */
export class CorruptRecord extends CheckpointError {
  constructor(detail) {
    super(`the stored checkpoint record is corrupt: ${detail}`);
    this.detail = detail;
  }
}

/** Reading the stored record failed; nothing was written or acknowledged. */
export class ReadFailed extends CheckpointError {
  constructor(kind, detail, options) {
    super(`reading the checkpoint record failed (${kind}): ${detail}`, options);
    this.kind = kind;
    this.detail = detail;
  }
}

/** Another writer replaced the record since this manager read it: its worker no longer
 * owns the key. Nothing was written or acknowledged, and every later write of this
 * manager throws Fenced too; to take the key over again, create a new manager. */
export class Fenced extends CheckpointError {
  constructor(detail) {
    super(`fenced: another writer replaced the checkpoint record (${detail})`);
    this.detail = detail;
  }
}

/** The component instance failed (a trap, or a storage or consumer that broke its
 * protocol). The call was abandoned: it may or may not have stored its offset, and
 * acknowledged nothing after a put that did not return. The instance was discarded;
 * the next call runs on a fresh one, which reads the stored record before it writes,
 * as a restarted process would. */
export class ComponentTrapped extends CheckpointError {
  constructor(operation, detail, reopened, reopenError, options) {
    const after = reopened
      ? 'the instance was discarded and a fresh one opened, which reads the stored record before its first write'
      : `the instance was discarded; reopening it failed (${reopenError}) and is retried by the next call`;
    super(`${operation}: the component instance failed: ${detail}; ${after}`, options);
    this.operation = operation;
    this.detail = detail;
    this.reopened = reopened;
  }
}

/** This runtime cannot run the package (its core modules cannot be compiled here, or
 * an AsyncCheckpointManager lacks JSPI). `runtime` names it and `fix` says what to do;
 * no call will ever succeed in this realm, so none is retried. */
export class UnsupportedRuntime extends CheckpointError {
  constructor(runtime, detail, fix, options) {
    super(`pipeline-checkpoint cannot run in ${runtime}: ${detail}. Fix: ${fix}`, options);
    this.runtime = runtime;
    this.detail = detail;
    this.fix = fix;
  }
}

/** An argument the contract cannot carry: an offset that is not an integer in
 * [0, 2^64) (a Number beyond 2^53 - 1 included, since it may already be rounded),
 * batch ids that are not an array of strings, a key that is not a string, a storage or
 * consumer without the calls it needs. Nothing was called. */
export class InvalidArgument extends CheckpointError {}

/** Kinds after which nothing can have been stored, unless the storage says otherwise. */
const NOTHING_STORED = new Set(['invalid-key', 'conflict']);

/** Thrown by a storage to report a failure of one of the contract's kinds (see
 * STORAGE_ERROR_KINDS). Any other error a storage throws is reported as `io`.
 * `options.mayHaveApplied` says whether a failed put may still have stored its value;
 * by default it may, except for `invalid-key` and `conflict`. */
export class StorageFailure extends Error {
  constructor(kind, detail, options = {}) {
    if (!STORAGE_ERROR_KINDS.includes(kind)) {
      throw new TypeError(`unknown storage failure kind ${JSON.stringify(kind)}; one of ${STORAGE_ERROR_KINDS.join(', ')}`);
    }
    super(`${kind}: ${detail}`, options);
    this.name = new.target.name;
    this.kind = kind;
    this.detail = detail;
    /** @type {boolean} */
    this.mayHaveApplied = options.mayHaveApplied ?? !NOTHING_STORED.has(kind);
  }
}

/** Thrown by a versioned `putVersioned` when the key no longer holds the expected
 * version. Nothing was written; `detail` says what is stored instead. */
export class VersionConflict extends StorageFailure {
  constructor(detail, options) {
    super('conflict', detail, { ...options, mayHaveApplied: false });
  }
}

/** Thrown by a consumer's `ack` to say why it failed (see ACK_ERROR_KINDS). Any other
 * error is reported as `unavailable`. */
export class AckFailure extends Error {
  constructor(kind, detail, options) {
    if (!ACK_ERROR_KINDS.includes(kind)) {
      throw new TypeError(`unknown ack failure kind ${JSON.stringify(kind)}; one of ${ACK_ERROR_KINDS.join(', ')}`);
    }
    super(`${kind}: ${detail}`, options);
    this.name = new.target.name;
    this.kind = kind;
    this.detail = detail;
  }
}
