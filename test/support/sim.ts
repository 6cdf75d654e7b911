import { spawn, execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The firmware's host simulator (firmware/sim: the portable core's device loop over POSIX
 * sockets), built with g++ and run as a child process; its last stdout line is a JSON result.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SIM = join(root, 'firmware/.build/iotgw-sim');

export interface SimDevice {
  device_id: string;
  boot_id: string;
  group_id: string;
  produced: number;
  acked: number;
  dropped: number;
  rejected: number;
  pending: number;
  acked_ranges: [number, number][];
  /** The firmware it runs at the end (`--fw`, or the version it updated to). */
  fw: string;
  /** Every boot: an update or a rollback starts a new one. */
  boots: SimBoot[];
  updates: SimUpdateEvent[];
  update_stats: { offers: number; downloads: number; resumes: number; failures: number; bytes: number };
}
export interface SimBoot {
  boot_id: string;
  fw: string;
  produced: number;
  acked_ranges: [number, number][];
}
export interface SimUpdateEvent {
  t_ms: number;
  event: 'offered' | 'download_started' | 'download_resumed' | 'failed' | 'verified' | 'rebooted' | 'confirmed' | 'rolled_back';
  version: string;
  detail: string;
}
export interface SimResult {
  transport: string;
  devices: number;
  produced: number;
  acked: number;
  dropped: number;
  rejected: number;
  pending: number;
  retried: number;
  failures: number;
  ws_opens: number;
  device_list: SimDevice[];
}

export function buildSim(): void {
  execFileSync('bash', [join(root, 'firmware/sim/build.sh')], { stdio: 'inherit' });
}

/** `kill()` ends a simulator that would run on (SIGTERM; `done` then rejects). */
export function runSim(args: string[]): { done: Promise<SimResult>; exited: () => boolean; kill: () => void } {
  const proc = spawn(SIM, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let exited = false;
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { err += d; });
  const done = new Promise<SimResult>((resolve, reject) => {
    proc.once('exit', (code) => {
      exited = true;
      if (code !== 0) return reject(new Error(`iotgw-sim exited ${code}: ${err}`));
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as SimResult);
      } catch {
        reject(new Error(`iotgw-sim printed no result line: ${out}\n${err}`));
      }
    });
  });
  return { done, exited: () => exited, kill: () => { if (!exited) proc.kill('SIGTERM'); } };
}
