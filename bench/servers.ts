/**
 * The servers under test, each in its own child process so /proc accounting sees only it:
 * the plain node:http baseline, the gateway in Redis mode (its own redis-server, appendonly
 * everysec as deploy/ configures it) and the gateway in SQLite-only mode.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GatewayProcess } from '../test/support/gateway-process.ts';
import { TestRedis } from '../test/support/redis.ts';
import { tempDir, waitFor } from '../test/support/ports.ts';
import { stringify as stringifyYaml } from 'yaml';
import { setPath } from '../gateway/config.ts';
import { builtGateway } from './lib/compile.ts';

export type ServerName = 'baseline' | 'redis' | 'sqlite';

export interface RunningServer {
  name: ServerName;
  /** The process whose CPU and RSS are the figures (the Node process). */
  pid: number;
  /** redis-server, in Redis mode: reported beside the gateway (a Pi runs both). */
  redisPid: number | null;
  /** redis-server's URL and data dir (its AOF), in Redis mode. */
  redisUrl?: string;
  redisDir?: string;
  httpUrl: string;
  wsUrl: string;
  /** Failovers from Redis to SQLite so far (`iotgw_store_failovers_total{to="sqlite"}`); null for the baseline. */
  failovers(): Promise<number | null>;
  stop(): Promise<void>;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Spawns a TS entry point with tsx and waits for its `ready <x>` line on stdout. */
export async function spawnReady(script: string, args: string[] = [], env: Record<string, string> = {}): Promise<{ proc: ChildProcess; ready: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(root, script), ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d) => { err += d; if (err.length > 20000) err = err.slice(-10000); });
  const ready = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d;
      const m = /^ready (.+)$/m.exec(out);
      if (m) {
        proc.stdout!.off('data', onData);
        resolve(m[1].trim());
      }
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`${script} exited ${code} before ready: ${err.slice(-2000)}`)));
  });
  proc.stdout!.resume();
  return { proc, ready };
}

export async function stopChild(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export async function startBaseline(env: Record<string, string> = {}): Promise<RunningServer> {
  const { proc, ready } = await spawnReady('bench/baseline-server.ts', [], env);
  const port = Number(ready);
  return {
    name: 'baseline', pid: proc.pid!, redisPid: null,
    httpUrl: `http://127.0.0.1:${port}/telemetry`, wsUrl: `ws://127.0.0.1:${port}/ws`,
    failovers: async () => null,
    stop: () => stopChild(proc),
  };
}

/**
 * The gateway daemon as systemd runs it (the compiled dist/iotgw.mjs, `start`), configured for a benchmark:
 * the per-device rate limit off (the fleet here is 300 simulated boards sending as fast as they
 * can) and a WebSocket in-flight window larger than the load client's.
 */
/**
 * The node flags the shipped unit starts the daemon with (`ExecStart=/usr/bin/node FLAGS .../iotgw.js`
 * in deploy/systemd/iotgw.service), so the gateway is measured as deployed (V8 heap limits change
 * its RSS). Empty when the unit passes none.
 */
export function unitNodeFlags(): string[] {
  try {
    const unit = readFileSync(join(root, 'deploy/systemd/iotgw.service'), 'utf8');
    const m = /^ExecStart=\S*node((?:\s+--?[\w-]+(?:=\S+)?)*)\s+\S+iotgw\.js/m.exec(unit);
    return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
  } catch {
    return [];
  }
}

/** NODE_OPTIONS: the unit's node flags, the bench's preloads (the CPU profiler, experiment patches) and extra experiment options. */
function preloads(mode: string, opts: { cpuProfDir?: string; patch?: string; nodeOptions?: string }): Record<string, string> {
  const imports: string[] = [];
  const env: Record<string, string> = {};
  if (opts.cpuProfDir) {
    imports.push(join(root, 'bench/lib/cpu-prof-preload.mjs'));
    Object.assign(env, { IOTGW_BENCH_CPU_PROF_DIR: opts.cpuProfDir, IOTGW_BENCH_CPU_PROF_NAME: `gateway-${mode}` });
  }
  if (opts.patch) {
    imports.push(join(root, 'bench/lib/patch-preload.mjs'));
    env.IOTGW_BENCH_PATCH = opts.patch;
  }
  const flags = [...unitNodeFlags(), opts.nodeOptions ?? ''].join(' ').trim();
  if (imports.length || flags) env.NODE_OPTIONS = [process.env.NODE_OPTIONS ?? '', flags, ...imports.map((i) => `--import=${i}`)].join(' ').trim();
  return env;
}

export interface GatewayBenchOptions {
  wsInFlight: number;
  cpuProfDir?: string;
  patch?: string;
  nodeOptions?: string;
  /** Config settings on top of the bench's, as dotted paths (`sqlite.group_commit_ms: 2`); for bench/ab.ts. */
  settings?: Record<string, unknown>;
  /** Another build of the gateway than the current tree's (bench/ab.ts `--a-build`). */
  built?: string;
  /** More environment for the gateway process (a preload's settings). */
  env?: Record<string, string>;
}

export async function startGateway(mode: 'redis' | 'sqlite', opts: GatewayBenchOptions): Promise<RunningServer> {
  const dir = tempDir(`iotgw-bench-${mode}-`);
  let redis: TestRedis | null = null;
  if (mode === 'redis') redis = await new TestRedis({ appendonly: true }).start();
  const configFile = join(dir.path, 'config.yaml');
  const config: Record<string, unknown> = { ingest: { rate_limit: { per_device_per_second: 0 }, ws: { max_in_flight: opts.wsInFlight } } };
  for (const [path, value] of Object.entries(opts.settings ?? {})) setPath(config, path, value);
  writeFileSync(configFile, stringifyYaml(config));
  const gw = new GatewayProcess({ built: opts.built ?? await builtGateway(), dataDir: join(dir.path, 'data'), redisUrl: redis?.url ?? 'none', env: { IOTGW_CONFIG: configFile, IOTGW_LOG_LEVEL: 'info', ...opts.env, ...preloads(mode, opts) } });
  try {
    await gw.start();
    await waitFor(async () => (await gw.get('/healthz')).status === 200, 15_000, 'gateway /healthz');
  } catch (err) {
    await gw.kill();
    await redis?.destroy();
    dir.cleanup();
    throw err;
  }
  const store = gw.logs.find((l) => l.msg === 'listening')?.store;
  if (store !== mode) throw new Error(`gateway started in ${String(store)} mode, expected ${mode}`);
  return {
    name: mode, pid: gw.pid!, redisPid: redis?.pid ?? null, redisUrl: redis?.url, redisDir: redis?.dir,
    httpUrl: `${gw.url}/telemetry`, wsUrl: `ws://127.0.0.1:${gw.port}/ws`,
    failovers: async () => {
      const res = await gw.get('/metrics');
      const m = /^iotgw_store_failovers_total\{to="sqlite"\} (\d+)/m.exec(String(res.body));
      return m ? Number(m[1]) : 0;
    },
    stop: async () => {
      await gw.stop();
      await redis?.destroy();
      dir.cleanup();
    },
  };
}
