import type { Config } from '../config.ts';

/**
 * One doctor line. `ok` is false only for `fail`: a `warn` (works, but not as it should on a Pi
 * in the field) or a `note` (a deliberate choice, e.g. no Atlas configured) does not fail the run.
 */
export type Level = 'ok' | 'note' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  name: string;
  ok: boolean;
  level: Level;
  detail: string;
  /** What to do about it, for anything not `ok`. */
  hint?: string;
}

export interface DoctorResult {
  ok: boolean;
  checks: CheckResult[];
}

export interface DoctorOptions {
  /** Bound for each network step (DNS, connect, TLS, ping). Default 3000 ms. */
  timeoutMs?: number;
  /** Where the config came from, for the config line (loadConfig's `source`). */
  source?: string | null;
  /** The `timedatectl` binary; tests point it at a stand-in. */
  timedatectl?: string;
  /** The avahi-daemon socket that marks a running Avahi. */
  avahiSocket?: string;
}

export interface CheckContext {
  config: Config;
  timeoutMs: number;
  opts: DoctorOptions;
}

export const result = (name: string, level: Level, detail: string, hint?: string): CheckResult =>
  ({ name, ok: level !== 'fail', level, detail, ...(hint && level !== 'ok' ? { hint } : {}) });

/** `p` or a rejection after `ms`, whichever comes first; the timer never holds the process open. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms); timer.unref(); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export const errText = (err: unknown): string => {
  const e = err as NodeJS.ErrnoException & { errors?: unknown[] };
  if (e?.errors?.length) return errText(e.errors[0]);
  return (e?.message || e?.code || String(err)).split('\n')[0];
};

export const formatBytes = (n: number): string => {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
};
