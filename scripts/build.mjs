#!/usr/bin/env node
// Compiles the daemon to one ESM file, dist/iotgw.mjs, that plain `node` runs (bin/iotgw.js prefers
// it). Running through tsx instead costs ~25 MB of RSS for the transpiler and its cache, which a
// Raspberry Pi pays all day (BENCHMARKS.md). Dependencies stay external: node_modules is shipped,
// and better-sqlite3 is a native addon that cannot be bundled.
import { build } from 'esbuild';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const GATEWAY_BUILD = join(root, 'dist/iotgw.mjs');

/** Bundles `entry` (relative to the repository) into `outfile`, dependencies external. The bench compiles its scripts with it too. */
export async function bundle(entry, outfile, extra = {}) {
  await build({ entryPoints: [join(root, entry)], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning', ...extra });
}

/** Builds dist/iotgw.mjs; returns its path. */
export async function buildGateway() {
  // For debugging: `node --enable-source-maps dist/iotgw.mjs` maps stack traces to gateway/*.ts.
  await bundle('gateway/main.ts', GATEWAY_BUILD, { sourcemap: 'linked', sourcesContent: false });
  return GATEWAY_BUILD;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildGateway();
  if (!process.argv.includes('--quiet')) process.stdout.write(`built ${GATEWAY_BUILD}\n`);
}
