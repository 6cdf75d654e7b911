import type { Config } from './config.ts';
import { setPath } from './config.ts';

/**
 * What `systemctl reload iotgw` (SIGHUP) can change in a running daemon. Everything else (ports,
 * stores, the data dir, body_limit_bytes which the HTTP parser and the WebSocket server fix at
 * start, ...) is reported as "needs a restart" and keeps its running value, so the daemon never
 * runs half of a change.
 */
const LIVE = [
  'ingest.max_batch', 'ingest.max_metrics', 'ingest.max_depth', 'ingest.max_string_length',
  'ingest.max_clock_skew_seconds', 'ingest.max_late_seconds', 'ingest.auth.', 'ingest.rate_limit.',
  'ingest.ws.max_buffered_bytes', 'ingest.ws.max_in_flight',
  'http.headers_timeout_ms', 'http.request_timeout_ms', 'http.keep_alive_timeout_ms', 'http.max_connections',
  'buffer.max_bytes', 'buffer.max_age_seconds', 'log.level', 'firmware.max_failures', 'firmware.max_image_bytes',
];

export const isLive = (path: string): boolean => LIVE.some((p) => (p.endsWith('.') ? path.startsWith(p) : path === p));

export interface ConfigChanges {
  /** Applied to the running daemon. */
  applied: string[];
  /** Changed in the file, kept at the running value until a restart. */
  restart_needed: string[];
}

/** Leaf paths whose values differ (a map such as `device_keys` counts as one leaf). */
export function changedPaths(a: unknown, b: unknown, prefix = ''): string[] {
  const plain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (plain(a) && plain(b) && !(prefix.endsWith('device_keys'))) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => changedPaths(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
}

/** Writes the live part of `next` into `running` in place (components hold that object) and says what changed. */
export function applyLive(running: Config, next: Config): ConfigChanges {
  const changes: ConfigChanges = { applied: [], restart_needed: [] };
  for (const path of changedPaths(running, next)) {
    if (path === 'source') continue;
    if (!isLive(path)) {
      changes.restart_needed.push(path);
      continue;
    }
    setPath(running as unknown as Record<string, unknown>, path, structuredClone(path.split('.').reduce<any>((node, k) => node?.[k], next)));
    changes.applied.push(path);
  }
  return changes;
}
