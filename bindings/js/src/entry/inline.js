// `pipeline-checkpoint` in Deno and every other runtime (the `deno` and `default` export
// conditions): the core modules compiled from base64 carried in a JS module, which
// needs no file system, fetch or permission.

import * as loader from '../core-modules/inline.js';
import { useCoreModules } from '../instance.js';

useCoreModules(loader);

export * from '../index.js';
