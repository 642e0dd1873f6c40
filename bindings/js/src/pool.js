// Component instances, kept for the next manager: a manager takes one when it opens and
// hands it back when it is closed, so that a pipeline creating a manager per batch (an
// edge function per request) instantiates the component once, not per manager. A live
// manager holds its instance alone, so managers never wait for one another's calls; an
// instance that trapped, or whose manager was never closed, is never handed back.

import { importsThrough } from './host.js';
import { open } from './instance.js';

/** How many idle instances of each build are kept. */
const IDLE_LIMIT = 16;
const idle = { sync: [], jspi: [] };

/** One instance and the manager whose host its imports reach. */
class Lease {
  #binding = { host: null };

  constructor(build) {
    this.build = build;
    /** The instance's checkpoint-manager class. */
    this.Manager = open(importsThrough(this.#binding), { jspi: build === 'jspi' });
  }

  bind(host) {
    this.#binding.host = host;
  }
}

/** An instance of `build` ('sync' or 'jspi') whose imports reach `host`. */
export function take(host, build) {
  const lease = idle[build].pop() ?? new Lease(build);
  lease.bind(host);
  return lease;
}

/** Keeps `lease` for the next manager; its own manager resource must be dropped. */
export function giveBack(lease) {
  lease.bind(null);
  if (idle[lease.build].length < IDLE_LIMIT) idle[lease.build].push(lease);
}

/** How many instances wait in the pool, for tests. */
export function idleCount(build) {
  return idle[build].length;
}
