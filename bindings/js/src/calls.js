// What both managers share about a call: the arguments they accept, and how the
// contract's checkpoint-error becomes the error a caller sees.

import { describe } from './adapters.js';
import {
  AckFailed, CheckpointError, CorruptRecord, Fenced, InvalidArgument, OffsetRegression, ReadFailed, WriteFailed,
} from './errors.js';

/** Where a manager keeps its record unless told otherwise: the original pipelines' key. */
export const CHECKPOINT_KEY = 'pipeline/checkpoint.json';

const U64_LIMIT = 1n << 64n;

export function checkedKey(key) {
  if (key !== undefined && key !== null && typeof key !== 'string') {
    throw new InvalidArgument(`key must be a string, not ${describe(key)}`);
  }
  return key ?? undefined;
}

export function checkedConsumer(consumer) {
  if (consumer === null || typeof consumer !== 'object' || typeof consumer.ack !== 'function') {
    throw new InvalidArgument(`${describe(consumer)} is not a consumer: it needs ack(messageIds)`);
  }
  return consumer;
}

export function checkedOffset(offset) {
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

export function checkedIds(ids) {
  if (!Array.isArray(ids)) throw new InvalidArgument(`batchIds must be an array of strings, not ${describe(ids)}`);
  for (let i = 0; i < ids.length; i += 1) {
    if (typeof ids[i] !== 'string') throw new InvalidArgument(`batchIds[${i}] is ${describe(ids[i])}, not a string`);
  }
  return ids;
}

/** jco throws an export's error case as an Error whose own `payload` is {tag, val}. */
export function isContractError(e) {
  return e instanceof Error && Object.hasOwn(e, 'payload') && typeof e.payload?.tag === 'string';
}

export function describeError(error) {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The WriteFailed for a failed put, from what the host saw of it. */
export function writeFailed(failure, host) {
  const { putThrew, cause, putMayHaveApplied } = host;
  return new WriteFailed(failure.val.tag, failure.val.val, putMayHaveApplied, { cause: putThrew ?? cause ?? undefined });
}

/** The error for a checkpoint-error case other than write-failed. */
export function contractError(failure, offset, host) {
  const cause = host.cause ?? undefined;
  const { tag, val } = failure;
  switch (tag) {
    case 'ack-failed': return new AckFailed(offset ?? -1n, val.tag, val.val, { cause });
    case 'offset-regression': return new OffsetRegression(val.durable, val.requested);
    case 'corrupt-record': return new CorruptRecord(val);
    case 'read-failed': return new ReadFailed(val.tag, val.val, { cause });
    case 'fenced': return new Fenced(val);
    case 'write-failed': return writeFailed(failure, host);
    default: return new CheckpointError(`the component returned an unknown error case ${tag}`);
  }
}
