/**
 * Soak: the gateway as deployed (compiled build, Redis appendonly, the unit's node flags, default
 * limits) under a fleet of simulated boards for a long time, with some boards misbehaving, while
 * its RSS, open file descriptors, active handles and event-loop lag are sampled. Writes
 * bench/results/soak-<time>.json and .png (and soak-latest.*), prints the bounds and exits 1 when
 * one is broken.
 *
 *   node --import tsx bench/soak.ts [--minutes 10] [--devices 200] [--sample-s 5] [--out bench/results]
 *
 * The fleet: half the boards over HTTP, half over WebSocket (firmware/sim, the firmware's own
 * device loop), 1 reading/s each. Misbehaving clients beside them:
 *   slow          10 connections that dribble one header byte every 300 ms (cut off by
 *                 http.headers_timeout_ms, then they connect again);
 *   reconnecting  10 WebSocket clients that connect, send one reading, and close, over and over;
 *   oversized     5 clients posting 300 KiB bodies (body_limit_bytes is 256 KiB) and sending a
 *                 300 KiB WebSocket message, every 2 s.
 * Bounds (chosen for a Pi with MemoryMax=512M; docs/reliability.md): RSS of the last third at most
 * 1.2x the middle third's peak and under 300 MB; open fds after the load stops within 20 of
 * before it started; event-loop lag p99 under 250 ms in every sample.
 */
import { parseArgs } from 'node:util';
import { spawn, execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startGateway } from './servers.ts';
import { rssBytes, MB } from './lib/proc.ts';
import { renderChart } from './lib/png-chart.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, devices: { type: 'string', default: '200' }, 'sample-s': { type: 'string', default: '5' }, out: { type: 'string', default: join(root, 'bench/results') } } });
const minutes = Number(values.minutes);
const devices = Number(values.devices);
const sampleMs = Number(values['sample-s']) * 1000;
const outDir = values.out!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample { t_min: number; rss_mb: number; fds: number; handles: number; lag_p99_ms: number }

const fdCount = (pid: number): number => { try { return readdirSync(`/proc/${pid}/fd`).length; } catch { return NaN; } };
const metric = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

execFileSync('bash', [join(root, 'firmware/sim/build.sh')], { stdio: 'inherit' });
const gw = await startGateway('redis', { wsInFlight: 64, settings: { 'ingest.rate_limit.per_device_per_second': 50 } });
const base = gw.httpUrl.replace(/\/telemetry$/, '');
const port = Number(new URL(base).port);
const samples: Sample[] = [];
const t0 = Date.now();
const sample = async (): Promise<Sample> => {
  const text = await (await fetch(`${base}/metrics`)).text();
  const s = { t_min: (Date.now() - t0) / 60_000, rss_mb: (rssBytes(gw.pid) ?? NaN) / MB, fds: fdCount(gw.pid), handles: metric(text, 'iotgw_process_nodejs_active_handles_total'), lag_p99_ms: metric(text, 'iotgw_process_nodejs_eventloop_lag_p99_seconds') * 1000 };
  samples.push(s);
  return s;
};
const fdsBefore = (await sample()).fds;

// The well-behaved fleet.
const sims = (['http', 'ws'] as const).map((transport) => new Promise<Record<string, number>>((resolve, reject) => {
  const half = transport === 'http' ? Math.ceil(devices / 2) : Math.floor(devices / 2);
  const p = spawn(join(root, 'firmware/.build/iotgw-sim'), ['--gateway', `127.0.0.1:${port}`, '--devices', String(half), '--rate', '1', '--duration', String(minutes * 60), '--transport', transport, '--group', `soak-${transport}`, '--drain', '60'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  p.once('exit', (code) => {
    try {
      const r = JSON.parse(out.trim().split('\n').pop()!);
      delete r.device_list;
      resolve(r);
    } catch { reject(new Error(`iotgw-sim (${transport}) exited ${code} without a result`)); }
  });
}));

// The misbehaving ones.
let running = true;
const bad = { slow_connections: 0, reconnects: 0, oversized_http_413: 0, oversized_ws_closed: 0, errors: 0 };
async function slow(): Promise<void> {
  while (running) {
    await new Promise<void>((resolve) => {
      const s: Socket = connect(port, '127.0.0.1');
      const header = 'POST /telemetry HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n';
      let i = 0;
      const timer = setInterval(() => { if (i < header.length && running) s.write(header[i++]); else s.destroy(); }, 300);
      s.on('close', () => { clearInterval(timer); bad.slow_connections++; resolve(); });
      s.on('error', () => undefined);
    });
  }
}
async function reconnecting(n: number): Promise<void> {
  let seq = 0;
  while (running) {
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      ws.on('open', () => ws.send(JSON.stringify({ device_id: `soak-flappy-${n}`, group_id: 'soak-bad', boot_id: `f${n}`, seq: seq++ })));
      ws.on('message', () => ws.close());
      ws.on('close', () => { bad.reconnects++; resolve(); });
      ws.on('error', () => { bad.errors++; });
    });
    await sleep(200);
  }
}
async function oversized(): Promise<void> {
  const body = JSON.stringify({ device_id: 'soak-fat', group_id: 'soak-bad', pad: 'x'.repeat(300 * 1024) });
  while (running) {
    const res = await fetch(`${base}/telemetry`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).catch(() => null);
    if (res?.status === 413) bad.oversized_http_413++;
    await res?.text().catch(() => undefined);
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      ws.on('open', () => ws.send(body));
      ws.on('close', (code) => { if (code === 1009) bad.oversized_ws_closed++; resolve(); });
      ws.on('error', () => undefined);
    });
    await sleep(2000);
  }
}
const misbehaving = [...Array.from({ length: 10 }, slow), ...Array.from({ length: 10 }, (_, i) => reconnecting(i)), ...Array.from({ length: 5 }, oversized)];

const end = t0 + minutes * 60_000;
while (Date.now() < end) {
  await sleep(Math.min(sampleMs, Math.max(0, end - Date.now())));
  const s = await sample();
  process.stdout.write(`soak ${s.t_min.toFixed(1)} min: rss ${s.rss_mb.toFixed(1)} MB, fds ${s.fds}, handles ${s.handles}, loop lag p99 ${s.lag_p99_ms.toFixed(1)} ms\n`);
}
running = false;
await Promise.all(misbehaving);
const fleet = await Promise.all(sims);
await sleep(5000);
const after = await sample();
await gw.stop();

const thirds = (k: number) => samples.slice(1, -1).filter((s) => s.t_min >= (k * minutes) / 3 && s.t_min < ((k + 1) * minutes) / 3);
const peak = (xs: Sample[]) => Math.max(...xs.map((s) => s.rss_mb));
const bounds = {
  rss_no_growth: { middle_peak_mb: peak(thirds(1)), last_peak_mb: peak(thirds(2)), ok: peak(thirds(2)) <= peak(thirds(1)) * 1.2 },
  rss_under_300mb: { peak_mb: peak(samples), ok: peak(samples) < 300 },
  fds_return: { before: fdsBefore, after: after.fds, ok: after.fds <= fdsBefore + 20 },
  // The first sample is taken before the load, right after start-up (JIT, module loading): not part of the soak.
  loop_lag_p99_under_250ms: { worst_ms: Math.max(...samples.slice(1).map((s) => s.lag_p99_ms)), ok: samples.slice(1).every((s) => !(s.lag_p99_ms >= 250)) },
};
const acked = fleet.reduce((n, r) => n + r.acked, 0);
const produced = fleet.reduce((n, r) => n + r.produced, 0);
const result = { at: new Date(t0).toISOString(), minutes, devices, fleet, misbehaving: bad, bounds, samples, command: `node --import tsx bench/soak.ts --minutes ${minutes} --devices ${devices}` };
mkdirSync(outDir, { recursive: true });
const stamp = result.at.replace(/[:.]/g, '-');
writeFileSync(join(outDir, `soak-${stamp}.json`), `${JSON.stringify(result, null, 2)}\n`);
const png = renderChart([
  { title: 'RSS MB', series: [{ label: 'rss', color: [31, 119, 180], points: samples.map((s) => [s.t_min, s.rss_mb]) }] },
  { title: 'open handles', series: [{ label: 'fds', color: [214, 39, 40], points: samples.map((s) => [s.t_min, s.fds]) }, { label: 'active handles', color: [44, 160, 44], points: samples.map((s) => [s.t_min, s.handles]) }] },
  { title: 'event loop lag p99 ms', series: [{ label: 'lag', color: [148, 103, 189], points: samples.map((s) => [s.t_min, s.lag_p99_ms]) }] },
], `minutes, ${devices} boards`);
writeFileSync(join(outDir, `soak-${stamp}.png`), png);
copyFileSync(join(outDir, `soak-${stamp}.png`), join(outDir, 'soak-latest.png'));
copyFileSync(join(outDir, `soak-${stamp}.json`), join(outDir, 'soak-latest.json'));
process.stdout.write(`soak: ${acked}/${produced} readings acknowledged; misbehaving ${JSON.stringify(bad)}\nsoak bounds: ${JSON.stringify(bounds)}\nsoak: wrote ${join(outDir, `soak-${stamp}.png`)}\n`);
process.exit(Object.values(bounds).every((b) => b.ok) ? 0 : 1);
