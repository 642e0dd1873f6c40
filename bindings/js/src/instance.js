// One instance of the component per manager, from core modules compiled once per realm.
//
// The core modules ship inside generated/core-modules.js as base64, so that loading
// them needs no file system, fetch or bundler plugin: only atob and the WebAssembly
// JS API, which Node, Deno, Bun and browsers all have.

import { CORE_MODULES } from '../generated/core-modules.js';
import { instantiate } from '../generated/jco/component.js';

const compiled = new Map();

function decode(base64) {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function coreModule(name) {
  let module = compiled.get(name);
  if (module === undefined) {
    const base64 = CORE_MODULES[name];
    if (base64 === undefined) throw new Error(`the component has no core module ${name}: rebuild the package`);
    module = new WebAssembly.Module(decode(base64));
    compiled.set(name, module);
  }
  return module;
}

/** A fresh instance with `imports`; returns its checkpoint-manager class. */
export function open(imports) {
  const root = instantiate(coreModule, imports);
  return root.manager.CheckpointManager;
}
