#!/usr/bin/env node
// Compiles the daemon to one ESM file, dist/iotgw.mjs, that plain `node` runs (bin/iotgw.js prefers
// it). Running through tsx instead costs ~25 MB of RSS for the transpiler and its cache, which a
// Raspberry Pi pays all day (BENCHMARKS.md). Dependencies stay external: node_modules is shipped,
// and better-sqlite3 is a native addon that cannot be bundled.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const GATEWAY_BUILD = join(root, 'dist/iotgw.mjs');

/** Bundles `entry` (relative to the repository) into `outfile`, dependencies external. The bench compiles its scripts with it too. */
export async function bundle(entry, outfile, extra = {}) {
  await build({ entryPoints: [join(root, entry)], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning', ...extra });
}

const CONTENT_TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/**
 * Bundles the status page (gateway/status/web/: index.html, main.ts and what it imports, CSS and
 * uPlot included) in memory: the script and the stylesheet get content-hashed names under
 * `assets/`, index.html is rewritten to name them, and each file comes with its gzip and brotli
 * forms, so the gateway serves them precompressed. Bodies are base64 so the result can be
 * embedded in dist/iotgw.mjs as one constant. The gateway, run from sources, calls this on the
 * first request for the page (gateway/status/assets.ts).
 */
export async function buildStatusPage() {
  const web = join(root, 'gateway/status/web');
  const result = await build({
    entryPoints: [join(web, 'main.ts')], outdir: join(web, 'out'), entryNames: '[name]-[hash]', write: false,
    bundle: true, format: 'esm', minify: true, target: ['chrome100', 'firefox100', 'safari15'], legalComments: 'none', logLevel: 'warning',
  });
  const assets = result.outputFiles.map((f) => ({ path: `assets/${basename(f.path)}`, bytes: Buffer.from(f.contents) }));
  let html = readFileSync(join(web, 'index.html'), 'utf8');
  for (const a of assets) html = html.replace(`{{${a.path.endsWith('.js') ? 'script' : 'style'}}}`, a.path);
  if (/\{\{\w+\}\}/.test(html)) throw new Error('gateway/status/web/index.html: a {{placeholder}} was not filled');
  return [{ path: '', bytes: Buffer.from(html) }, ...assets].map(({ path, bytes }) => ({
    path: `/${path}`,
    type: CONTENT_TYPES[path === '' ? '.html' : path.slice(path.lastIndexOf('.'))],
    etag: `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 22)}"`,
    body: bytes.toString('base64'),
    gzip: gzipSync(bytes, { level: 9 }).toString('base64'),
    br: brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } }).toString('base64'),
  }));
}

/** Builds dist/iotgw.mjs, with the status page built into it; returns its path. */
export async function buildGateway() {
  // For debugging: `node --enable-source-maps dist/iotgw.mjs` maps stack traces to gateway/*.ts.
  const page = await buildStatusPage();
  await bundle('gateway/main.ts', GATEWAY_BUILD, { sourcemap: 'linked', sourcesContent: false, define: { IOTGW_STATUS_PAGE: JSON.stringify(page) } });
  return GATEWAY_BUILD;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildGateway();
  if (!process.argv.includes('--quiet')) process.stdout.write(`built ${GATEWAY_BUILD}\n`);
}
