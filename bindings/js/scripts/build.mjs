// Builds `generated/` from the checkpoint component: jco's transpiled bindings plus the
// component's core modules inlined as base64, so that the package loads in any runtime
// without `fs` or `fetch`.
//
// Run by npm as the `prepare` script, which npm runs for a local folder install
// (`npm install ./bindings/js`, whether from the clone or another project) and before
// packing, but not when a packed tarball is installed: a published package ships
// `generated/` and builds nothing on the user's machine.
//
// The component is found in this order: the file named by PIPELINE_CHECKPOINT_WASM,
// else cargo's canonical output in the clone, else the canonical cargo build run from
// the clone's root. Every run transpiles again, so a stale build can never hide a change
// to the component; `generated/component.json` records the SHA-256 of what was built.

import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const JCO_VERSION = '1.35.0';
const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPO_ROOT = resolve(PACKAGE_DIR, '..', '..');
const CANONICAL = join(REPO_ROOT, 'target', 'wasm32-wasip2', 'guest', 'pipeline_checkpoint_guest.wasm');
const CARGO_ARGS = ['build', '-p', 'pipeline-checkpoint-guest', '--target', 'wasm32-wasip2', '--profile', 'guest', '--locked'];
const OUT = join(PACKAGE_DIR, 'generated');
const PARTIAL = join(PACKAGE_DIR, 'generated.partial');

function fail(message) {
  console.error(`pipeline-checkpoint build: ${message}`);
  process.exit(1);
}

function findComponent() {
  const named = process.env.PIPELINE_CHECKPOINT_WASM;
  if (named) {
    if (!existsSync(named)) fail(`PIPELINE_CHECKPOINT_WASM names ${named}, which does not exist`);
    return { path: resolve(named), how: 'PIPELINE_CHECKPOINT_WASM' };
  }
  if (existsSync(CANONICAL)) return { path: CANONICAL, how: 'the canonical cargo output' };
  if (!existsSync(join(REPO_ROOT, 'guest', 'Cargo.toml'))) {
    fail(`no component: set PIPELINE_CHECKPOINT_WASM, or install from a clone of the repository (looked for ${CANONICAL})`);
  }
  console.error(`pipeline-checkpoint build: building the component: cargo ${CARGO_ARGS.join(' ')}`);
  try {
    execFileSync('cargo', CARGO_ARGS, { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (e) {
    fail(`cargo build failed (${e.message}); install Rust through rustup, or set PIPELINE_CHECKPOINT_WASM`);
  }
  if (!existsSync(CANONICAL)) fail(`cargo build succeeded but ${CANONICAL} is missing`);
  return { path: CANONICAL, how: 'a cargo build' };
}

// jco is a build tool only, never a runtime dependency. A developer's `npm install`
// inside the package installs it as a devDependency; a folder install from another
// project does not install the folder's devDependencies, so npm's own client fetches
// the pinned version instead (once, into npm's cache).
function jcoCommand() {
  for (let dir = PACKAGE_DIR; ; dir = dirname(dir)) {
    const bin = join(dir, 'node_modules', '@bytecodealliance', 'jco', 'dist', 'jco.js');
    if (existsSync(bin)) {
      const version = JSON.parse(readFileSync(join(dirname(dirname(bin)), 'package.json'), 'utf8')).version;
      if (version === JCO_VERSION) return [process.execPath, [bin]];
    }
    if (dirname(dir) === dir) break;
  }
  const npm = process.env.npm_execpath;
  const exec = ['exec', '--yes', `--package=@bytecodealliance/jco@${JCO_VERSION}`, '--', 'jco'];
  return npm && npm.endsWith('.js') ? [process.execPath, [npm, ...exec]] : ['npm', exec];
}

// The two builds share the component's core modules (jco emits the same bytes for
// both) and differ only in their glue: `sync` calls storage and consumer as plain
// functions; `jspi` wraps them in WebAssembly.Suspending and the manager's methods in
// WebAssembly.promising, so that a storage or consumer may return a promise.
const ASYNC_IMPORTS = [
  'pipeline:checkpoint/storage@0.3.0#get',
  'pipeline:checkpoint/storage@0.3.0#put',
  'pipeline:checkpoint/consumer@0.3.0#ack',
  'pipeline:checkpoint/consumer@0.3.0#ack-batch',
];
const ASYNC_EXPORTS = ['write-checkpoint', 'write-checkpoint-batch', 'get-checkpoint']
  .map((method) => `pipeline:checkpoint/manager@0.3.0#[method]checkpoint-manager.${method}`);
const BUILDS = {
  sync: [],
  jspi: ['--async-mode', 'jspi', '--async-imports', ...ASYNC_IMPORTS, '--async-exports', ...ASYNC_EXPORTS],
};

function transpile(component, build) {
  const [program, prefix] = jcoCommand();
  // Sync instantiation: every manager gets an instance with its own imports, created
  // without a promise from modules compiled once (see src/instance.js).
  const args = [...prefix, 'transpile', component, '-o', join(PARTIAL, build), '--name', 'component',
    '--instantiation', 'sync', '--no-nodejs-compat', '--no-wasi-shim', '--no-typescript', '--quiet', ...BUILDS[build]];
  try {
    execFileSync(program, args, { cwd: PACKAGE_DIR, stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (e) {
    fail(`jco transpile (${build}) failed: ${e.message}`);
  }
  if (build === 'jspi') {
    const glue = readFileSync(join(PARTIAL, build, 'component.js'), 'utf8');
    const wrapped = (glue.match(/\.manuallyAsync = true;/g) ?? []).length;
    if (wrapped !== ASYNC_IMPORTS.length) fail(`jco wrapped ${wrapped} imports for JSPI, expected ${ASYNC_IMPORTS.length}: did it rename them?`);
    // (jco marks each import it made async with `manuallyAsync = true`.)
  }
}

// jco's glue checks `process.env.JCO_DEBUG` on every call of its task machinery: Deno
// refuses that read without --allow-env, and it costs a property walk per call. The
// package never logs jco's debug output, so the check is replaced by `false`; the
// build fails if jco's text changed, rather than ship a glue that reads the environment.
const DEBUG_CHECK = 'if (!globalThis?.process?.env?.JCO_DEBUG) { return; }';

function withoutEnvironmentReads(build) {
  const path = join(PARTIAL, build, 'component.js');
  const glue = readFileSync(path, 'utf8');
  const found = glue.split(DEBUG_CHECK).length - 1;
  if (found !== 1) fail(`expected jco's debug check once in the ${build} glue, found it ${found} times`);
  const patched = glue.replace(DEBUG_CHECK, 'return;');
  if (/process\s*\?*\.\s*env|Deno\.env/.test(patched)) fail(`the ${build} glue still reads the environment`);
  writeFileSync(path, patched);
}

// The core modules, once for both builds: as .wasm files (imported as modules where a
// runtime compiles nothing at run time, read from disk by Node) and as base64 in a JS
// module (runtimes that load code but grant no file access, Deno without permissions).
function collectCoreModules() {
  const names = readdirSync(join(PARTIAL, 'sync')).filter((f) => f.endsWith('.wasm')).sort();
  mkdirSync(join(PARTIAL, 'wasm'));
  const lines = ['// Generated by scripts/build.mjs: the component\'s core modules, base64.', 'export const CORE_MODULES = {'];
  for (const name of names) {
    const bytes = readFileSync(join(PARTIAL, 'sync', name));
    const other = readFileSync(join(PARTIAL, 'jspi', name));
    if (!bytes.equals(other)) fail(`jco emitted different ${name} for the sync and JSPI builds`);
    writeFileSync(join(PARTIAL, 'wasm', name), bytes);
    lines.push(`  ${JSON.stringify(name)}: ${JSON.stringify(bytes.toString('base64'))},`);
    for (const build of Object.keys(BUILDS)) rmSync(join(PARTIAL, build, name));
  }
  lines.push('};', '');
  writeFileSync(join(PARTIAL, 'core-modules.js'), lines.join('\n'));
  return names;
}

const component = findComponent();
const bytes = readFileSync(component.path);
rmSync(PARTIAL, { recursive: true, force: true });
for (const build of Object.keys(BUILDS)) {
  transpile(component.path, build);
  withoutEnvironmentReads(build);
}
const coreModules = collectCoreModules();
const stamp = {
  sha256: createHash('sha256').update(bytes).digest('hex'),
  bytes: bytes.length,
  source: component.path,
  found_by: component.how,
  jco: JCO_VERSION,
  builds: Object.keys(BUILDS),
  core_modules: coreModules,
};
writeFileSync(join(PARTIAL, 'component.json'), JSON.stringify(stamp, null, 2) + '\n');
// Replace the previous build only once the new one is whole.
rmSync(OUT, { recursive: true, force: true });
mkdirSync(dirname(OUT), { recursive: true });
renameSync(PARTIAL, OUT);
console.error(`pipeline-checkpoint build: transpiled ${component.path} (${component.how}, sha256 ${stamp.sha256.slice(0, 12)}…)`);
