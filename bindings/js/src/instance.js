// Instances of the component (pool.js keeps them for the managers), from core modules
// compiled once per realm.
//
// How the core modules reach this realm depends on the runtime, so each entry point of
// the package (src/entry/) names its loader before any manager exists: Node reads the
// .wasm files, Cloudflare Workers import them as modules, Deno and the rest compile
// them from base64. Both glues (sync and JSPI) share the same core modules.

import { instantiate as instantiateJspi } from '../generated/jspi/component.js';
import { instantiate as instantiateSync } from '../generated/sync/component.js';
import { UnsupportedRuntime } from './errors.js';
import { hasJspi, jspiFix, runtimeName } from './runtime.js';

let loader = null;
const compiled = new Map();
/** Set once a core module could not be compiled here: it never will be, so every later
 * manager gets the same error instead of trying again. */
let unsupported = null;

/** Called by the entry point: `loader.compileCoreModule(name)` gives a core module. */
export function useCoreModules(coreModuleLoader) {
  loader ??= coreModuleLoader;
}

function coreModule(name) {
  let module = compiled.get(name);
  if (module !== undefined) return module;
  if (unsupported !== null) throw unsupported;
  if (loader === null) {
    throw new UnsupportedRuntime(runtimeName(), 'no loader was named for the core modules',
      "import 'pipeline-checkpoint' by its package name (its exports pick the loader), not a file inside it");
  }
  try {
    module = loader.compileCoreModule(name);
  } catch (e) {
    unsupported = cannotLoad(name, e);
    throw unsupported;
  }
  compiled.set(name, module);
  return module;
}

function cannotLoad(name, error) {
  const runtime = runtimeName();
  const why = `compiling its core module ${name} from ${loader.source} failed (${error?.name}: ${error?.message})`;
  if (/disallowed|code generation/i.test(String(error?.message))) {
    return new UnsupportedRuntime(runtime, why,
      "this runtime compiles no WebAssembly from bytes: import 'pipeline-checkpoint' with the `workerd` export "
      + 'condition (wrangler and `esbuild --conditions=workerd` pick it), which imports the core modules as '
      + '.wasm modules; with miniflare alone, add a CompiledWasm rule for **/*.wasm', { cause: error });
  }
  return new UnsupportedRuntime(runtime, why,
    'the package needs the WebAssembly JS API: synchronous compilation (new WebAssembly.Module) or .wasm '
    + 'module imports (the `workerd` export condition)', { cause: error });
}

/** How the core modules reach this realm, for tests and error messages. */
export function loaderSource() {
  return loader?.source ?? null;
}

/** Throws UnsupportedRuntime where the JSPI build cannot run. */
export function requireJspi(what) {
  if (!hasJspi()) {
    throw new UnsupportedRuntime(runtimeName(), `${what} needs WebAssembly JSPI (WebAssembly.Suspending), which this runtime lacks`,
      jspiFix());
  }
}

/** A fresh instance with `imports`, from the sync or the JSPI glue; returns its
 * checkpoint-manager class. */
export function open(imports, { jspi }) {
  const root = (jspi ? instantiateJspi : instantiateSync)(coreModule, imports);
  return root.manager.CheckpointManager;
}
