// esbuild and miniflare for the Workers tests, from the npm prefix named by
// PIPELINE_CHECKPOINT_JS_TOOLS (the workspace's test command installs them there): the
// package itself depends on neither.

import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const INSTALL = 'npm install --prefix DIR miniflare@4 esbuild, then PIPELINE_CHECKPOINT_JS_TOOLS=DIR';

/** {esbuild, Miniflare}, or {skip: why} where no prefix is named. A prefix named but
 * without them is an error: the workspace's tests installed them there. */
export async function workersTools() {
  const prefix = process.env.PIPELINE_CHECKPOINT_JS_TOOLS;
  if (!prefix) return { skip: `PIPELINE_CHECKPOINT_JS_TOOLS is not set (${INSTALL})` };
  const require = createRequire(join(prefix, 'package.json'));
  try {
    const esbuild = await import(pathToFileURL(require.resolve('esbuild')).href);
    const { Miniflare } = await import(pathToFileURL(require.resolve('miniflare')).href);
    return { esbuild: esbuild.default ?? esbuild, Miniflare };
  } catch (e) {
    throw new Error(`esbuild or miniflare missing under ${prefix}: ${e.message} (${INSTALL})`, { cause: e });
  }
}

/**
 * Bundles `entry` as wrangler bundles a Worker: esbuild with the `workerd` and `worker`
 * conditions, .wasm imports left as modules beside the bundle. Returns the directory
 * and the bundle's path. `conditions` replaces the conditions (to import the package as
 * a bundler that does not know Workers would).
 */
export async function bundleWorker(esbuild, entry, { conditions = ['workerd', 'worker'] } = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'pipeline-checkpoint-worker-'));
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    conditions,
    mainFields: ['module', 'main'],
    loader: { '.wasm': 'copy' },
    external: ['cloudflare:*'],
    outdir,
    logLevel: 'error',
  });
  return { outdir, script: join(outdir, entry.replace(/^.*\//, '')) };
}

/** Miniflare's options for a bundle: ES modules, and .wasm files as compiled modules. */
export function moduleOptions({ outdir, script }) {
  return {
    modules: true,
    scriptPath: script,
    modulesRoot: outdir,
    modulesRules: [
      { type: 'ESModule', include: ['**/*.js'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] },
    ],
    compatibilityDate: '2025-09-01',
  };
}
