// Types of `pipeline-checkpoint/node`: the core package plus file storage and consumer.

export * from './index.js';
import type { Consumer, SeedStorage } from './index.js';

export const MAX_KEY_BYTES: 1024;
export const DEFAULT_MAX_VALUE_BYTES: number;
export function validateKey(key: string): void;

/** Each key a file under `root`, replaced durably (temporary file, fsync, rename,
 * directory fsync). Fences the managers of this process only: Node has no flock. */
export class FileStorage implements SeedStorage {
  constructor(root: string, options?: { maxValueBytes?: number });
  readonly root: string;
  pathOf(key: string): string;
  put(key: string, value: string): boolean;
  get(key: string): string | null;
}

/** Appends each acked batch to `path` as a JSON line, fsynced. */
export class FileConsumer implements Consumer {
  constructor(path: string);
  ack(messageIds: string[]): void;
}
