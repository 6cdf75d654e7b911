import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { request } from 'node:http';
import { startGateway } from './support/in-process.ts';
import { GatewayProcess } from './support/gateway-process.ts';
import { tempDir } from './support/ports.ts';
import { buildGateway } from '../scripts/build.mjs';

// The status page's files: built from gateway/status/web, served precompressed with cache headers,
// and built into dist/iotgw.mjs so the service needs nothing beside it.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A raw GET (fetch would decode the body and hide the encoding). */
function raw(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject).end();
  });
}

test('GET / and its assets: brotli or gzip as accepted, ETag revalidation, hashed assets cached for a year, no outside origin', async () => {
  const g = await startGateway();
  try {
    const plain = await raw(`${g.url}/`);
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers['cache-control'], 'no-cache');
    assert.match(String(plain.headers['content-security-policy']), /default-src 'self'/);
    const html = plain.body.toString();
    assert.doesNotMatch(html, /https?:\/\//, 'the page names no other origin');
    const br = await raw(`${g.url}/`, { 'accept-encoding': 'gzip, deflate, br' });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(brotliDecompressSync(br.body).toString(), html);
    const gz = await raw(`${g.url}/`, { 'accept-encoding': 'gzip' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(gz.body).toString(), html);
    assert.equal((await raw(`${g.url}/`, { 'if-none-match': String(plain.headers.etag) })).status, 304);

    const assets = [...html.matchAll(/(?:src|href)="(assets\/[^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(assets.map((a) => a.split('.').pop()).sort(), ['css', 'js']);
    for (const a of assets) {
      const r = await raw(`${g.url}/${a}`, { 'accept-encoding': 'br' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable');
      assert.match(String(r.headers['content-type']), a.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      const text = brotliDecompressSync(r.body).toString();
      // A literal host name would be a CDN or a tracker; the browser test watches the actual requests.
      const hosts = [...text.matchAll(/https?:\/\/([a-z0-9-]+\.)+[a-z]{2,}/gi)].map((m) => m[0]).filter((u) => !/^http:\/\/www\.w3\.org/.test(u));
      assert.deepEqual(hosts, [], `${a} names no other origin`);
    }
  } finally {
    await g.stop();
  }
});

test('dist/iotgw.mjs carries the page: run from a directory without the sources, it still serves it', async () => {
  const built = await buildGateway();
  const dir = tempDir();
  try {
    // Only the bundle and node_modules: no gateway/, no scripts/, so nothing can be built at run time.
    mkdirSync(join(dir.path, 'app/dist'), { recursive: true });
    copyFileSync(built, join(dir.path, 'app/dist/iotgw.mjs'));
    copyFileSync(join(root, 'package.json'), join(dir.path, 'app/package.json'));
    symlinkSync(join(root, 'node_modules'), join(dir.path, 'app/node_modules'));
    mkdirSync(join(dir.path, 'data'));
    const gw = await new GatewayProcess({ dataDir: join(dir.path, 'data'), built: join(dir.path, 'app/dist/iotgw.mjs') }).start();
    try {
      const page = await fetch(`${gw.url}/`);
      assert.equal(page.status, 200);
      const html = await page.text();
      const script = /src="(assets\/[^"]+\.js)"/.exec(html)?.[1];
      assert.ok(script);
      const js = await fetch(`${gw.url}/${script}`);
      assert.equal(js.status, 200);
      assert.ok((await js.text()).length > 10_000, 'the bundled script (uPlot included)');
    } finally {
      await gw.stop();
    }
    assert.doesNotMatch(readFileSync(built, 'utf8'), /from ["']esbuild["']/, 'the daemon does not load esbuild');
  } finally {
    dir.cleanup();
  }
});
