// Deno and any other runtime: the core modules carried in a JS module as base64 and
// compiled from bytes. Loading them needs no file or network permission (Deno grants
// module imports without one), only atob and the WebAssembly JS API.

import { CORE_MODULES } from '../../generated/core-modules.js';

export const source = 'base64 in a JS module, compiled from bytes';

export function compileCoreModule(name) {
  const base64 = CORE_MODULES[name];
  if (base64 === undefined) throw new Error(`the package has no core module ${name}: rebuild it`);
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  return new WebAssembly.Module(bytes);
}
