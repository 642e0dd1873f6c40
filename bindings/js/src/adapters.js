// The user's storage as the contract's two calls: `get` (a value and its version) and a
// conditional `put`.
//
// A versioned storage (getVersioned/putVersioned) is called as it is. The original
// pipelines' unversioned storage (put/get) is wrapped the way the Rust host library's
// ProcessFenced wraps one: a value's version is its contentVersion, and put reads the
// current value and compares its version before it writes. A manager runs one call at a
// time and JavaScript one task at a time per realm, so with a synchronous storage that
// compare-then-write is atomic against the other managers of this realm; it fences a
// stale manager here, not a stale worker in another process, which can read, be
// overtaken and still overwrite. With an asynchronous storage another task can write
// between the read and the write, so not even that: shared stores need the versioned
// calls.
//
// An adapter serves both managers: CheckpointManager, whose storage must answer at once
// (a promise is a protocol violation), and AsyncCheckpointManager, whose storage may
// answer with a promise, waited for through JSPI. Outcomes are plain objects,
// {tag, a, b, cause, mayHaveApplied}, or promises of them in the asynchronous mode.

import { contentVersion } from './content-version.js';
import { InvalidArgument, StorageFailure } from './errors.js';

const U64_LIMIT = 1n << 64n;

/** A storage or consumer returned something its protocol does not allow: the host
 * abandons the component's call rather than guess. */
export class ProtocolViolation extends Error {
  constructor(message) {
    super(message);
    this.name = 'ProtocolViolation';
  }
}

export const isThenable = (value) => value !== null && (typeof value === 'object' || typeof value === 'function')
  && typeof value.then === 'function';

/**
 * Calls `call()` and hands its value to `onValue`, or what it threw or rejected with to
 * `onError`: at once for a plain value, once settled for a promise where the adapter may
 * wait (`asynchronous`). A synchronous manager cannot wait: the promise is abandoned
 * (its rejection observed, never unhandled) and `abandoned(what)` says what that means.
 */
export function settle(asynchronous, call, onValue, onError, abandoned) {
  let result;
  try {
    result = call();
  } catch (e) {
    return onError(e);
  }
  if (!isThenable(result)) return onValue(result);
  if (asynchronous) return Promise.resolve(result).then(onValue, onError);
  Promise.resolve(result).catch(() => {});
  throw new ProtocolViolation(abandoned);
}

const syncOnly = (call, consequence) => `${call} returned a Promise, but CheckpointManager calls its storage `
  + `synchronously and cannot wait for it (${consequence}): use AsyncCheckpointManager, which waits through JSPI`;

function failure(call, error) {
  const mayHaveApplied = error instanceof StorageFailure ? error.mayHaveApplied : true;
  if (error instanceof StorageFailure) {
    return { tag: 'failed', a: error.kind, b: `${call}: ${error.detail}`, cause: error, mayHaveApplied };
  }
  const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { tag: 'failed', a: 'io', b: `${call} threw ${what}`, cause: error, mayHaveApplied };
}

function checkValue(call, value) {
  if (typeof value !== 'string') {
    throw new ProtocolViolation(`${call} returned ${describe(value)}, expected a string or null`);
  }
  // A lone surrogate has no UTF-8 form: such a value is invalid data, not text.
  return value.isWellFormed();
}

function checkVersion(call, version) {
  if (typeof version !== 'bigint' || version < 0n || version >= U64_LIMIT) {
    throw new ProtocolViolation(`${call} returned version ${describe(version)}, expected a bigint in [0, 2^64)`);
  }
  return version;
}

/** What a value is, for a message: its type, and its text if it is short. */
export function describe(value) {
  if (value === null) return 'null';
  const type = typeof value;
  if (type === 'object') return value.constructor?.name ?? 'object';
  const text = String(value);
  return text.length <= 32 ? `${type} ${text}` : type;
}

const absent = { tag: 'absent', a: null, b: null, cause: null };
const invalidData = (key) => ({
  tag: 'failed', a: 'invalid-data', b: `the value under ${JSON.stringify(key)} is not valid UTF-8 text`, cause: null,
});

/** A storage offering getVersioned/putVersioned: its own versions and compare-and-swap,
 * so fencing holds across processes. */
class VersionedAdapter {
  constructor(storage, asynchronous) {
    this.storage = storage;
    this.asynchronous = asynchronous;
  }

  get(key) {
    return settle(this.asynchronous, () => this.storage.getVersioned(key), (found) => {
      if (found === null || found === undefined) return absent;
      if (!Array.isArray(found) || found.length !== 2) {
        throw new ProtocolViolation(`storage.getVersioned returned ${describe(found)}, expected [value, version] or null`);
      }
      const [value, version] = found;
      const text = checkValue('storage.getVersioned', value);
      checkVersion('storage.getVersioned', version);
      return text ? { tag: 'found', a: value, b: version, cause: null } : invalidData(key);
    }, (e) => failure('storage.getVersioned', e), syncOnly('storage.getVersioned', 'the read is abandoned'));
  }

  put(key, value, expected) {
    return settle(this.asynchronous, () => this.storage.putVersioned(key, value, expected),
      (version) => ({ tag: 'ok', a: checkVersion('storage.putVersioned', version), b: null, cause: null }),
      (e) => failure('storage.putVersioned', e),
      syncOnly('storage.putVersioned', 'the write is abandoned unacknowledged, although the store may still apply it'));
  }
}

/** The original pipelines' put/get storage, versioned by content and fenced within
 * this realm at most (see the top of this file). */
class ProcessFencedAdapter {
  constructor(storage, asynchronous) {
    this.storage = storage;
    this.asynchronous = asynchronous;
  }

  get(key) {
    return settle(this.asynchronous, () => this.storage.get(key), (value) => {
      if (value === null || value === undefined) return absent;
      if (!checkValue('storage.get', value)) return invalidData(key);
      return { tag: 'found', a: value, b: contentVersion(value), cause: null };
    }, (e) => failure('storage.get', e), syncOnly('storage.get', 'the read is abandoned'));
  }

  put(key, value, expected) {
    const current = this.get(key);
    const compared = (found) => this.#putIfUnchanged(key, value, expected, found);
    return isThenable(current) ? current.then(compared) : compared(current);
  }

  #putIfUnchanged(key, value, expected, current) {
    if (current.tag === 'failed') {
      return { ...current, b: `reading before the write: ${current.b}`, mayHaveApplied: false };
    }
    const have = current.b;
    if (have !== expected) {
      return { tag: 'failed', a: 'conflict', b: conflict(key, have, expected), cause: null, mayHaveApplied: false };
    }
    return settle(this.asynchronous, () => this.storage.put(key, value), (ok) => {
      if (ok === true) return { tag: 'ok', a: contentVersion(value), b: null, cause: null };
      if (ok === false) return { tag: 'failed', a: 'io', b: 'storage.put returned false', cause: null, mayHaveApplied: true };
      throw new ProtocolViolation(`storage.put returned ${describe(ok)}, expected true (durable) or false (failed)`);
    }, (e) => failure('storage.put', e),
    syncOnly('storage.put', 'the write is abandoned unacknowledged, although the store may still apply it'));
  }
}

/** The conflict text, worded as the Rust host's check_expected words it. */
function conflict(key, have, want) {
  if (want === null) return `${key}: expected absent, holds version ${have}`;
  if (have === null) return `${key}: expected version ${want}, holds nothing`;
  return `${key}: expected version ${want}, holds version ${have}`;
}

const callable = (object, name) => object !== null && typeof object === 'object' && typeof object[name] === 'function';

/** Whether `fn` is declared async: such a storage or consumer always answers with a
 * promise, which a synchronous manager can refuse before the first call. */
export const isAsyncFunction = (fn) => typeof fn === 'function'
  && (fn.constructor?.name === 'AsyncFunction' || fn.constructor?.name === 'AsyncGeneratorFunction');

/** The calls of `storage` that a synchronous manager would use, whichever are async. */
export function asyncCalls(storage) {
  return ['getVersioned', 'putVersioned', 'get', 'put'].filter((name) => isAsyncFunction(storage?.[name]));
}

/** The adapter for `storage`: versioned if it offers both versioned calls. With
 * `asynchronous`, its calls may return promises and so may the adapter's. */
export function adapt(storage, { asynchronous }) {
  const hasGet = callable(storage, 'getVersioned');
  const hasPut = callable(storage, 'putVersioned');
  if (hasGet && hasPut) return new VersionedAdapter(storage, asynchronous);
  if (hasGet || hasPut) {
    const missing = hasGet ? 'putVersioned' : 'getVersioned';
    throw new InvalidArgument(`the storage offers one versioned call but not ${missing}; offer both, or neither`);
  }
  if (callable(storage, 'get') && callable(storage, 'put')) return new ProcessFencedAdapter(storage, asynchronous);
  throw new InvalidArgument(`${describe(storage)} is not a storage: it needs put(key, value) and get(key), `
    + 'or putVersioned and getVersioned');
}
