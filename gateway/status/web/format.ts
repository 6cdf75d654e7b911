/**
 * Pure formatting for the status page: no DOM, so node:test covers it (test/status-web.test.ts).
 * Words are for an installer on a phone: "12 s ago", "3.4 MB", "2 h 5 min".
 */

/** "just now", "12 s ago", "4 min ago", "3 h ago", "2 d ago"; "—" when never. */
export function ago(iso: string | null | undefined, now: number): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '—';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** "in 12 s", "in 4 min", or "now" for a time that has come; "—" when none. */
export function until(iso: string | null | undefined, now: number): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '—';
  const s = Math.round((t - now) / 1000);
  if (s <= 0) return 'now';
  return `in ${duration(s)}`;
}

/** 59 → "59 s", 125 → "2 min 5 s", 7500 → "2 h 5 min", 200000 → "2 d 7 h". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** 0 → "0 B", 1536 → "1.5 KB", 3.4e6 → "3.2 MB" (binary multiples, as `df -h` shows). */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** A plain number with thousands separators; "—" when absent. */
export function count(n: number | null | undefined): string {
  return typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString('en-US') : '—';
}

/** RSSI in dBm with a word, so the number means something on site: -55 → "-55 dBm (good)". */
export function rssi(v: unknown): string {
  if (typeof v !== 'number' || !Number.isFinite(v) || v === 0) return '—';
  const word = v >= -60 ? 'good' : v >= -70 ? 'fair' : v >= -80 ? 'weak' : 'poor';
  return `${v} dBm (${word})`;
}

export type FirmwareState = 'pending' | 'downloading' | 'failed' | 'updated' | 'rolled_back';
export interface FirmwareInfo { version?: string | null; target?: string | null; state?: FirmwareState | null; reason?: string | null; at?: string | null; progress?: { bytes: number; size: number } }

const FIRMWARE_STATE_WORDS: Record<FirmwareState, string> = {
  pending: 'update pending',
  downloading: 'downloading update',
  failed: 'update failed',
  updated: 'updated',
  rolled_back: 'rolled back',
};

/**
 * The device's firmware as two short texts. `GET /devices` gives the version a board announced
 * over mDNS as a string, and, once firmware updates land, an object `{version, target, state,
 * reason, at}` with every field nullable: both are read, and what is missing shows as "—".
 */
export function firmware(fw: unknown): { version: string; update: string } {
  if (typeof fw === 'string' && fw !== '') return { version: fw, update: '' };
  if (!fw || typeof fw !== 'object') return { version: '—', update: '' };
  const f = fw as FirmwareInfo;
  const version = f.version || '—';
  if (!f.state) return { version, update: '' };
  let update = FIRMWARE_STATE_WORDS[f.state] ?? f.state;
  if ((f.state === 'pending' || f.state === 'downloading') && f.target) update += ` → ${f.target}`;
  if (f.state === 'downloading' && f.progress && f.progress.size > 0) update += ` (${Math.min(100, Math.floor((100 * f.progress.bytes) / f.progress.size))} %)`;
  if ((f.state === 'failed' || f.state === 'rolled_back') && f.reason) update += `: ${f.reason}`;
  return { version, update };
}

/** The metrics of a reading that can be charted: top-level numbers other than the bookkeeping fields. */
export function numericMetrics(doc: Record<string, unknown> | undefined): string[] {
  if (!doc) return [];
  const skip = new Set(['seq', 'ts', 'boot_id', 'loop_count']);
  return Object.keys(doc).filter((k) => typeof doc[k] === 'number' && Number.isFinite(doc[k]) && !skip.has(k)).sort();
}

/** The metric a chart starts with: the first of these that the device sends, else its first number. */
export function defaultMetric(metrics: string[]): string | null {
  for (const m of ['temperature', 'cpu_temp_c', 'wifi_rssi', 'heap_free']) if (metrics.includes(m)) return m;
  return metrics[0] ?? null;
}

/** The upload's last error in plain words, from `GET /stats` `upload.last_error`. */
export function uploadError(e: { kind?: string; reason?: string; at?: string } | null | undefined, now: number): string {
  if (!e) return 'none';
  const what = e.kind === 'transient' ? 'Atlas could not be reached' : e.kind === 'refused' || e.kind === 'permanent' ? 'Atlas refused the data' : 'upload failed';
  return `${what} (${ago(e.at, now)}): ${e.reason ?? 'no reason given'}`;
}
