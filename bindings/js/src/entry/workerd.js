// `pipeline-checkpoint` in Cloudflare Workers (the `workerd` export condition): the core
// modules imported as .wasm modules, since workerd compiles no WebAssembly from bytes.

import * as loader from '../core-modules/workerd.js';
import { useCoreModules } from '../instance.js';

useCoreModules(loader);

export * from '../index.js';
