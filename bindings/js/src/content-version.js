// The version of a value derived from its bytes alone, for storages that keep no
// version of their own.

const OFFSET_BASIS = 0xcbf29ce484222325n;
const PRIME = 0x100000001b3n;
const encoder = new TextEncoder();

/**
 * 64-bit FNV-1a of the value's UTF-8 bytes: the scheme of the Rust host library's
 * `content_version` and the Python package's, so that hosts in every language sharing
 * an unversioned store agree on each record's version without storing one beside it.
 * @param {string} value
 * @returns {bigint}
 */
export function contentVersion(value) {
  let hash = OFFSET_BASIS;
  for (const byte of encoder.encode(value)) {
    hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * PRIME);
  }
  return hash;
}
