// Which JavaScript runtime this is, and whether it has JSPI: for the errors that tell a
// user why the package cannot run here and what to do instead.

/** The runtime's name and version, as a user would name it. */
export function runtimeName() {
  if (globalThis.navigator?.userAgent === 'Cloudflare-Workers') return 'Cloudflare Workers (workerd)';
  // Deno and Bun also define process.versions.node: ask for them first.
  if (globalThis.Deno?.version?.deno) return `Deno ${globalThis.Deno.version.deno}`;
  if (globalThis.Bun?.version) return `Bun ${globalThis.Bun.version}`;
  if (globalThis.process?.versions?.node) return `Node.js ${globalThis.process.versions.node}`;
  return 'this JavaScript runtime';
}

/** Whether WebAssembly's JS Promise Integration is on: a wasm call can then wait for a
 * promise an import returns. */
export function hasJspi() {
  return typeof WebAssembly.Suspending === 'function' && typeof WebAssembly.promising === 'function';
}

/** What to do where JSPI is missing. */
export function jspiFix() {
  return 'JSPI is on by default in Node.js 24.22 and later, Deno 2.9 and later, and Cloudflare Workers; '
    + 'or keep CheckpointManager with a storage and a consumer that answer synchronously';
}
