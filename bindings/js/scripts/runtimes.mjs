// Installs, with npm, the runtimes and tools the package's suites run under beyond the
// machine's Node: Node 26 (JSPI on by default) from its platform's binary package,
// Deno (through its platform package), miniflare (which brings workerd) and esbuild
// (which bundles a Worker as wrangler does), pinned here. tests/bindings/js.rs and
// .ci/run both call it, so that the pins live in one place.
//
// Usage: node scripts/runtimes.mjs PREFIX
// Prints {"node26", "deno", "prefix"} as JSON; exits non-zero, saying why, when npm
// cannot install them.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const NODE = '26.10.0';
const TOOLS = { deno: '2.9.6', miniflare: '4.20260426.0', esbuild: '0.25.12' };

const prefix = resolve(process.argv[2] ?? 'runtimes');
const os = { linux: 'linux', darwin: 'darwin' }[process.platform];
const arch = { x64: 'x64', arm64: 'arm64' }[process.arch];
if (!os || !arch) {
  console.error(`no Node ${NODE} package on npm for ${process.platform}/${process.arch}`);
  process.exit(2);
}
const nodePackage = `node-${os}-${arch}`;
mkdirSync(prefix, { recursive: true });
writeFileSync(join(prefix, 'package.json'), `${JSON.stringify({ private: true, dependencies: { [nodePackage]: NODE, ...TOOLS } }, null, 2)}\n`);
// No install scripts: the binaries are in the platform packages already. npm's own
// report goes to stderr, so that stdout holds only the JSON.
execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: prefix, stdio: ['ignore', 2, 2] });

const modules = join(prefix, 'node_modules');
const node26 = join(modules, nodePackage, 'bin', 'node');
const deno = readdirSync(join(modules, '@deno')).map((name) => join(modules, '@deno', name, 'deno')).find((path) => existsSync(path));
if (!existsSync(node26) || !deno) {
  console.error(`npm installed no ${existsSync(node26) ? 'Deno' : 'Node'} binary under ${modules}`);
  process.exit(1);
}
console.log(JSON.stringify({ node26, deno, prefix }));
