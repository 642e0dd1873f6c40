// FileConsumer: acknowledgements appended to a file, one JSON line per batch, fsynced.

import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

import { AckFailure } from '../errors.js';

/** A consumer that appends each acknowledged batch to `path` as a JSON array and syncs
 * it before returning: a stand-in for a broker in examples, benchmarks and tests. */
export class FileConsumer {
  constructor(path) {
    this.path = path;
  }

  ack(messageIds) {
    let fd;
    try {
      fd = openSync(this.path, 'a');
      const line = Buffer.from(`${JSON.stringify(messageIds)}\n`);
      for (let done = 0; done < line.length;) done += writeSync(fd, line, done);
      fsyncSync(fd);
    } catch (e) {
      throw new AckFailure('unavailable', `appending to ${this.path}: ${e.code ?? e.message}`, { cause: e });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
}
