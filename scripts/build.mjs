#!/usr/bin/env node
// Compiles the daemon to one ESM file, dist/iotgw.mjs, that plain `node` runs (bin/iotgw.js prefers
// it). Running through tsx instead costs ~25 MB of RSS for the transpiler and its cache, which a
// Raspberry Pi pays all day (BENCHMARKS.md). Dependencies stay external: node_modules is shipped,
// and better-sqlite3 is a native addon that cannot be bundled.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// --outfile PATH (tests): the bundle finds package.json at `../package.json`, so keep it one level below the root.
const i = process.argv.indexOf('--outfile');
const outfile = i > 0 ? process.argv[i + 1] : join(root, 'dist/iotgw.mjs');
await build({
  entryPoints: [join(root, 'gateway/main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  // For debugging: `node --enable-source-maps dist/iotgw.mjs` maps stack traces to gateway/*.ts.
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
});
if (!process.argv.includes('--quiet')) process.stdout.write(`built ${outfile}\n`);
