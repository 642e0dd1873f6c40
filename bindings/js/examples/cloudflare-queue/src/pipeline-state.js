// The pipeline's durable state, in one SQLite-backed Durable Object: its checkpoint
// record (compare-and-swap in a transaction, through the package's
// DurableObjectStorage) and its output, the sink. Every request for the object reaches
// this one instance, and its answer leaves only once its writes are durable, so the
// Worker that awaited putVersioned acks after the checkpoint is on disk.

import { DurableObject } from 'cloudflare:workers';
import { VersionConflict } from 'pipeline-checkpoint';
import { DurableObjectStorage } from 'pipeline-checkpoint/cloudflare';

export class PipelineState extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.records = new DurableObjectStorage(ctx.storage);
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS output (offset INTEGER NOT NULL, result TEXT NOT NULL)');
  }

  getVersioned(key) {
    return this.records.getVersioned(key);
  }

  /** A conflict crosses RPC as a value: an error's class does not survive the trip. */
  putVersioned(key, value, expected) {
    try {
      return { version: this.records.putVersioned(key, value, expected) };
    } catch (e) {
      if (e instanceof VersionConflict) return { conflict: e.detail };
      throw e;
    }
  }

  /** The sink: what processing each message produced, appended in order. */
  emit(results) {
    for (const { offset, result } of results) this.ctx.storage.sql.exec('INSERT INTO output VALUES (?, ?)', offset, result);
  }

  output() {
    return this.ctx.storage.sql.exec('SELECT offset, result FROM output ORDER BY rowid').toArray();
  }
}
