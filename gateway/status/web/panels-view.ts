import { ago, bytes, count, duration, until, uploadError } from './format.ts';
import { fillList, type Pair } from './dom.ts';

/** The parts of `GET /stats` the panels read; every field may be missing on an older or newer gateway. */
export interface Stats {
  gateway_id?: string;
  version?: string;
  started_at?: string;
  uptime_s?: number;
  http?: { port?: number; addresses?: string[] };
  store?: {
    mode?: string;
    redis?: { configured?: boolean; state?: string };
    buffered?: Record<string, { windows: number; readings: number; bytes: number }>;
    windows?: number;
    window_seconds?: number;
    oldest_window?: string | null;
    dropped?: Record<string, number>;
    quarantined?: Record<string, number>;
  };
  upload?: {
    enabled?: boolean;
    atlas?: string;
    last_success?: string | null;
    last_error?: { at?: string; kind?: string; reason?: string } | null;
    queued_windows?: number;
    queued_readings?: number;
    queued_bytes?: number;
    in_progress?: boolean;
    next_pass?: string | null;
    quarantine?: { parts?: number; readings?: number } | null;
  };
  discovery?: { enabled?: boolean; host?: string | null; problem?: string | null };
}

const plural = (n: number, word: string): string => `${count(n)} ${word}${n === 1 ? '' : 's'}`;

const ATLAS_WORDS: Record<string, [string, string]> = {
  disabled: ['not configured (no mongodb.uri)', 'warn'],
  idle: ['not connected yet', ''],
  connecting: ['connecting…', ''],
  up: ['connected', 'good'],
  down: ['unreachable', 'bad'],
};

export function renderGateway(dl: HTMLElement, s: Stats, now: number): void {
  const started = s.started_at ? Date.parse(s.started_at) : NaN;
  const uptime = Number.isFinite(started) ? (now - started) / 1000 : s.uptime_s;
  const port = s.http?.port;
  const urls = (s.http?.addresses ?? []).map((a) => `http://${a.includes(':') ? `[${a}]` : a}:${port}/`);
  const redis = s.store?.redis;
  const d = s.discovery;
  fillList(dl, [
    ['ID', s.gateway_id ?? '—'],
    ['Version', s.version ?? '—'],
    ['Uptime', uptime === undefined ? '—' : duration(uptime)],
    ['Addresses', urls.length ? urls.join('  ') : '—'],
    ['mDNS name', d?.enabled === false ? 'discovery off' : d?.host ? `${d.host}${port ? `:${port}` : ''}` : '—', d?.problem ? 'warn' : undefined],
    d?.problem ? ['mDNS problem', d.problem, 'warn'] : null,
    redis ? ['Redis', redis.state === 'up' ? 'connected' : redis.state === 'down' ? 'down' : 'not configured', redis.state === 'up' ? 'good' : redis.state === 'down' ? 'bad' : undefined] : null,
    s.upload ? ['Atlas', ...atlasWords(s.upload.atlas)] : null,
  ]);
}

function atlasWords(state: string | undefined): [string, string?] {
  const [text, cls] = ATLAS_WORDS[state ?? ''] ?? [state ?? '—', ''];
  return [text, cls || undefined];
}

/** "Redis", or "SQLite (fallback: Redis is down)", or "SQLite (no Redis configured)". */
export function storeMode(s: Stats): [string, string?] {
  const mode = s.store?.mode;
  if (mode === 'redis') return ['Redis', 'good'];
  if (mode !== 'sqlite') return [mode ?? '—'];
  if (s.store?.redis?.configured) return ['SQLite (fallback: Redis is down)', 'warn'];
  return ['SQLite (no Redis configured)'];
}

export function renderBuffer(dl: HTMLElement, s: Stats, now: number): void {
  const st = s.store ?? {};
  const buffered = Object.values(st.buffered ?? {});
  const readings = buffered.reduce((a, b) => a + b.readings, 0);
  const size = buffered.reduce((a, b) => a + b.bytes, 0);
  const windowH = (st.window_seconds ?? 3600) / 3600;
  const windows = st.windows ?? 0;
  const dropped = Object.entries(st.dropped ?? {}).filter(([, n]) => n > 0);
  const quarantined = Object.entries(st.quarantined ?? {}).filter(([, n]) => n > 0);
  const parts = s.upload?.quarantine;
  fillList(dl, [
    ['Store', ...storeMode(s)],
    ['Queued', windows === 0 ? 'nothing' : `${plural(windows, 'window')} (${windowH === 1 ? `${count(windows)} h` : duration(windows * windowH * 3600)} of data)`],
    ['Oldest window', st.oldest_window ? `started ${ago(st.oldest_window, now)}` : '—'],
    ['Readings', count(readings)],
    ['Size', bytes(size)],
    ['Dropped', dropped.length ? dropped.map(([r, n]) => `${r}: ${count(n)}`).join(', ') : 'none', dropped.length ? 'bad' : undefined],
    ['Quarantined records', quarantined.length ? quarantined.map(([r, n]) => `${r}: ${count(n)}`).join(', ') : 'none', quarantined.length ? 'warn' : undefined],
    parts ? ['Quarantined parts', `${count(parts.parts ?? 0)} parts, ${count(parts.readings ?? 0)} readings`, parts.parts ? 'warn' : undefined] : null,
  ]);
}

export function renderUpload(dl: HTMLElement, button: HTMLButtonElement, s: Stats, now: number): void {
  const u = s.upload;
  const pairs: Pair[] = !u ? [['Upload', '—']] : !u.enabled
    ? [['Upload', 'disabled: mongodb.uri is not configured, readings stay in the buffer', 'warn']]
    : [
      ['Atlas', ...atlasWords(u.atlas)],
      ['Last success', u.last_success ? ago(u.last_success, now) : 'not yet'],
      ['Next run', u.in_progress ? 'running now' : until(u.next_pass, now)],
      ['Waiting', `${plural(u.queued_windows ?? 0, 'closed window')}, ${plural(u.queued_readings ?? 0, 'reading')}, ${bytes(u.queued_bytes)}`],
      ['Last error', uploadError(u.last_error, now), u.last_error ? 'bad' : undefined],
    ];
  fillList(dl, pairs);
  button.disabled = !u?.enabled || !!u.in_progress || button.dataset.busy === '1';
  button.title = u?.enabled ? 'Upload every closed window now, as iotgw upload --now does' : 'Upload is disabled on this gateway (no mongodb.uri)';
}
