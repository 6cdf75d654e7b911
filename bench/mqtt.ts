/**
 * `node --import tsx bench/mqtt.ts [--duration S] [--rounds N] [--connections N] [--window N]
 *                                  [--modes sqlite,redis] [--bridge N] [--out DIR]`
 *
 * QoS 1 messages per second through the gateway's embedded MQTT broker, against the same broker
 * library (aedes) with a no-op publish handler (bench/mqtt-baseline-server.ts), in the same run:
 * - servers, each its own child process: the baseline, and the gateway (compiled build, the
 *   unit's node flags, per-device rate limit off; bench/servers.ts) in SQLite and Redis mode;
 * - load (bench/lib/mqtt-load.ts): `--connections` MQTT.js clients, `--window` unacknowledged
 *   QoS 1 publishes each, one sketch reading per message on its device's telemetry topic;
 * - a warm-up of each server, then the max phase cut into `--rounds` slices interleaved across
 *   the servers (order rotated each round), so the shared machine's background load hits a
 *   server and its baseline alike; CPU (utime+stime from /proc) and peak RSS of each server.
 * Then bridge mode (bench/lib/mqtt-bridge-drain.ts, `--bridge N` messages, 0 skips it): the drain
 * rate of a persistent session's backlog from a real mosquitto into the gateway, against MQTT.js
 * with a no-op `customHandleAcks`.
 * Results: `<out>/<timestamp>.json` and `<out>/latest.json` (default bench/results/mqtt), and a
 * table on stdout with each gateway's ratios to the baseline. BENCHMARKS.md ("MQTT intake")
 * quotes a run.
 */
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mqttLoad, type MqttLoadResult } from './lib/mqtt-load.ts';
import { bridgeDrain, type DrainResult } from './lib/mqtt-bridge-drain.ts';
import { singleBodies, FLEET_DEVICES } from './lib/payload.ts';
import { CpuMeter, MB, RssSampler, rssBytes } from './lib/proc.ts';
import { gitState } from './lib/git.ts';
import { round } from './load.ts';
import { spawnReady, startGateway, stopChild } from './servers.ts';
import { freePort } from '../test/support/ports.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const log = (msg: string): void => { process.stderr.write(`[bench-mqtt ${new Date().toISOString().slice(11, 19)}] ${msg}\n`); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Server {
  name: string;
  pid: number;
  redisPid: number | null;
  url: string;
  stop(): Promise<void>;
}

interface ServerResult {
  name: string;
  messages_per_s: number;
  messages: number;
  duration_s: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  cpu_s_per_100k: number;
  redis_cpu_s_per_100k: number | null;
  client_cpu_s_per_100k: number;
  rss_idle_mb: number;
  rss_peak_mb: number;
  ratio: { messages_per_s: number; cpu_per_100k: number } | null;
}

function options() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '4' },
      connections: { type: 'string', default: '32' },
      window: { type: 'string', default: '4' },
      modes: { type: 'string', default: 'sqlite,redis' },
      bridge: { type: 'string', default: '10000' },
      out: { type: 'string', default: join(root, 'bench/results/mqtt') },
    },
  });
  const modes = values.modes.split(',').map((m) => m.trim()).filter(Boolean);
  for (const m of modes) if (m !== 'sqlite' && m !== 'redis') throw new Error(`--modes: unknown mode "${m}" (sqlite, redis)`);
  const o = { duration: Number(values.duration), rounds: Math.max(1, Math.floor(Number(values.rounds))), connections: Number(values.connections), window: Number(values.window), modes: modes as ('sqlite' | 'redis')[], out: values.out, bridge: Math.max(0, Math.floor(Number(values.bridge))) };
  if (!(o.duration > 0) || !(o.connections >= 1) || !(o.window >= 1)) throw new Error('--duration, --connections and --window must be positive');
  return o;
}

async function baseline(): Promise<Server> {
  const { proc, ready } = await spawnReady('bench/mqtt-baseline-server.ts');
  return { name: 'baseline', pid: proc.pid!, redisPid: null, url: `mqtt://127.0.0.1:${ready}`, stop: () => stopChild(proc) };
}

async function gateway(mode: 'sqlite' | 'redis'): Promise<Server> {
  const port = await freePort();
  const srv = await startGateway(mode, { wsInFlight: 64, settings: { 'mqtt.listen_port': port } });
  return { name: mode, pid: srv.pid, redisPid: srv.redisPid, url: `mqtt://127.0.0.1:${port}`, stop: srv.stop };
}

async function main(): Promise<void> {
  const o = options();
  const startedAt = new Date();
  const loadStart = loadavg().map((l) => round(l, 2));
  const bodies = singleBodies();
  const servers: Server[] = [];
  try {
    log('starting baseline');
    servers.push(await baseline());
    for (const mode of o.modes) {
      log(`starting gateway (${mode})`);
      servers.push(await gateway(mode));
    }
    await sleep(1500);
    const idle = new Map(servers.map((s) => [s.name, rssBytes(s.pid) ?? 0]));
    const drive = (s: Server, seconds: number) => mqttLoad({ url: s.url, bodies, connections: o.connections, window: o.window, durationS: seconds });
    const rss = new RssSampler(servers.flatMap((s) => [s.pid, ...(s.redisPid ? [s.redisPid] : [])])).start();
    for (const s of servers) await drive(s, Math.min(2, o.duration / 2));
    const slices = new Map<string, MqttLoadResult[]>(servers.map((s) => [s.name, []]));
    const cpu = new Map<number, number>();
    /** The load client's own CPU (this process) during each server's slices: is the client the bound? */
    const clientCpu = new Map<string, number>();
    const slice = o.duration / o.rounds;
    log(`max phase: ${o.rounds} × ${round(slice, 2)} s per server, interleaved`);
    for (let r = 0; r < o.rounds; r++) {
      for (let k = 0; k < servers.length; k++) {
        const s = servers[(k + r) % servers.length];
        await sleep(200);
        const meter = new CpuMeter([s.pid, ...(s.redisPid ? [s.redisPid] : [])]).start();
        const client = process.cpuUsage();
        slices.get(s.name)!.push(await drive(s, slice));
        for (const [pid, used] of meter.stop()) cpu.set(pid, (cpu.get(pid) ?? 0) + used);
        const c = process.cpuUsage(client);
        clientCpu.set(s.name, (clientCpu.get(s.name) ?? 0) + (c.user + c.system) / 1e6);
      }
    }
    const peak = rss.stop();
    const results: ServerResult[] = servers.map((s) => {
      const parts = slices.get(s.name)!;
      const messages = parts.reduce((n, p) => n + p.messages, 0);
      const duration = parts.reduce((n, p) => n + p.duration_s, 0);
      const median = (f: (p: MqttLoadResult) => number): number => { const xs = parts.map(f).sort((a, b) => a - b); return xs[Math.floor(xs.length / 2)]; };
      const per100k = (sec: number): number => (messages > 0 ? round((sec / messages) * 100_000, 3) : 0);
      return {
        name: s.name, messages, duration_s: round(duration, 2), messages_per_s: round(messages / duration, 1),
        p50_ms: median((p) => p.p50_ms), p99_ms: median((p) => p.p99_ms), errors: parts.reduce((n, p) => n + p.errors, 0),
        cpu_s_per_100k: per100k(cpu.get(s.pid) ?? 0), redis_cpu_s_per_100k: s.redisPid ? per100k(cpu.get(s.redisPid) ?? 0) : null,
        client_cpu_s_per_100k: per100k(clientCpu.get(s.name) ?? 0),
        rss_idle_mb: round((idle.get(s.name) ?? 0) / MB, 1), rss_peak_mb: round((peak.get(s.pid) ?? 0) / MB, 1), ratio: null,
      };
    });
    const base = results.find((r) => r.name === 'baseline')!;
    for (const r of results) r.ratio = { messages_per_s: round(r.messages_per_s / base.messages_per_s, 3), cpu_per_100k: round(r.cpu_s_per_100k / base.cpu_s_per_100k, 3) };
    for (const s of servers.splice(0)) await s.stop();
    const bridge: DrainResult[] | null = o.bridge > 0 ? await bridgeDrain(o.modes, bodies, o.bridge, log) : null;

    const doc = {
      schema: 'iotgw-bench-mqtt/1', started_at: startedAt.toISOString(), finished_at: new Date().toISOString(), git: gitState(root),
      host: { cpus: cpus().length, cpu_model: cpus()[0]?.model.trim() ?? 'unknown', node: process.version, loadavg_start: loadStart, loadavg_end: loadavg().map((l) => round(l, 2)) },
      options: { duration_s: o.duration, rounds: o.rounds, connections: o.connections, window: o.window, devices: FLEET_DEVICES, qos: 1, bridge_messages: o.bridge },
      servers: results,
      bridge,
    };
    mkdirSync(o.out, { recursive: true });
    const json = `${JSON.stringify(doc, null, 2)}\n`;
    const file = join(o.out, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, json);
    writeFileSync(join(o.out, 'latest.json'), json);
    const row = (r: ServerResult): string => `| ${r.name} | ${r.messages_per_s.toLocaleString('en-US')} | ${r.ratio!.messages_per_s.toFixed(2)}× | ${r.p50_ms} | ${r.p99_ms} | ${r.cpu_s_per_100k} | ${r.ratio!.cpu_per_100k.toFixed(2)}× | ${r.redis_cpu_s_per_100k ?? '–'} | ${r.client_cpu_s_per_100k} | ${r.rss_idle_mb} / ${r.rss_peak_mb} | ${r.errors} |`;
    const drainRow = (r: DrainResult): string => `| ${r.name} | ${r.messages.toLocaleString('en-US')} | ${r.seconds} | ${r.messages_per_s.toLocaleString('en-US')} | ${r.ratio!.toFixed(2)}× | ${r.cpu_s_per_100k} |`;
    const drainTable = bridge ? ['', 'bridge: a persistent session\'s backlog drained from mosquitto', '| subscriber | messages | s | msgs/s | × no-op | CPU s/100k |', '|---|---:|---:|---:|---:|---:|', ...bridge.map(drainRow)] : [];
    process.stdout.write(['| server | QoS 1 msgs/s | × baseline | p50 ms | p99 ms | CPU s/100k | × baseline | redis-server CPU s/100k | load client CPU s/100k | RSS idle / peak MB | errors |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|', ...results.map(row), ...drainTable, '', `results: ${file}`, ''].join('\n'));
  } finally {
    for (const s of servers) await s.stop().catch((err) => log(`stopping ${s.name}: ${(err as Error).message}`));
  }
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`bench-mqtt: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
