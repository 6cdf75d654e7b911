/**
 * The shape of `bench/results/*.json` (schema `iotgw-bench/1`) and a validator for it, used by
 * the harness before writing and by test/bench-smoke.test.ts. Validation checks structure and
 * types only, never how fast anything was.
 */
import type { LoadResult } from '../load.ts';
import type { ServerName } from '../servers.ts';

export const SCHEMA = 'iotgw-bench/1';

export type LoadKind = 'http' | 'batch' | 'ws';

export interface ScenarioResult {
  id: string;
  load: LoadKind;
  server: ServerName;
  readings_per_request: number;
  connections: number;
  /** Closed loop, as fast as the server answers. */
  max: LoadResult;
  /** Open loop at half of `max.requests_per_s`. */
  half_rate: LoadResult;
  /**
   * Gateway scenarios: the baseline server driven open loop at this scenario's half rate, right
   * after it, so a p99 can be read against the yardstick at the same load (the baseline's own
   * half rate is about twice as high, where the load client alone adds to the tail). Null for
   * baselines and absent in runs before it was measured.
   */
  baseline_same_rate?: LoadResult | null;
  /** CPU of the server process during `max` (utime+stime), and per 100k readings. */
  cpu_s: number;
  cpu_s_per_100k: number;
  /** Peak VmRSS of the server process over the scenario (both phases). */
  rss_peak_mb: number;
  /** redis-server beside the gateway in Redis mode, else null. */
  redis: { cpu_s_per_100k: number; rss_peak_mb: number } | null;
  /** This scenario / the baseline scenario of the same load in the same run (1 for the baseline itself). */
  ratio: { readings_per_s: number; p50_ms: number; p99_ms: number; rss_peak: number; cpu_per_100k: number } | null;
}

export interface ServerResult {
  name: ServerName;
  rss_idle_mb: number;
  rss_peak_mb: number;
  rss_after_mb: number;
  redis_rss_idle_mb: number | null;
  /** Redis mode: times intake failed over to SQLite during the run (a slow Redis write); else null or 0. */
  failovers_to_sqlite: number | null;
}

export interface UploadSide {
  readings: number;
  documents: number;
  seconds: number;
  readings_per_s: number;
  cpu_s: number;
  rss_peak_mb: number;
  server_cpu_s: number;
}

export interface UploadResult {
  readings: number;
  devices: number;
  store: 'sqlite' | 'redis';
  /** How the gateway side ran: the Uploader class in a child process, or `iotgw upload --now`. */
  method: string;
  gateway: UploadSide | null;
  baseline: UploadSide;
  ratio: number | null;
  error: string | null;
}

export interface Goal {
  id: string;
  text: string;
  value: number | null;
  threshold: number;
  op: '>=' | '<';
  unit: string;
  /** null when the run did not measure it (scenario not selected). */
  met: boolean | null;
}

export interface BenchResults {
  schema: typeof SCHEMA;
  started_at: string;
  finished_at: string;
  git: { commit: string | null; dirty: boolean | null };
  host: { cpus: number; cpu_model: string; node: string; clk_tck: number; loadavg_start: number[]; loadavg_end: number[] };
  options: { duration_s: number; rounds: number; warmup_s: number; connections: number; ws_window: number; batch_size: number; devices: number; only: string[]; /** Node flags from deploy/systemd/iotgw.service's ExecStart, applied to the gateway under test (absent in runs before it was recorded: none were applied). */ gateway_node_flags?: string; /** An experiment's preloaded patch of the gateway (bench/lib/patch-preload.mjs), else null. */ gateway_patch: string | null };
  servers: ServerResult[];
  scenarios: ScenarioResult[];
  upload: UploadResult | null;
  /** Idle RSS of plain node, of node with tsx, and of the gateway compiled (bench/lib/loader-cost.ts); null when no gateway ran. */
  loader: { plain_node_idle_mb: number | null; tsx_node_idle_mb: number | null; gateway_compiled_idle_mb: number | null; error: string | null } | null;
  goals: Goal[];
}

type Check = (v: unknown, path: string, errs: string[]) => void;
const num: Check = (v, p, e) => { if (typeof v !== 'number' || !Number.isFinite(v)) e.push(`${p}: expected a finite number, got ${JSON.stringify(v)}`); };
const str: Check = (v, p, e) => { if (typeof v !== 'string') e.push(`${p}: expected a string`); };
const nullable = (c: Check): Check => (v, p, e) => { if (v !== null) c(v, p, e); };
const oneOf = (...xs: unknown[]): Check => (v, p, e) => { if (!xs.includes(v)) e.push(`${p}: expected one of ${xs.join(', ')}, got ${JSON.stringify(v)}`); };
const arr = (c: Check): Check => (v, p, e) => { if (!Array.isArray(v)) e.push(`${p}: expected an array`); else v.forEach((x, i) => c(x, `${p}[${i}]`, e)); };
const OPTIONAL = Symbol('optional');
/** A field added after results were first published: older files may lack it. */
const optional = (c: Check): Check => Object.assign((v: unknown, p: string, e: string[]) => c(v, p, e), { [OPTIONAL]: true });
const obj = (shape: Record<string, Check>): Check => (v, p, e) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) { e.push(`${p}: expected an object`); return; }
  for (const [k, c] of Object.entries(shape)) {
    if (!(k in v)) { if (!(c as { [OPTIONAL]?: boolean })[OPTIONAL]) e.push(`${p}.${k}: missing`); }
    else c((v as Record<string, unknown>)[k], `${p}.${k}`, e);
  }
};
const bool: Check = (v, p, e) => { if (typeof v !== 'boolean') e.push(`${p}: expected a boolean`); };

const load = obj({
  mode: oneOf('max', 'rate'), duration_s: num, requests: num, readings: num, requests_per_s: num, readings_per_s: num,
  target_rate: nullable(num), p50_ms: num, p99_ms: num, max_ms: num, errors: num,
});
const side = obj({ readings: num, documents: num, seconds: num, readings_per_s: num, cpu_s: num, rss_peak_mb: num, server_cpu_s: num });

const results = obj({
  schema: oneOf(SCHEMA), started_at: str, finished_at: str,
  git: obj({ commit: nullable(str), dirty: nullable(bool) }),
  host: obj({ cpus: num, cpu_model: str, node: str, clk_tck: num, loadavg_start: arr(num), loadavg_end: arr(num) }),
  options: obj({ duration_s: num, rounds: num, warmup_s: num, connections: num, ws_window: num, batch_size: num, devices: num, only: arr(str), gateway_node_flags: optional(str), gateway_patch: nullable(str) }),
  servers: arr(obj({ name: oneOf('baseline', 'redis', 'sqlite'), rss_idle_mb: num, rss_peak_mb: num, rss_after_mb: num, redis_rss_idle_mb: nullable(num), failovers_to_sqlite: nullable(num) })),
  scenarios: arr(obj({
    id: str, load: oneOf('http', 'batch', 'ws'), server: oneOf('baseline', 'redis', 'sqlite'), readings_per_request: num, connections: num,
    max: load, half_rate: load, baseline_same_rate: optional(nullable(load)), cpu_s: num, cpu_s_per_100k: num, rss_peak_mb: num,
    redis: nullable(obj({ cpu_s_per_100k: num, rss_peak_mb: num })),
    ratio: nullable(obj({ readings_per_s: num, p50_ms: num, p99_ms: num, rss_peak: num, cpu_per_100k: num })),
  })),
  upload: nullable(obj({
    readings: num, devices: num, store: oneOf('sqlite', 'redis'), method: str, gateway: nullable(side), baseline: side, ratio: nullable(num), error: nullable(str),
  })),
  loader: nullable(obj({ plain_node_idle_mb: nullable(num), tsx_node_idle_mb: nullable(num), gateway_compiled_idle_mb: nullable(num), error: nullable(str) })),
  goals: arr(obj({ id: str, text: str, value: nullable(num), threshold: num, op: oneOf('>=', '<'), unit: str, met: nullable(bool) })),
});

/** Every structural problem of a results document; empty when it is well formed. */
export function validateResults(doc: unknown): string[] {
  const errs: string[] = [];
  results(doc, 'results', errs);
  return errs;
}
