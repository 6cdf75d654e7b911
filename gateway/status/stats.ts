import { networkInterfaces } from 'node:os';
import type { Counter } from 'prom-client';
import type { StatusSources } from './routes.ts';

/**
 * The body of `GET /stats` (and of the event stream's `stats` event): what the status page shows
 * about the gateway, its buffer and its upload, in one read. Everything here is either in memory
 * or one `listWindows()` of the buffer, so the page can ask for it every second.
 */
export async function statsBody(s: StatusSources) {
  const windows = await s.buffer.listWindows();
  const byStore: Record<string, { windows: number; readings: number; bytes: number }> = {};
  for (const w of windows) {
    const b = (byStore[w.store] ??= { windows: 0, readings: 0, bytes: 0 });
    b.windows++;
    b.readings += w.count;
    b.bytes += w.bytes;
  }
  const oldest = windows.length > 0 ? Math.min(...windows.map((w) => w.window)) : null;
  const uptime = Math.round((Date.now() - s.startedAt) / 1000);
  return {
    gateway_id: s.gatewayId,
    version: s.version,
    uptime_s: uptime,
    started_at: new Date(s.startedAt).toISOString(),
    http: { port: s.http.port(), addresses: localAddresses(s.http.host) },
    store: {
      mode: s.buffer.mode,
      redis: { configured: s.redisConfigured, state: !s.redisConfigured ? 'not_configured' : s.buffer.mode === 'redis' ? 'up' : 'down' },
      buffered: byStore,
      windows: new Set(windows.map((w) => w.window)).size,
      window_seconds: s.windowSeconds,
      oldest_window: oldest === null ? null : new Date(oldest).toISOString(),
      dropped: await byLabel(s.metrics.readingsDropped, 'reason'),
      quarantined: await byLabel(s.metrics.recordsQuarantined, 'store'),
    },
    traffic: s.traffic.snapshot(),
    upload: s.upload.status(),
    discovery: s.discovery.status(),
    auth: s.auth?.status(),
  };
}

/** A labelled counter as `{label value: count}` (counts since the daemon started, as in /metrics). */
async function byLabel(counter: Counter<string>, label: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await counter.get()).values) {
    const key = String(v.labels[label] ?? 'unknown');
    out[key] = (out[key] ?? 0) + v.value;
  }
  return out;
}

/** The addresses the page can be reached on: every non-loopback one when listening on all, else the one bound. */
function localAddresses(host: string): string[] {
  if (host !== '0.0.0.0' && host !== '::') return [host];
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal || (host === '0.0.0.0' && a.family !== 'IPv4')) continue;
      out.push(a.address);
    }
  }
  return out;
}
