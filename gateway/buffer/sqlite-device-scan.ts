import { setImmediate as tick } from 'node:timers/promises';
import type { StoredReading } from '../reading.ts';
import type { DeviceQuery } from './store.ts';
import type { DeviceEntry } from './records.ts';
import { ORDER_MARGIN_MS } from './sqlite-schema.ts';

/** Rows read per step, with a yield to the event loop between steps. */
const SCAN_STEP = 1000;

/** One scanned row: `[seq, received_at, id, group_id, doc]`, the last three null for other devices' rows. */
export type ScanRow = [number, number, string | null, string | null, string | null];

export interface ScanSource {
  /** Windows holding readings, newest first, with `window_stats.max_at` (sqlite-schema.ts). */
  windows(): { window: number; max_at: number | null }[];
  /** Up to `n` rows of the window with seq < `before`, newest first. */
  step(window: number, before: number, n: number): ScanRow[];
  /** The stored reading of a matched row, or null when its doc is unreadable (then quarantined). */
  entry(row: { seq: number; id: string; device_id: string; group_id: string; window: number; received_at: number; doc: string }): StoredReading | null;
  isOpen(): boolean;
}

/**
 * A device's readings newest first by receive time, without a per-device index (it cost every
 * insert, and the readings API is rare next to intake). Like the Redis store: newest window
 * first, each from its newest row backwards through the (window, seq) index in steps, at most
 * `budget` rows in all, so one request never reads the whole buffer.
 *
 * In a window whose rows are in receive order (`max_at` set) the scan stops at the first row
 * older than the cut minus the margin, which proves every earlier row older than the cut: the cut
 * is `from`, or once `limit` readings are found, the oldest of the best `limit`. Windows whose
 * `max_at` is below the cut are skipped. A window is the receive time rounded down, so older
 * windows hold older readings and the walk ends once `limit` readings are found.
 */
export async function scanDevice(src: ScanSource, deviceId: string, query: DeviceQuery, budget: number): Promise<DeviceEntry[]> {
  const from = query.from ?? Number.MIN_SAFE_INTEGER;
  const to = query.to ?? Number.MAX_SAFE_INTEGER;
  const { limit } = query;
  const found: (DeviceEntry & { seq: number })[] = [];
  let cut = from;
  let first = true;
  for (const w of src.windows()) {
    if (budget <= 0 || found.length >= limit) break;
    if (w.window > to || (w.max_at !== null && w.max_at < cut)) continue;
    let before = Number.MAX_SAFE_INTEGER;
    scan: for (;;) {
      if (!first) {
        await tick();
        if (!src.isOpen()) throw new Error('sqlite store closed during a device scan');
      }
      first = false;
      const n = Math.min(SCAN_STEP, budget);
      const rows = src.step(w.window, before, n);
      budget -= rows.length;
      for (const [seq, at, id, groupId, doc] of rows) {
        if (w.max_at !== null && at < cut - ORDER_MARGIN_MS) break scan;
        if (id === null || at < from || at > to) continue;
        const r = src.entry({ seq, id, device_id: deviceId, group_id: groupId!, window: w.window, received_at: at, doc: doc! });
        if (r) found.push({ id: r.id, received_at: at, doc: r.doc, seq });
      }
      if (found.length >= limit) cut = Math.max(from, newestFirst(found)[limit - 1].received_at);
      if (rows.length < n || budget <= 0) break;
      before = rows[rows.length - 1][0];
    }
  }
  return newestFirst(found).slice(0, limit).map(({ id, received_at, doc }) => ({ id, received_at, doc }));
}

/** Newest receive time first; among equal times the later commit first. Sorts in place. */
function newestFirst<T extends { received_at: number; seq: number }>(xs: T[]): T[] {
  return xs.sort((a, b) => b.received_at - a.received_at || b.seq - a.seq);
}
