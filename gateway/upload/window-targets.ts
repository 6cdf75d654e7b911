import type { ReadingStore, StoreKind } from '../buffer/store.ts';
import type { Manifest, ManifestRow } from './manifest.ts';
import type { UploadBuffer } from './uploader-types.ts';
import { finishCommitted, runManifest, type WindowReport, type WindowUploadContext } from './window-upload.ts';

/** Windows to look at, oldest first: those with a manifest (a crash left them) and all closed ones of `list`. */
export function dueWindows(manifests: ManifestRow[], list: { window: number }[], windowMs: number, now: number): number[] {
  const set = new Set<number>(manifests.map((m) => m.window));
  for (const w of list) if (w.window + windowMs <= now) set.add(w.window);
  return [...set].sort((a, b) => a - b);
}

/** Under `exclusive`: finish a commit, re-run an upload manifest, or start a new one. */
export async function uploadWindow(buffer: UploadBuffer, manifest: Manifest, ctx: WindowUploadContext, window: number): Promise<WindowReport | null> {
  let m: ManifestRow | undefined = manifest.get(window);
  const redis = redisIfHealthy(buffer);
  if (m && m.store === 'redis' && !redis) throw new Error('Redis is not healthy; its window waits');
  if (m?.phase === 'commit') return finishCommitted(ctx, m);
  if (!m) {
    // An unhealthy Redis is not read (a wedged one would hold the lock): its windows wait, and
    // SQLite's go on, so the outbox drains even with Redis gone (see docs/atlas.md, "Gaps").
    const inRedis = redis ? await hasReadings(redis, window) : false;
    const inSqlite = await hasReadings(buffer.stores.sqlite, window);
    if (!inRedis && !inSqlite) return null;
    let store: StoreKind = inRedis ? 'redis' : 'sqlite';
    if (inRedis && inSqlite) {
      // Two stores, one window: upload it from one place so every reading gets one position.
      await buffer.consolidate(window);
      store = 'sqlite';
    }
    m = manifest.begin(window, store, ctx.now(), ctx.partMaxBytes);
  }
  return runManifest(ctx, m);
}

function redisIfHealthy(buffer: UploadBuffer): ReadingStore | null {
  const redis = buffer.stores.redis ?? null;
  return redis && (buffer.mode === undefined || buffer.mode === 'redis') ? redis : null;
}

async function hasReadings(store: ReadingStore, window: number): Promise<boolean> {
  return (await store.readWindow(window, null, 1)).readings.length > 0;
}
