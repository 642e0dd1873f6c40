// Node: the core modules read from the package's .wasm files and compiled once.

import { readFileSync } from 'node:fs';

export const source = 'the .wasm files beside the package, read from disk';

export function compileCoreModule(name) {
  return new WebAssembly.Module(readFileSync(new URL(`../../generated/wasm/${name}`, import.meta.url)));
}
