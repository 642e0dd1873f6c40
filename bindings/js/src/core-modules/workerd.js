// Cloudflare Workers: the core modules imported as .wasm modules. workerd compiles no
// WebAssembly from bytes at run time, so they must reach it as modules (wrangler and
// esbuild with the `workerd` condition upload them as CompiledWasm; miniflare needs a
// CompiledWasm rule for `**/*.wasm`), already compiled when this file is evaluated.

import core from '../../generated/wasm/component.core.wasm';
import core2 from '../../generated/wasm/component.core2.wasm';
import core3 from '../../generated/wasm/component.core3.wasm';

export const source = 'the .wasm files imported as modules';

const MODULES = {
  'component.core.wasm': core,
  'component.core2.wasm': core2,
  'component.core3.wasm': core3,
};

export function compileCoreModule(name) {
  const module = MODULES[name];
  if (!(module instanceof WebAssembly.Module)) {
    throw new TypeError(`${name} was imported as ${typeof module}, not a WebAssembly.Module: `
      + 'give .wasm files the CompiledWasm module rule');
  }
  return module;
}
