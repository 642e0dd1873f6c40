// FileStorage: each key a file under a root directory, replaced atomically and durably.
//
// Node has no advisory file lock (flock), so this storage offers the original
// pipelines' put/get, not the versioned calls: a manager fences the other managers of
// its own process over it (versions are content hashes, the same as the Rust and Python
// FileStorage compute for the same file), not a writer in another process. It keeps the
// Rust and Python storages' layout and key rules, so that `root/pipeline/checkpoint.json`
// is the file every one of them, and the original Python pipelines, read.

import { randomBytes } from 'node:crypto';
import {
  closeSync, constants, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import { StorageFailure } from '../errors.js';

export const MAX_KEY_BYTES = 1024;
const MAX_SEGMENT_BYTES = 255;
/** The largest record read; anything larger is not a checkpoint record. */
export const DEFAULT_MAX_VALUE_BYTES = 1 << 20;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Refuses a key that is unsafe as a relative path under the root, with the Rust and
 * Python hosts' rules. */
export function validateKey(key) {
  const refuse = (rule) => new StorageFailure('invalid-key', `${JSON.stringify(key.length <= MAX_KEY_BYTES ? key : `${key.slice(0, 64)}...`)} ${rule}`);
  if (typeof key !== 'string') throw new StorageFailure('invalid-key', `a key is a string, not ${typeof key}`);
  if (key === '') throw refuse('is empty');
  const size = encoder.encode(key).length;
  if (size > MAX_KEY_BYTES) throw refuse(`is ${size} bytes long; the limit is ${MAX_KEY_BYTES}`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(key)) throw refuse('contains a control character');
  if (key.includes('\\')) throw refuse('contains a backslash');
  if (key.startsWith('/')) throw refuse("is absolute (starts with '/')");
  if (key.endsWith('/')) throw refuse("ends with '/'");
  for (const segment of key.split('/')) {
    if (segment === '') throw refuse("has an empty segment ('//')");
    if (segment === '.' || segment === '..') throw refuse(`has a '${segment}' segment`);
    if (segment.startsWith('.')) throw refuse(`has a segment starting with '.' ('${segment}')`);
    if (encoder.encode(segment).length > MAX_SEGMENT_BYTES) throw refuse(`has a segment over ${MAX_SEGMENT_BYTES} bytes`);
  }
}

/** `mayHaveApplied`: whether the failure came after the rename made the new value
 * visible (only a failed directory sync does); before it, the old value is whole. */
function osFailure(op, path, error, mayHaveApplied = false) {
  let kind = 'io';
  if (error.code === 'ENOSPC' || error.code === 'EDQUOT') kind = 'no-space';
  else if (error.code === 'EACCES' || error.code === 'EPERM' || error.code === 'EROFS') kind = 'access-denied';
  return new StorageFailure(kind, `${op} ${path}: ${error.code ?? error.message}`, { cause: error, mayHaveApplied });
}

function syncDirectory(path) {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class FileStorage {
  /**
   * @param {string} root the directory that holds the records (created if missing).
   * @param {{maxValueBytes?: number}} options
   */
  constructor(root, { maxValueBytes = DEFAULT_MAX_VALUE_BYTES } = {}) {
    this.root = resolve(root);
    this.maxValueBytes = maxValueBytes;
    this.#createDirectories(this.root);
  }

  /** The file that holds `key`, once the key is validated. */
  pathOf(key) {
    validateKey(key);
    return join(this.root, key);
  }

  /** The value under `key`, or null: a regular file, never read through a symbolic
   * link, never blocking on a FIFO, at most maxValueBytes. */
  get(key) {
    const path = this.pathOf(key);
    let fd;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      if (e.code === 'ENOENT') return null;
      if (e.code === 'ELOOP') throw new StorageFailure('invalid-data', `${path} is a symbolic link; records are never read through one`);
      throw osFailure('reading', path, e);
    }
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw new StorageFailure('invalid-data', `${path} is not a regular file`);
      // Sized by the file, not the limit: a record is tens of bytes and this runs on
      // every write. One byte over the limit is enough to tell an oversized file, and
      // a file that grows while it is read only grows the buffer up to that.
      const limit = this.maxValueBytes + 1;
      let buffer = Buffer.allocUnsafe(Math.min(limit, stat.size + 1));
      let size = 0;
      for (let n; (n = readSync(fd, buffer, size, buffer.length - size, null)) > 0;) {
        size += n;
        if (size < buffer.length) continue;
        if (buffer.length === limit) break;
        const grown = Buffer.allocUnsafe(Math.min(limit, buffer.length * 2));
        buffer.copy(grown, 0, 0, size);
        buffer = grown;
      }
      if (size > this.maxValueBytes) {
        throw new StorageFailure('invalid-data', `${path} is over the ${this.maxValueBytes}-byte limit on records: not a checkpoint record`);
      }
      try {
        return decoder.decode(buffer.subarray(0, size));
      } catch {
        throw new StorageFailure('invalid-data', `${path} is not UTF-8`);
      }
    } catch (e) {
      throw e instanceof StorageFailure ? e : osFailure('reading', path, e);
    } finally {
      closeSync(fd);
    }
  }

  /** Replaces the value under `key` durably: a temporary file beside it, written and
   * fsynced, renamed over it, the directory fsynced. True once durable; a failure
   * throws a StorageFailure naming its kind (no-space, access-denied, io) and leaves
   * the previous value whole. */
  put(key, value) {
    const target = this.pathOf(key);
    const directory = dirname(target);
    this.#createDirectories(directory);
    try {
      if (lstatSync(target).isSymbolicLink()) {
        throw new StorageFailure('access-denied', `${target} is a symbolic link; records are never written through one`,
          { mayHaveApplied: false });
      }
    } catch (e) {
      if (e instanceof StorageFailure) throw e;
      if (e.code !== 'ENOENT') throw osFailure('inspecting', target, e);
    }
    const name = key.slice(key.lastIndexOf('/') + 1);
    const temp = join(directory, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
    let renamed = false;
    try {
      let fd;
      try {
        fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o666);
      } catch (e) {
        throw osFailure('creating a temporary file in', directory, e);
      }
      try {
        const data = encoder.encode(value);
        for (let done = 0; done < data.length;) done += writeSync(fd, data, done);
        // The data must be on disk before the rename makes it visible, or a crash can
        // leave the name pointing at an empty file.
        fsyncSync(fd);
      } catch (e) {
        throw osFailure('writing', temp, e);
      } finally {
        closeSync(fd);
      }
      try {
        renameSync(temp, target);
        renamed = true;
      } catch (e) {
        throw osFailure('replacing', target, e);
      }
      // Until the directory is synced, power loss can undo the rename and bring the
      // old value back after success was reported.
      try {
        syncDirectory(directory);
      } catch (e) {
        throw osFailure('syncing directory', directory, e, true);
      }
      return true;
    } finally {
      if (!renamed) {
        try { unlinkSync(temp); } catch { /* never created, or already gone */ }
      }
    }
  }

  /** Creates `directory` and its missing parents, syncing each new entry's parent so
   * that the directories survive a crash too. */
  #createDirectories(directory) {
    const missing = [];
    for (let current = resolve(directory); ; current = dirname(current)) {
      let stat = null;
      try { stat = lstatSync(current); } catch (e) { if (e.code !== 'ENOENT') throw osFailure('inspecting', current, e); }
      if (stat !== null) {
        if (!stat.isDirectory()) throw new StorageFailure('io', `${current} exists and is not a directory`, { mayHaveApplied: false });
        break;
      }
      missing.push(current);
      if (dirname(current) === current) break;
    }
    for (const path of missing.reverse()) {
      try {
        mkdirSync(path);
      } catch (e) {
        if (e.code !== 'EEXIST') throw osFailure('creating directory', path, e);
      }
      try {
        syncDirectory(dirname(path));
      } catch (e) {
        throw osFailure('syncing directory', dirname(path), e);
      }
    }
  }
}
