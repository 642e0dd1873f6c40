// The component instance a manager calls: taken from the pool when the manager opens,
// replaced by a fresh one after a trap (the failed one is never called again, since it
// may be mid-update), and handed back to the pool when the manager is closed.

import { describeError } from './calls.js';
import { CheckpointError, ComponentTrapped, UnsupportedRuntime } from './errors.js';
import { giveBack, take } from './pool.js';

const dispose = Symbol.dispose ?? Symbol.for('dispose');

export class InstanceSlot {
  #lease = null;
  /** The instance's checkpoint-manager resource, or null until one is open. */
  manager = null;
  closed = false;

  /** @param build 'sync' or 'jspi'. */
  constructor(host, key, build) {
    this.host = host;
    this.key = key;
    this.build = build;
  }

  /** Opens an instance for the manager being created: a runtime that cannot run the
   * package, or an instance that cannot start, is an error now. */
  openFirst() {
    const error = this.#open();
    if (error instanceof UnsupportedRuntime) throw error;
    if (error !== null) throw new ComponentTrapped('opening the manager', describeError(error), false, describeError(error), { cause: error });
  }

  /** The resource to call for `operation`, opening an instance if the last one failed. */
  current(operation) {
    if (this.closed) throw new CheckpointError(`${operation} was called on a closed manager: create a new one`);
    if (this.manager === null) {
      const error = this.#open();
      if (error instanceof UnsupportedRuntime) throw error;
      if (error !== null) {
        throw new ComponentTrapped(operation, "the previous call's instance failed", false, describeError(error), { cause: error });
      }
    }
    return this.manager;
  }

  /** After a trap: drops the instance and opens a fresh one; returns what to throw. */
  recover(operation, trap) {
    const fault = this.host.faulted ?? trap;
    this.#lease = null;
    this.manager = null;
    const error = this.#open();
    return new ComponentTrapped(operation, describeError(fault), error === null, error && describeError(error), { cause: fault });
  }

  /** Drops the manager resource and hands the instance back to the pool. */
  close() {
    if (this.closed) return;
    this.closed = true;
    const lease = this.#lease;
    const manager = this.manager;
    this.#lease = null;
    this.manager = null;
    if (lease === null || manager === null) return;
    manager[dispose]();
    giveBack(lease);
  }

  /** Takes an instance and creates the resource; returns why it could not, or null. */
  #open() {
    this.host.begin(null);
    try {
      this.#lease = take(this.host, this.build);
      this.manager = new this.#lease.Manager(this.key);
      return null;
    } catch (e) {
      this.#lease = null;
      this.manager = null;
      return e;
    }
  }
}
