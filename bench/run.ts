/**
 * `npm run bench -- [--duration S] [--connections N] [--only LIST] [--ws-window N] [--out DIR]
 *                   [--no-markdown] [--upload-readings N]`
 *
 * One run measures, against a plain node:http baseline started in the same run:
 *   http-*   POST /telemetry, one sketch reading per request
 *   batch-*  POST /telemetry, a JSON array of 50 readings per request
 *   ws-*     /ws, one reading per message, each acknowledged once durable
 * on servers `baseline`, `redis` (gateway + its own redis-server, appendonly everysec) and
 * `sqlite` (gateway, SQLite only), plus `upload` (bench/upload.ts). `--only` takes scenario ids
 * (`http-redis`), loads (`http`, `batch`, `ws`), servers (`redis`, `sqlite`, `baseline`) or
 * `upload`; the baseline of every selected load is always added, since ratios need it.
 *
 * Each load: warm-up, then `max` (closed loop: requests/s, readings/s, CPU, RSS) in `--rounds`
 * slices interleaved across servers, then
 * `half_rate` (open loop at half of max: p50/p99). Results go to `<out>/<timestamp>.json` and
 * `<out>/latest.json`, a table to stdout, and (unless --no-markdown) the results section of
 * BENCHMARKS.md.
 */
import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpLoad, wsLoad, round, type LoadResult } from './load.ts';
import { batchBodies, singleBodies, FLEET_DEVICES } from './lib/payload.ts';
import { clockTick, CpuMeter, MB, rssBytes, RssSampler } from './lib/proc.ts';
import { gitState } from './lib/git.ts';
import { SCHEMA, validateResults, type BenchResults, type LoadKind, type ScenarioResult, type ServerResult } from './lib/schema.ts';
import { startBaseline, startGateway, unitNodeFlags, type RunningServer, type ServerName } from './servers.ts';
import { computeGoals, consoleReport, markdownFromDir, updateBenchmarksMd } from './report.ts';
import { runUploadBench } from './upload.ts';
import { measureLoaderCost } from './lib/loader-cost.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const LOADS: LoadKind[] = ['http', 'batch', 'ws'];
const SERVERS: ServerName[] = ['baseline', 'redis', 'sqlite'];
const BATCH = 50;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (msg: string): void => { process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`); };

function parse() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '8' },
      connections: { type: 'string', default: '32' },
      'ws-window': { type: 'string', default: '4' },
      rounds: { type: 'string', default: '4' },
      only: { type: 'string', default: '' },
      out: { type: 'string', default: join(root, 'bench/results') },
      'no-markdown': { type: 'boolean', default: false },
      'markdown-only': { type: 'boolean', default: false },
      'upload-readings': { type: 'string', default: String(300 * 3600) },
      'upload-devices': { type: 'string', default: '300' },
      'cpu-prof': { type: 'string', default: '' },
      'gateway-patch': { type: 'string', default: '' },
      'gateway-node-options': { type: 'string', default: '' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: npm run bench -- [--duration S] [--connections N] [--ws-window N] [--rounds N] [--only http,batch,ws,redis,sqlite,baseline,upload,<load>-<server>] [--out DIR] [--no-markdown | --markdown-only] [--upload-readings N] [--upload-devices N] [--cpu-prof DIR] [--gateway-patch autopipeline] [--gateway-node-options "..."] (experiments)\n');
    process.exit(0);
  }
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  const wsWindow = Number(values['ws-window']);
  const rounds = Math.max(1, Math.floor(Number(values.rounds)));
  if (!(duration > 0) || !(connections >= 1) || !(wsWindow >= 1)) throw new Error('--duration, --connections and --ws-window must be positive numbers');
  const tokens = values.only.split(',').map((t) => t.trim()).filter(Boolean);
  const all = [...LOADS.flatMap((l) => SERVERS.map((s) => `${l}-${s}`)), 'upload'];
  const selected = new Set<string>();
  for (const t of tokens.length ? tokens : all) {
    const matches = all.filter((id) => id === t || id.startsWith(`${t}-`) || id.endsWith(`-${t}`));
    if (matches.length === 0) throw new Error(`--only: unknown scenario "${t}" (known: ${all.join(', ')}, or a load or server name)`);
    for (const m of matches) selected.add(m);
  }
  for (const id of [...selected]) if (id !== 'upload') selected.add(`${id.split('-')[0]}-baseline`);
  return {
    duration, connections, wsWindow, rounds, tokens, selected,
    warmup: Math.min(2, duration / 2),
    out: values.out, markdown: !values['no-markdown'], markdownOnly: values['markdown-only'], cpuProfDir: values['cpu-prof'] ? resolve(values['cpu-prof']) : undefined, patch: values['gateway-patch'] || undefined, nodeOptions: values['gateway-node-options'] || undefined,
    uploadReadings: Number(values['upload-readings']), uploadDevices: Number(values['upload-devices']),
  };
}

/**
 * One load against several servers, interleaved so that drifting background load on the shared
 * machine hits a scenario and its baseline alike: warm-up of each, then `rounds` slices of the max
 * phase (server order rotated each round), then each server's half-rate phase. Throughput and CPU
 * are summed over a server's slices; max-phase latencies are the median over slices.
 */
async function runLoad(load: LoadKind, servers: RunningServer[], o: ReturnType<typeof parse>, peaks: Map<ServerName, number>): Promise<ScenarioResult[]> {
  const single = singleBodies();
  const batches = batchBodies(BATCH);
  const drive = (srv: RunningServer, durationS: number, rate?: number): Promise<LoadResult> => {
    if (load === 'ws') return wsLoad({ url: srv.wsUrl, bodies: single, connections: o.connections, window: o.wsWindow, durationS, rate });
    return httpLoad({ url: srv.httpUrl, bodies: load === 'batch' ? batches : single, readingsPerRequest: load === 'batch' ? BATCH : 1, connections: o.connections, durationS, rate });
  };
  const pidsOf = (srv: RunningServer): number[] => [srv.pid, ...(srv.redisPid ? [srv.redisPid] : [])];
  const rss = new RssSampler(servers.flatMap(pidsOf)).start();
  for (const srv of servers) await drive(srv, o.warmup);
  const slices = new Map<ServerName, LoadResult[]>(servers.map((srv) => [srv.name, []]));
  const cpu = new Map<number, number>();
  const slice = o.duration / o.rounds;
  for (let r = 0; r < o.rounds; r++) {
    for (let k = 0; k < servers.length; k++) {
      const srv = servers[(k + r) % servers.length];
      await sleep(200);
      const profiling = o.cpuProfDir && srv.name !== 'baseline';
      if (profiling) process.kill(srv.pid, 'SIGUSR2');
      const meter = new CpuMeter(pidsOf(srv)).start();
      slices.get(srv.name)!.push(await drive(srv, slice));
      for (const [pid, used] of meter.stop()) cpu.set(pid, (cpu.get(pid) ?? 0) + used);
      if (profiling) await collectProfile(srv, `${load}-${srv.name}-r${r + 1}`, o.cpuProfDir!);
    }
  }
  const out: ScenarioResult[] = [];
  const baseline = servers.find((x) => x.name === 'baseline');
  for (const srv of servers) {
    const max = combine(slices.get(srv.name)!);
    const halfRate = Math.max(1, max.requests_per_s / 2);
    await sleep(200);
    const half = await drive(srv, o.duration, halfRate);
    let sameRate: LoadResult | null = null;
    if (baseline && srv !== baseline) {
      await sleep(200);
      sameRate = await drive(baseline, o.duration, halfRate);
    }
    const per100k = (sec: number): number => (max.readings > 0 ? round((sec / max.readings) * 100_000, 3) : 0);
    out.push({
      id: `${load}-${srv.name}`, load, server: srv.name,
      readings_per_request: load === 'batch' ? BATCH : 1,
      connections: o.connections,
      max, half_rate: half, baseline_same_rate: sameRate,
      cpu_s: round(cpu.get(srv.pid) ?? 0, 2),
      cpu_s_per_100k: per100k(cpu.get(srv.pid) ?? 0),
      rss_peak_mb: 0,
      redis: srv.redisPid ? { cpu_s_per_100k: per100k(cpu.get(srv.redisPid) ?? 0), rss_peak_mb: 0 } : null,
      ratio: null,
    });
  }
  const peak = rss.stop();
  for (const [i, srv] of servers.entries()) {
    out[i].rss_peak_mb = round((peak.get(srv.pid) ?? 0) / MB, 1);
    if (out[i].redis && srv.redisPid) out[i].redis!.rss_peak_mb = round((peak.get(srv.redisPid) ?? 0) / MB, 1);
    peaks.set(srv.name, Math.max(peaks.get(srv.name) ?? 0, out[i].rss_peak_mb));
  }
  return out;
}

/** The max phase of one server from its slices: totals over total time, median latencies. */
function combine(parts: LoadResult[]): LoadResult {
  const sum = (f: (p: LoadResult) => number): number => parts.reduce((a, p) => a + f(p), 0);
  const median = (f: (p: LoadResult) => number): number => {
    const xs = parts.map(f).sort((a, b) => a - b);
    return xs.length % 2 ? xs[(xs.length - 1) / 2] : (xs[xs.length / 2 - 1] + xs[xs.length / 2]) / 2;
  };
  const duration = sum((p) => p.duration_s);
  const requests = sum((p) => p.requests);
  const readings = sum((p) => p.readings);
  return {
    mode: 'max', duration_s: round(duration, 2), requests, readings,
    requests_per_s: round(requests / duration, 1), readings_per_s: round(readings / duration, 1), target_rate: null,
    p50_ms: round(median((p) => p.p50_ms), 3), p99_ms: round(median((p) => p.p99_ms), 3), max_ms: Math.max(...parts.map((p) => p.max_ms)),
    errors: sum((p) => p.errors),
  };
}

/** Stops the gateway's profiler (bench/lib/cpu-prof-preload.mjs) and names its file after the scenario. */
async function collectProfile(srv: RunningServer, id: string, dir: string): Promise<void> {
  const before = new Set(existsSync(dir) ? readdirSync(dir) : []);
  process.kill(srv.pid, 'SIGUSR2');
  for (let i = 0; i < 200; i++) {
    const fresh = (existsSync(dir) ? readdirSync(dir) : []).find((f) => f.endsWith('.cpuprofile') && !before.has(f) && f.includes(`-${srv.pid}-`));
    if (fresh) {
      renameSync(join(dir, fresh), join(dir, `${id}.cpuprofile`));
      log(`profile: ${join(dir, `${id}.cpuprofile`)}`);
      return;
    }
    await sleep(50);
  }
  log(`profile for ${id} not written`);
}

function addRatios(scenarios: ScenarioResult[]): void {
  for (const s of scenarios) {
    const b = scenarios.find((x) => x.load === s.load && x.server === 'baseline');
    if (!b) continue;
    const r = (a: number, c: number): number => (c > 0 ? round(a / c, 3) : 0);
    s.ratio = {
      readings_per_s: r(s.max.readings_per_s, b.max.readings_per_s),
      p50_ms: r(s.half_rate.p50_ms, b.half_rate.p50_ms),
      p99_ms: r(s.half_rate.p99_ms, b.half_rate.p99_ms),
      rss_peak: r(s.rss_peak_mb, b.rss_peak_mb),
      cpu_per_100k: r(s.cpu_s_per_100k, b.cpu_s_per_100k),
    };
  }
}

async function main(): Promise<void> {
  const o = parse();
  if (o.markdownOnly) {
    updateBenchmarksMd(join(root, 'BENCHMARKS.md'), markdownFromDir(o.out, root));
    process.stdout.write(`BENCHMARKS.md results section regenerated from ${o.out}\n`);
    return;
  }
  const startedAt = new Date();
  const results: BenchResults = {
    schema: SCHEMA,
    started_at: startedAt.toISOString(), finished_at: '',
    git: gitState(root),
    host: { cpus: cpus().length, cpu_model: cpus()[0]?.model.trim() ?? 'unknown', node: process.version, clk_tck: clockTick(), loadavg_start: loadavg().map((l) => round(l, 2)), loadavg_end: [] },
    options: { duration_s: o.duration, rounds: o.rounds, warmup_s: o.warmup, connections: o.connections, ws_window: o.wsWindow, batch_size: BATCH, devices: FLEET_DEVICES, only: o.tokens, gateway_node_flags: unitNodeFlags().join(' '), gateway_patch: [o.patch, o.nodeOptions && `node ${o.nodeOptions}`].filter(Boolean).join('; ') || null },
    servers: [], scenarios: [], upload: null, loader: null, goals: [],
  };
  log(`scenarios: ${[...o.selected].join(', ')}`);

  const needed = SERVERS.filter((s) => [...o.selected].some((id) => id.endsWith(`-${s}`)));
  const running = new Map<ServerName, RunningServer>();
  const idle = new Map<ServerName, ServerResult>();
  const peaks = new Map<ServerName, number>();
  const stopAll = async (): Promise<void> => { for (const s of running.values()) await s.stop().catch((err) => log(`stopping ${s.name}: ${(err as Error).message}`)); running.clear(); };
  process.once('SIGINT', () => { void stopAll().then(() => process.exit(130)); });
  try {
    for (const name of needed) {
      log(`starting ${name}`);
      const srv = name === 'baseline' ? await startBaseline() : await startGateway(name, { wsInFlight: Math.max(64, o.wsWindow * 4), cpuProfDir: o.cpuProfDir, patch: o.patch, nodeOptions: o.nodeOptions });
      running.set(name, srv);
    }
    await sleep(1500); // let start-up garbage settle before reading idle RSS
    for (const srv of running.values()) {
      idle.set(srv.name, {
        name: srv.name, rss_idle_mb: round((rssBytes(srv.pid) ?? 0) / MB, 1), rss_peak_mb: 0, rss_after_mb: 0,
        redis_rss_idle_mb: srv.redisPid ? round((rssBytes(srv.redisPid) ?? 0) / MB, 1) : null,
        failovers_to_sqlite: null,
      });
    }
    // Interleaved by load (baseline, redis, sqlite for http, then batch, then ws) so drifting
    // background load on the shared machine hits a scenario and its baseline alike.
    for (const load of LOADS) {
      const servers = SERVERS.filter((name) => o.selected.has(`${load}-${name}`)).map((name) => running.get(name)!);
      if (servers.length === 0) continue;
      log(`${load}: ${servers.map((x) => x.name).join(', ')}: warm-up ${o.warmup} s each, max ${o.rounds} × ${round(o.duration / o.rounds, 2)} s interleaved, half rate ${o.duration} s each`);
      for (const s of await runLoad(load, servers, o, peaks)) {
        log(`${s.id}: ${s.max.readings_per_s} readings/s, p99 at half rate ${s.half_rate.p99_ms} ms, errors ${s.max.errors + s.half_rate.errors}`);
        results.scenarios.push(s);
      }
    }
    for (const srv of running.values()) {
      const r = idle.get(srv.name)!;
      r.rss_peak_mb = Math.max(peaks.get(srv.name) ?? 0, r.rss_idle_mb);
      r.rss_after_mb = round((rssBytes(srv.pid) ?? 0) / MB, 1);
      r.failovers_to_sqlite = await srv.failovers().catch(() => null);
      results.servers.push(r);
    }
  } finally {
    await stopAll();
  }
  addRatios(results.scenarios);
  if (needed.some((n) => n !== 'baseline')) {
    log('loader cost: idle RSS of plain node, node + tsx, and the gateway bundled with esbuild');
    results.loader = await measureLoaderCost(root);
  }

  if (o.selected.has('upload')) {
    log(`upload: ${o.uploadReadings} readings from ${o.uploadDevices} devices`);
    results.upload = await runUploadBench({ readings: o.uploadReadings, devices: o.uploadDevices, log });
  }

  results.host.loadavg_end = loadavg().map((l) => round(l, 2));
  results.finished_at = new Date().toISOString();
  results.goals = computeGoals(results);
  const errs = validateResults(results);
  if (errs.length) throw new Error(`results are malformed (a harness bug):\n${errs.join('\n')}`);

  mkdirSync(o.out, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const file = join(o.out, `${stamp}.json`);
  const json = `${JSON.stringify(results, null, 2)}\n`;
  writeFileSync(file, json);
  writeFileSync(join(o.out, 'latest.json'), json);
  process.stdout.write(`${consoleReport(results)}\n\nresults: ${file}\n`);
  if (o.markdown) {
    updateBenchmarksMd(join(root, 'BENCHMARKS.md'), markdownFromDir(o.out, root));
    process.stdout.write('BENCHMARKS.md results section regenerated\n');
  }
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
