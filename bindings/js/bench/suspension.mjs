// What one JSPI suspension costs in this runtime, apart from the package: a two-function
// wasm module whose export calls an import once. Called plainly, the import returns a
// number; through JSPI (WebAssembly.promising export, WebAssembly.Suspending import) it
// returns a resolved promise, and the wasm stack is suspended until it settles.

/** (module (import "env" "f" (func (result i32))) (func (export "g") (result i32) call 0)) */
export const SUSPENSION_WASM = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,
  0x02, 0x09, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x66, 0x00, 0x00,
  0x03, 0x02, 0x01, 0x00,
  0x07, 0x05, 0x01, 0x01, 0x67, 0x00, 0x01,
  0x0a, 0x06, 0x01, 0x04, 0x00, 0x10, 0x00, 0x0b,
]);

/** Two series over `module` (a compiled SUSPENSION_WASM): the plain call, and the call
 * that suspends once. Each `run(n)` makes n calls. */
export function suspensionSeries(module) {
  const plain = new WebAssembly.Instance(module, { env: { f: () => 1 } }).exports.g;
  const suspending = WebAssembly.promising(new WebAssembly.Instance(module, {
    env: { f: new WebAssembly.Suspending(() => Promise.resolve(1)) },
  }).exports.g);
  return {
    'call/plain': { async run(n) { let sum = 0; for (let i = 0; i < n; i += 1) sum += plain(); return sum; } },
    'call/suspending': { async run(n) { let sum = 0; for (let i = 0; i < n; i += 1) sum += await suspending(); return sum; } },
  };
}
