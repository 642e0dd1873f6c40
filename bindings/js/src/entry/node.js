// `pipeline-checkpoint` in Node.js: the core modules read from the package's files.

import * as loader from '../core-modules/node.js';
import { useCoreModules } from '../instance.js';

useCoreModules(loader);

export * from '../index.js';
