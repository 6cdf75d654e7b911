/**
 * The upload benchmark: one closed window of `readings` readings (default 300 devices × 3600 s)
 * uploaded to the MongoDB wire-protocol test server (test/support/mongo-server.ts, in its own
 * child process) by
 *   - the gateway: `iotgw upload --now` (gateway/main.ts, the real CLI) on a data dir pre-filled
 *     directly through the SQLite store of gateway/buffer;
 *   - the baseline: the raw driver's `insertMany` of the same documents (bench/upload-baseline.ts),
 *     against a fresh server of the same kind.
 * Each side is timed from spawn to exit (both compiled with esbuild and run by plain node, so both pay the same start-up), its CPU and peak
 * RSS sampled from /proc every 100 ms (CPU: last sample before exit, so up to 0.1 s low).
 */
import { spawn } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../gateway/buffer/sqlite-store.ts';
import { tempDir } from '../test/support/ports.ts';
import { closedWindow, readingChunks } from './lib/upload-data.ts';
import { cpuSeconds, MB, rssBytes } from './lib/proc.ts';
import type { UploadResult, UploadSide } from './lib/schema.ts';
import { spawnReady, stopChild, unitNodeFlags } from './servers.ts';
import { round } from './load.ts';
import { builtGateway, builtScript } from './lib/compile.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

interface ChildRun { code: number | null; stdout: string; stderr: string; seconds: number; cpu: number; rssPeak: number; serverCpu: number }

export async function timedChild(args: string[], env: Record<string, string>, serverPid: number): Promise<ChildRun> {
  const server0 = cpuSeconds(serverPid) ?? 0;
  const t0 = performance.now();
  const proc = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; if (stderr.length > 50_000) stderr = stderr.slice(-20_000); });
  let cpu = 0;
  let rssPeak = 0;
  const sample = (): void => {
    const c = cpuSeconds(proc.pid!);
    const r = rssBytes(proc.pid!);
    if (c !== null) cpu = c;
    if (r !== null && r > rssPeak) rssPeak = r;
  };
  const timer = setInterval(sample, 100);
  const code = await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  clearInterval(timer);
  return { code, stdout, stderr, seconds: (performance.now() - t0) / 1000, cpu, rssPeak, serverCpu: (cpuSeconds(serverPid) ?? 0) - server0 };
}

export async function prefill(path: string, total: number, devices: number, window: number): Promise<void> {
  const store = new SqliteStore({ path, synchronous: 'normal' });
  await store.open();
  for (const chunk of readingChunks(total, devices, window, 20_000)) store.writeNow([chunk]);
  await store.close();
}

export async function runUploadBench(o: { readings: number; devices: number; log: (m: string) => void }): Promise<UploadResult> {
  const dir = tempDir('iotgw-bench-upload-');
  const window = closedWindow();
  const result: UploadResult = {
    readings: o.readings, devices: o.devices, store: 'sqlite', method: `iotgw upload --now (dist/iotgw.mjs, the compiled build${unitNodeFlags().length ? `, node ${unitNodeFlags().join(' ')} as in the systemd unit` : ''}), SQLite data dir pre-filled through SqliteStore`,
    gateway: null, baseline: { readings: 0, documents: 0, seconds: 0, readings_per_s: 0, cpu_s: 0, rss_peak_mb: 0, server_cpu_s: 0 }, ratio: null, error: null,
  };
  try {
    // Baseline first: the raw driver into a fresh wire server.
    {
      const { proc: server, ready: uri } = await spawnReady('test/support/mongo-server.ts', ['--port', '0']);
      try {
        o.log('upload: baseline insertMany');
        const run = await timedChild([await builtScript('bench/upload-baseline.ts'), uri, String(o.readings), String(o.devices)], {}, server.pid!);
        const m = /^done (.+)$/m.exec(run.stdout);
        if (run.code !== 0 || !m) throw new Error(`baseline upload failed (exit ${run.code}): ${run.stderr.slice(-2000)}`);
        const done = JSON.parse(m[1]) as { readings: number; documents: number };
        result.baseline = side(done.readings, done.documents, run);
      } finally {
        await stopChild(server);
      }
    }
    // The gateway: pre-fill its SQLite buffer (not timed), then `iotgw upload --now`.
    const dataDir = join(dir.path, 'data');
    o.log(`upload: pre-filling ${o.readings} readings into SQLite`);
    await prefill(join(dataDir, 'buffer.db'), o.readings, o.devices, window);
    const { proc: server, ready: uri } = await spawnReady('test/support/mongo-server.ts', ['--port', '0']);
    try {
      o.log('upload: iotgw upload --now');
      const run = await timedChild([await builtGateway(), 'upload', '--now'], {
        IOTGW_CONFIG: '', IOTGW_DATA_DIR: dataDir, IOTGW_REDIS_URL: 'none', IOTGW_MONGODB_URI: uri, IOTGW_DISCOVERY: 'off', IOTGW_LOG_LEVEL: 'warn',
        // The daemon uploads in-process, so the uploader gets the unit's node flags (V8 heap limits);
        // IOTGW_BENCH_UPLOAD_NODE_OPTIONS replaces them for experiments.
        NODE_OPTIONS: process.env.IOTGW_BENCH_UPLOAD_NODE_OPTIONS ?? unitNodeFlags().join(' '),
      }, server.pid!);
      const m = /^uploaded (\d+) readings in (\d+) parts/m.exec(run.stdout);
      if (run.code !== 0 || !m) throw new Error(`iotgw upload --now failed (exit ${run.code}): ${(run.stdout + run.stderr).slice(-2000)}`);
      if (Number(m[1]) !== o.readings) throw new Error(`iotgw upload --now uploaded ${m[1]} readings, expected ${o.readings}: ${run.stdout.slice(-2000)}`);
      result.gateway = side(Number(m[1]), Number(m[2]), run);
      result.ratio = round(result.gateway.readings_per_s / result.baseline.readings_per_s, 3);
    } finally {
      await stopChild(server);
    }
  } catch (err) {
    result.error = (err as Error).message.slice(0, 2000);
    o.log(`upload: ${result.error}`);
  } finally {
    dir.cleanup();
  }
  return result;
}

function side(readings: number, documents: number, run: ChildRun): UploadSide {
  return {
    readings, documents,
    seconds: round(run.seconds, 2),
    readings_per_s: round(readings / run.seconds, 1),
    cpu_s: round(run.cpu, 2),
    rss_peak_mb: round(run.rssPeak / MB, 1),
    server_cpu_s: round(run.serverCpu, 2),
  };
}
