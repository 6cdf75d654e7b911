import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CliResult {
  code: number | null;
  out: string;
  err: string;
}

/**
 * Runs the real `iotgw` CLI (gateway/main.ts) on a data dir, as an operator's shell would: no
 * config file, and no NOTIFY_SOCKET, so a test run under systemd does not talk to the manager.
 */
export function runIotgw(dataDir: string, args: string[]): CliResult {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), IOTGW_DATA_DIR: dataDir, IOTGW_CONFIG: '' };
  delete env.NOTIFY_SOCKET;
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'gateway/main.ts', ...args], { cwd: root, env, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
