/**
 * The status page as a phone or a laptop on site sees it, in Debian's Chromium against the
 * compiled gateway (dist/iotgw.mjs, as the service runs it) with Redis, the Atlas wire test server
 * and devices from the firmware simulator:
 *   - page weight: bytes over the wire (brotli) and decoded, per file, from Resource Timing;
 *   - time to first render: first contentful paint, and time until the device rows are drawn
 *     (the first `devices` event rendered), cold cache, median of `--runs` loads; the yardstick
 *     is the first contentful paint of a bare HTML page served by node:http in the same run;
 *   - live latency: a new device posts (HTTP 202 awaited), and its row is in the page's DOM
 *     after how long (the page notes the time with a MutationObserver), `--posts` devices;
 *   - the gateway's CPU while one page is open vs none, same device load (ratio).
 * `--screenshots` also writes docs/status-desktop.png, docs/status-phone.png, docs/status-dark.png.
 *
 *   node --import tsx bench/status-page.ts [--runs 10] [--posts 20] [--screenshots]
 */
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { GatewayProcess } from '../test/support/gateway-process.ts';
import { TestRedis } from '../test/support/redis.ts';
import { startMongoForTests } from '../test/support/mongo-server.ts';
import { launchChromium } from '../test/support/chromium.ts';
import { buildSim, runSim } from '../test/support/sim.ts';
import { freePort, sleep, tempDir } from '../test/support/ports.ts';
import { cpuSeconds } from './lib/proc.ts';
import { builtGateway } from './lib/compile.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg('runs', 10);
const POSTS = arg('posts', 20);
const SHOTS = process.argv.includes('--screenshots');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];

interface Observed { __rows: Record<string, number>; __firstRows: number | null }

/** Records, in the page, when each device row first appears (epoch ms) and when rows were first drawn. */
const OBSERVE = `(() => {
  window.__rows = {}; window.__firstRows = null;
  new MutationObserver(() => {
    for (const tr of document.querySelectorAll('#devices tbody tr[data-device]')) {
      const id = tr.getAttribute('data-device');
      if (!(id in window.__rows)) window.__rows[id] = Date.now();
      if (window.__firstRows === null) window.__firstRows = performance.now();
    }
  }).observe(document, { subtree: true, childList: true });
})()`;

async function load(page: Page, url: string, waitRows: boolean, cache: boolean): Promise<{ fcp: number; rows: number | null; files: { name: string; transfer: number; decoded: number }[] }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: !cache });
  await page.goto(url, { waitUntil: 'load' });
  // Function predicates: the page's CSP refuses the eval that string predicates need.
  if (waitRows) await page.waitForFunction(() => (window as unknown as Observed).__firstRows !== null, undefined, { timeout: 20000 });
  await page.waitForFunction(() => performance.getEntriesByName('first-contentful-paint').length > 0, undefined, { timeout: 20000 });
  const r = await page.evaluate(`(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource').filter((e) => !e.name.endsWith('/events') && !e.name.includes('/readings'));
    return {
      fcp: performance.getEntriesByName('first-contentful-paint')[0].startTime,
      rows: window.__firstRows ?? null,
      files: [nav, ...res].map((e) => ({ name: new URL(e.name).pathname, transfer: e.transferSize, decoded: e.decodedBodySize })),
    };
  })()`) as { fcp: number; rows: number | null; files: { name: string; transfer: number; decoded: number }[] };
  await cdp.detach();
  return r;
}

async function main(): Promise<void> {
  buildSim();
  const built = await builtGateway();
  const dir = tempDir();
  const redis = await new TestRedis().start();
  const mongo = await startMongoForTests();
  const gw = await new GatewayProcess({
    dataDir: dir.path, redisUrl: redis.url, mongoUri: mongo.uri, built,
    env: { IOTGW_GATEWAY_ID: 'site-berlin-01' },
    config: { mongodb: { database: 'iotgw_bench_page' }, discovery: { expected_interval_seconds: 5, stale_after_seconds: 8, offline_after_seconds: 600 } },
  }).start();
  // The yardstick: the smallest page a browser can paint, from the same machine.
  const barePort = await freePort();
  const bare = createServer((_q, s) => s.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>bare</title><p>hello</p>')).listen(barePort, '127.0.0.1');
  const browser = await launchChromium();
  const sims: ReturnType<typeof runSim>[] = [];
  try {
    // A site: 6 boards over HTTP in one group, 3 over WebSocket in another, and one that went quiet.
    await gw.post('/telemetry', { device_id: 'esp32-attic', group_id: 'barn', device_type: 'esp32', wifi_rssi: -81, heap_free: 151000, temperature: 4.2 });
    sims.push(runSim(['--gateway', `127.0.0.1:${gw.port}`, '--devices', '6', '--rate', '1', '--duration', '600', '--transport', 'http', '--group', 'greenhouse', '--drain', '5']));
    sims.push(runSim(['--gateway', `127.0.0.1:${gw.port}`, '--devices', '3', '--rate', '1', '--duration', '600', '--transport', 'ws', '--group', 'barn', '--drain', '5']));
    for (const s of sims) s.done.catch(() => undefined);
    const siteStarted = Date.now();
    await sleep(12000); // the attic board turns stale; the others build a little history
    const ts = Date.now() - 2 * 3600_000;
    await gw.post('/telemetry', { device_id: 'esp32-attic', group_id: 'barn', boot_id: 'b0', seq: 1, ts, temperature: 4.1 });

    if (SHOTS) {
      // Past the 90 s highlight of the site's boards; then one more board powers on, as an installer's would.
      await sleep(Math.max(0, siteStarted + 95_000 - Date.now()));
      sims.push(runSim(['--gateway', `127.0.0.1:${gw.port}`, '--devices', '1', '--rate', '1', '--duration', '600', '--transport', 'http', '--group', 'greenhouse', '--drain', '5']));
      sims.at(-1)!.done.catch(() => undefined);
      const shot = await browser.context.newPage();
      await shot.goto(`${gw.url}/`);
      await shot.locator('#devices tr.new').waitFor({ timeout: 20000 });
      // A board of the site with a minute and a half of history, not the one that just came.
      await shot.selectOption('#chart-device', (await gw.get('/devices')).body.devices.find((d: { group_id: string; readings_last_minute: number }) => d.group_id === 'greenhouse' && d.readings_last_minute > 30).device_id);
      await shot.selectOption('#chart-metric', 'cpu_temp_c');
      await sleep(2500);
      await shot.screenshot({ path: join(root, 'docs/status-desktop.png'), fullPage: true });
      await shot.emulateMedia({ colorScheme: 'dark' });
      await sleep(500);
      await shot.screenshot({ path: join(root, 'docs/status-dark.png'), fullPage: false });
      await shot.emulateMedia({ colorScheme: 'light' });
      await shot.setViewportSize({ width: 390, height: 844 });
      await sleep(800);
      await shot.screenshot({ path: join(root, 'docs/status-phone.png'), fullPage: false });
      await shot.close();
    }

    const page = await browser.context.newPage();
    await page.addInitScript(OBSERVE);

    // Time to first render, cold cache (as a first visit) and warm (a revisit: index.html
    // revalidated, the hashed files from the cache), page vs bare page.
    const loads = [];
    const warm = [];
    const bares = [];
    for (let i = 0; i < RUNS; i++) {
      loads.push(await load(page, `${gw.url}/`, true, false));
      warm.push(await load(page, `${gw.url}/`, true, true));
      bares.push(await load(page, `http://127.0.0.1:${barePort}/`, false, false));
    }
    const files = loads[0].files;
    const weight = { transfer: files.reduce((a, f) => a + f.transfer, 0), decoded: files.reduce((a, f) => a + f.decoded, 0) };

    // Live latency: a new device's first reading until its row is in the DOM.
    await page.goto(`${gw.url}/`);
    await page.waitForFunction(() => (window as unknown as Observed).__firstRows !== null);
    const latencies: number[] = [];
    for (let i = 0; i < POSTS; i++) {
      const id = `bench-new-${i}`;
      const t0 = Date.now();
      const r = await gw.post('/telemetry', { device_id: id, group_id: 'bench', temperature: 20 + i });
      if (r.status !== 202) throw new Error(`post answered ${r.status}`);
      await page.waitForFunction((x) => x in (window as unknown as Observed).__rows, id, { timeout: 10000 });
      latencies.push((await page.evaluate(`window.__rows['${id}']`) as number) - t0);
      await sleep(300 + Math.random() * 400); // not in step with the stream's timers
    }

    // The gateway's CPU with one page open vs none, under the same 9-device load.
    const cpuOver = async (ms: number) => {
      const c0 = cpuSeconds(gw.pid!) ?? 0;
      await sleep(ms);
      return ((cpuSeconds(gw.pid!) ?? 0) - c0) / (ms / 1000);
    };
    const withPage = await cpuOver(10000);
    await page.goto('about:blank');
    await sleep(2000);
    const without = await cpuOver(10000);

    const result = {
      when: new Date().toISOString(),
      files,
      weight_bytes: weight,
      warm_transfer_bytes: warm[0].files.reduce((a, f) => a + f.transfer, 0),
      first_contentful_paint_ms: { cold: round(median(loads.map((l) => l.fcp))), warm: round(median(warm.map((l) => l.fcp))), bare: round(median(bares.map((b) => b.fcp))) },
      fcp_ratio_to_bare: { cold: round(median(loads.map((l) => l.fcp)) / median(bares.map((b) => b.fcp))), warm: round(median(warm.map((l) => l.fcp)) / median(bares.map((b) => b.fcp))) },
      rows_drawn_ms: { cold_median: round(median(loads.map((l) => l.rows!))), cold_max: round(Math.max(...loads.map((l) => l.rows!))), warm_median: round(median(warm.map((l) => l.rows!))) },
      new_device_to_row_ms: { median: round(median(latencies)), p95: round(pct(latencies, 95)), max: round(Math.max(...latencies)), n: latencies.length },
      gateway_cpu_share: { page_open: round(withPage, 4), no_page: round(without, 4), ratio: round(withPage / without) },
      runs: RUNS,
    };
    writeFileSync(join(root, 'bench/results', `status-page-${result.when.replace(/[:.]/g, '-')}.json`), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await browser.close();
    bare.close();
    for (const s of sims) s.kill();
    for (const s of sims) await s.done.catch(() => undefined);
    await gw.stop();
    await redis.destroy();
    await mongo.stop();
    dir.cleanup();
  }
}

function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

await main();
