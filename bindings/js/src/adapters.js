// The user's storage as the contract's two calls: `get` (a value and its version) and a
// conditional `put`.
//
// A versioned storage (getVersioned/putVersioned) is called as it is. The original
// pipelines' unversioned storage (put/get) is wrapped the way the Rust host library's
// ProcessFenced wraps one: a value's version is its contentVersion, and put reads the
// current value and compares its version before it writes. JavaScript runs one call at
// a time per realm, so that compare-then-write is atomic against the other managers of
// this realm; it fences a stale manager here, not a stale worker in another process or
// worker thread, which can read, be overtaken and still overwrite. Shared stores need
// the versioned calls.
//
// Outcomes are plain objects, {tag, a, b, cause}: one per storage call, and the caller
// only branches on `tag`.

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

function failure(call, error) {
  if (error instanceof StorageFailure) {
    return { tag: 'failed', a: error.kind, b: `${call}: ${error.detail}`, cause: error };
  }
  const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { tag: 'failed', a: 'io', b: `${call} threw ${what}`, cause: error };
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

const invalidData = (key) => ({
  tag: 'failed', a: 'invalid-data', b: `the value under ${JSON.stringify(key)} is not valid UTF-8 text`, cause: null,
});

/** A storage offering getVersioned/putVersioned: its own versions and compare-and-swap,
 * so fencing holds across processes. */
class VersionedAdapter {
  constructor(storage) {
    this.storage = storage;
  }

  get(key) {
    let found;
    try {
      found = this.storage.getVersioned(key);
    } catch (e) {
      return failure('storage.getVersioned', e);
    }
    if (found === null || found === undefined) return { tag: 'absent', a: null, b: null, cause: null };
    if (!Array.isArray(found) || found.length !== 2) {
      throw new ProtocolViolation(`storage.getVersioned returned ${describe(found)}, expected [value, version] or null`);
    }
    const [value, version] = found;
    const text = checkValue('storage.getVersioned', value);
    checkVersion('storage.getVersioned', version);
    return text ? { tag: 'found', a: value, b: version, cause: null } : invalidData(key);
  }

  put(key, value, expected) {
    let version;
    try {
      version = this.storage.putVersioned(key, value, expected);
    } catch (e) {
      return failure('storage.putVersioned', e);
    }
    return { tag: 'ok', a: checkVersion('storage.putVersioned', version), b: null, cause: null };
  }
}

/** The original pipelines' put/get storage, versioned by content and fenced within
 * this realm only (see the top of this file). */
class ProcessFencedAdapter {
  constructor(storage) {
    this.storage = storage;
  }

  get(key) {
    let value;
    try {
      value = this.storage.get(key);
    } catch (e) {
      return failure('storage.get', e);
    }
    if (value === null || value === undefined) return { tag: 'absent', a: null, b: null, cause: null };
    if (!checkValue('storage.get', value)) return invalidData(key);
    return { tag: 'found', a: value, b: contentVersion(value), cause: null };
  }

  put(key, value, expected) {
    const current = this.get(key);
    if (current.tag === 'failed') {
      return { ...current, b: `reading before the write: ${current.b}` };
    }
    const have = current.b;
    if (have !== expected) {
      return { tag: 'failed', a: 'conflict', b: conflict(key, have, expected), cause: null };
    }
    let ok;
    try {
      ok = this.storage.put(key, value);
    } catch (e) {
      return failure('storage.put', e);
    }
    if (ok === true) return { tag: 'ok', a: contentVersion(value), b: null, cause: null };
    if (ok === false) return { tag: 'failed', a: 'io', b: 'storage.put returned false', cause: null };
    throw new ProtocolViolation(`storage.put returned ${describe(ok)}, expected true (durable) or false (failed)`);
  }
}

/** The conflict text, worded as the Rust host's check_expected words it. */
function conflict(key, have, want) {
  if (want === null) return `${key}: expected absent, holds version ${have}`;
  if (have === null) return `${key}: expected version ${want}, holds nothing`;
  return `${key}: expected version ${want}, holds version ${have}`;
}

const callable = (object, name) => object !== null && typeof object === 'object' && typeof object[name] === 'function';

/** The adapter for `storage`: versioned if it offers both versioned calls. */
export function adapt(storage) {
  const hasGet = callable(storage, 'getVersioned');
  const hasPut = callable(storage, 'putVersioned');
  if (hasGet && hasPut) return new VersionedAdapter(storage);
  if (hasGet || hasPut) {
    const missing = hasGet ? 'putVersioned' : 'getVersioned';
    throw new InvalidArgument(`the storage offers one versioned call but not ${missing}; offer both, or neither`);
  }
  if (callable(storage, 'get') && callable(storage, 'put')) return new ProcessFencedAdapter(storage);
  throw new InvalidArgument(`${describe(storage)} is not a storage: it needs put(key, value) and get(key), `
    + 'or putVersioned and getVersioned');
}
