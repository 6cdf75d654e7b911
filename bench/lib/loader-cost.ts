/**
 * What running TypeScript through tsx costs in memory, measured in the same run: the idle RSS of
 * plain `node`, of `node --import tsx` with nothing loaded, and of the gateway (SQLite mode) as
 * compiled by scripts/build.mjs and run with plain `node`, all without the unit's V8 flags, so the
 * difference shows what tsx alone costs. (The gateway under test is the same compiled build.)
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MB, rssBytes } from './proc.ts';
import { freePort, tempDir } from '../../test/support/ports.ts';
import { builtGateway } from './compile.ts';

export interface LoaderCost {
  plain_node_idle_mb: number | null;
  tsx_node_idle_mb: number | null;
  gateway_compiled_idle_mb: number | null;
  error: string | null;
}

const round1 = (b: number | null): number | null => (b === null ? null : Math.round((b / MB) * 10) / 10);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Spawns, waits for `ready` on stdout (or a fixed delay), settles, reads VmRSS, kills. */
async function idleRss(args: string[], env: Record<string, string>, readyText: string | null, cwd: string): Promise<number | null> {
  const proc = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { err += d; });
  try {
    const deadline = Date.now() + 30_000;
    while (readyText && !out.includes(readyText)) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`${args.join(' ')}: not ready (exit ${proc.exitCode}): ${err.slice(-500)}`);
      await sleep(50);
    }
    await sleep(1500);
    return rssBytes(proc.pid!);
  } finally {
    proc.kill('SIGKILL');
  }
}

export async function measureLoaderCost(root: string): Promise<LoaderCost> {
  const result: LoaderCost = { plain_node_idle_mb: null, tsx_node_idle_mb: null, gateway_compiled_idle_mb: null, error: null };
  const tmp = tempDir('iotgw-bench-loader-');
  try {
    const idle = join(tmp.path, 'idle.ts');
    writeFileSync(idle, 'process.stdout.write("ready\\n"); setInterval(() => {}, 1000);\n');
    result.plain_node_idle_mb = round1(await idleRss(['-e', 'process.stdout.write("ready\\n"); setInterval(() => {}, 1000)'], {}, 'ready', root));
    result.tsx_node_idle_mb = round1(await idleRss(['--import', 'tsx', idle], {}, 'ready', root));
    const port = await freePort();
    result.gateway_compiled_idle_mb = round1(await idleRss([await builtGateway(), 'start'], {
      IOTGW_PORT: String(port), IOTGW_HOST: '127.0.0.1', IOTGW_DATA_DIR: join(tmp.path, 'data'), IOTGW_REDIS_URL: 'none', IOTGW_MONGODB_URI: '', IOTGW_DISCOVERY: 'off', IOTGW_CONFIG: '',
    }, '"listening"', root));
  } catch (err) {
    result.error = (err as Error).message.slice(0, 1000);
  } finally {
    tmp.cleanup();
  }
  return result;
}
