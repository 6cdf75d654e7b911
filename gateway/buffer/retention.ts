import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { StoredReading } from '../reading.ts';
import type { ReadingStore, StoreKind, WindowSummary } from './store.ts';

/** A store as retention needs it: the common interface plus dropping a whole window. */
export type DroppableStore = ReadingStore & { dropWindow(window: number): Promise<number> };

export interface StoredWindow extends WindowSummary {
  store: StoreKind;
}

export interface RetentionContext {
  config: Pick<Config, 'window_seconds' | 'buffer'>;
  log: Logger;
  metrics: Metrics;
  /** The stores to consider; Redis is absent while unhealthy (its windows wait, untouched). */
  stores: Partial<Record<StoreKind, DroppableStore>>;
  listWindows(): Promise<StoredWindow[]>;
  consolidate(window: number): Promise<{ copied: number }>;
}

export interface MaintenanceReport {
  spilled: { window: number; readings: number }[];
  dropped: { store: StoreKind; window: number; readings: number; reason: 'max_age' | 'max_bytes' }[];
}

/** Bytes a reading accounts for in its store: what `listWindows` sums (doc JSON in SQLite, Reading JSON in Redis). */
export function storedBytes(store: StoreKind, r: StoredReading): number {
  const json = store === 'sqlite'
    ? JSON.stringify(r.doc)
    : JSON.stringify({ id: r.id, device_id: r.device_id, group_id: r.group_id, window: r.window, received_at: r.received_at, doc: r.doc });
  return globalThis.Buffer.byteLength(json);
}

/**
 * One maintenance pass (the caller holds the buffer's lock):
 *
 * 1. **Spill** (rule 4): closed Redis windows whose end is more than `buffer.spill_after_seconds`
 *    ago are consolidated into SQLite, so Redis memory stays bounded while Atlas is down.
 * 2. **Age bound**: windows that ended more than `buffer.max_age_seconds` ago are dropped whole
 *    (every reading in them is older than the bound).
 * 3. **Byte bound**: while both stores together hold more than `buffer.max_bytes`, the oldest
 *    window goes first, whole, or only its oldest part when that is enough.
 *
 * Every dropped reading is counted, exactly (the stores return what they deleted), in
 * `iotgw_readings_dropped_total{reason}` and logged as a warning. The gauges are refreshed last.
 */
export async function runMaintenance(ctx: RetentionContext, now: number): Promise<MaintenanceReport> {
  const report: MaintenanceReport = { spilled: [], dropped: [] };
  const windowMs = ctx.config.window_seconds * 1000;
  const b = ctx.config.buffer;

  if (ctx.stores.redis) {
    const spillBefore = now - b.spill_after_seconds * 1000;
    for (const w of await ctx.stores.redis.listWindows()) {
      if (w.window + windowMs > now || w.window + windowMs > spillBefore) continue;
      const res = await ctx.consolidate(w.window);
      report.spilled.push({ window: w.window, readings: res.copied });
      ctx.log.info({ window: new Date(w.window).toISOString(), readings: res.copied }, 'spilled window from Redis to SQLite');
    }
  }

  const drop = (store: StoreKind, window: number, readings: number, reason: 'max_age' | 'max_bytes'): void => {
    if (readings <= 0) return;
    ctx.metrics.readingsDropped.inc({ reason }, readings);
    report.dropped.push({ store, window, readings, reason });
    ctx.log.warn({ store, window: new Date(window).toISOString(), readings, reason }, 'buffer bound reached: dropped the oldest readings');
  };

  const ageCut = now - b.max_age_seconds * 1000;
  const kept: StoredWindow[] = [];
  for (const w of sortOldestFirst(await ctx.listWindows())) {
    const store = ctx.stores[w.store];
    if (!store) continue;
    if (w.window + windowMs <= ageCut) drop(w.store, w.window, await store.dropWindow(w.window), 'max_age');
    else kept.push(w);
  }

  let total = kept.reduce((s, w) => s + w.bytes, 0);
  for (const w of kept) {
    if (total <= b.max_bytes) break;
    const store = ctx.stores[w.store]!;
    const excess = total - b.max_bytes;
    if (w.bytes <= excess) {
      drop(w.store, w.window, await store.dropWindow(w.window), 'max_bytes');
      total -= w.bytes;
      continue;
    }
    // Only the oldest part of this window has to go: count bytes page by page, then delete up to there.
    let freed = 0;
    let upTo: string | null = null;
    let after: string | null = null;
    while (freed < excess) {
      const page = await store.readWindow(w.window, after, 1000);
      for (const r of page.readings) {
        freed += storedBytes(w.store, r);
        upTo = r.pos;
        if (freed >= excess) break;
      }
      if (page.next === null) break;
      after = page.next;
    }
    if (upTo !== null) drop(w.store, w.window, await store.deleteWindow(w.window, upTo), 'max_bytes');
    total -= freed;
  }

  await updateGauges(ctx);
  return report;
}

function sortOldestFirst(windows: StoredWindow[]): StoredWindow[] {
  return [...windows].sort((a, b) => a.window - b.window || a.store.localeCompare(b.store));
}

/** Sets `iotgw_buffer_{readings,bytes,windows}{store}` from the stores' window lists. */
export async function updateGauges(ctx: Pick<RetentionContext, 'metrics' | 'stores' | 'listWindows'>): Promise<void> {
  const windows = await ctx.listWindows();
  for (const store of ['sqlite', 'redis'] as const) {
    if (!ctx.stores[store]) continue;
    const mine = windows.filter((w) => w.store === store);
    ctx.metrics.bufferReadings.set({ store }, mine.reduce((s, w) => s + w.count, 0));
    ctx.metrics.bufferBytes.set({ store }, mine.reduce((s, w) => s + w.bytes, 0));
    ctx.metrics.bufferWindows.set({ store }, mine.length);
  }
}
