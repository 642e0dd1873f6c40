// A Worker that imports the package without the `workerd` condition (as a bundler
// that does not know Workers would): the error it gets when a manager is created.

import { CheckpointManager, MemoryConsumer, MemoryStorage, UnsupportedRuntime } from 'pipeline-checkpoint';

export default {
  async fetch() {
    const seen = [];
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        new CheckpointManager(new MemoryStorage(), new MemoryConsumer());
        seen.push('loaded');
      } catch (e) {
        seen.push({ unsupported: e instanceof UnsupportedRuntime, runtime: e.runtime, message: e.message });
      }
    }
    return Response.json(seen);
  },
};
