import type { ReadingDoc } from '../reading.ts';
import type { DeviceEntry } from './records.ts';

/** One store as the device readings API reads it: its windows, and one window's readings of a device, complete. */
export interface DeviceSource {
  windows(): Promise<number[]>;
  entries(deviceId: string, window: number): Promise<DeviceEntry[]>;
}

export interface DevicePageQuery {
  from?: number;
  to?: number;
  limit: number;
  /** `next` of the previous page. */
  cursor?: string;
}

export interface DevicePage {
  readings: ReadingDoc[];
  /** Pass as `cursor` for the next page; null when no older reading of the device is buffered. */
  next: string | null;
}

/** A cursor names the last reading handed out: `[window, received_at, id]`, base64url JSON. */
type Key = [number, number, string];

export function encodeCursor(k: Key): string {
  return Buffer.from(JSON.stringify(k)).toString('base64url');
}

/** Null when the text is not a cursor this gateway made (the route answers 400 naming `cursor`). */
export function decodeCursor(text: string): Key | null {
  try {
    const k = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(k) && k.length === 3 && Number.isSafeInteger(k[0]) && Number.isFinite(k[1]) && typeof k[2] === 'string') return k as Key;
  } catch { /* not ours */ }
  return null;
}

/** Order: window newest first, then receive time newest first, then id descending (a total order, so pages never overlap). */
function before(a: Key, b: Key): boolean {
  if (a[0] !== b[0]) return a[0] > b[0];
  if (a[1] !== b[1]) return a[1] > b[1];
  return a[2] > b[2];
}

/**
 * A device's buffered readings, newest first, complete and paged: every window of every store
 * is looked at (each store answers one window completely from its own index), the window's
 * readings are merged by id (a reading both stores hold is listed once) and sorted, and the page
 * ends after `limit` readings with a cursor to go on. A page never leaves out a reading without
 * a `next`: the rule that a partial answer must say so.
 */
export async function devicePage(sources: DeviceSource[], deviceId: string, q: DevicePageQuery): Promise<DevicePage> {
  const from = q.from ?? -Infinity;
  const to = q.to ?? Infinity;
  let after: Key | null = null;
  if (q.cursor !== undefined) {
    after = decodeCursor(q.cursor);
    if (!after) throw Object.assign(new Error('cursor: not a cursor from this API'), { code: 'invalid_cursor' });
  }
  const windows = new Set<number>();
  for (const s of sources) for (const w of await s.windows()) windows.add(w);
  const out: ReadingDoc[] = [];
  let last: Key | null = null;
  for (const w of [...windows].sort((a, b) => b - a)) {
    if (after && w > after[0]) continue;
    const byId = new Map<string, DeviceEntry>();
    for (const s of sources) for (const e of await s.entries(deviceId, w)) if (e.received_at >= from && e.received_at <= to) byId.set(e.id, e);
    const sorted = [...byId.values()].sort((a, b) => b.received_at - a.received_at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    for (const e of sorted) {
      const k: Key = [w, e.received_at, e.id];
      if (after && !before(after, k)) continue;
      if (out.length === q.limit) return { readings: out, next: encodeCursor(last!) };
      out.push(e.doc);
      last = k;
    }
  }
  return { readings: out, next: null };
}
