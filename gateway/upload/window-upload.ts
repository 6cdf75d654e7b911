import { MongoBulkWriteError, type Collection } from 'mongodb';
import type { Logger } from '../log.ts';
import type { ReadingStore, StoreKind } from '../buffer/store.ts';
import { PartBuilder, plain, type PartDoc } from './parts.ts';
import { upsertDeviceGroup, type DeviceGroupDoc } from './device-groups.ts';
import { classify, classifyWriteError, writeConcernErrorOf, type UploadFailure } from './errors.ts';
import type { Manifest, ManifestRow } from './manifest.ts';
import { testPause } from './test-pause.ts';

/**
 * Uploading one window: the protocol behind durability rule 3. The caller holds
 * `buffer.exclusive`, so nothing else deletes or moves this window's readings meanwhile (intake
 * may append late readings; they get larger positions).
 *
 *   1. manifest row (phase `upload`) committed to SQLite      ← before anything reaches Atlas
 *   2. page through the window in store order, cut parts, record each part `_id` in the
 *      manifest, then `replaceOne({_id}, part, {upsert})` in an unordered `bulkWrite`, w: majority
 *   3. parts recorded earlier but not produced now → `deleteMany` (readings moved/dropped)
 *   4. `device_groups` merged per group by one pipeline update in Atlas, w: majority
 *   5. manifest phase `commit` with up_to = last position read
 *   6. `store.deleteWindow(window, up_to)`; manifest row removed
 *
 * A crash anywhere before 5 replays 2–6 and produces the same `_id`s (parts.ts); after 5, replay
 * is just 6. A part Atlas refuses (validation, …) keeps the whole window queued (the store deletes
 * by position, not by group) with its own backoff; its other groups are in Atlas already and are
 * replaced by identical documents on the retry.
 */
export class TransientUploadError extends Error {
  constructor(readonly failure: UploadFailure) {
    super(failure.reason);
  }
}

export class Abandoned extends Error {
  constructor() {
    super('upload abandoned: the gateway is stopping');
  }
}

export interface GroupSummary {
  group_id: string;
  readings: number;
  parts: number;
  refused: number;
}

export interface WindowReport {
  window: string;
  store: StoreKind;
  result: 'uploaded' | 'refused' | 'committed' | 'empty';
  readings: number;
  parts: number;
  deleted: number;
  stale_parts_removed: number;
  groups: GroupSummary[];
  error?: string;
}

export interface WindowUploadContext {
  gatewayId: string;
  windowMs: number;
  partMaxBytes: number;
  readPage: number;
  log: Logger;
  manifest: Manifest;
  groupHours: () => Promise<Collection<PartDoc>>;
  deviceGroups: () => Promise<Collection<DeviceGroupDoc>>;
  store: (kind: StoreKind) => ReadingStore;
  stopping: () => boolean;
  now: () => number;
  onPartsAcked?: (parts: number) => void;
}

const MAX_WRITES_IN_FLIGHT = 2;

/** The parts split into two writes of about as many readings each (one write for a single part). */
function halves(parts: PartDoc[]): PartDoc[][] {
  if (parts.length < 2) return [parts];
  const total = parts.reduce((n, p) => n + p.count, 0);
  let cut = 0;
  for (let n = 0; cut < parts.length - 1 && n + parts[cut].count <= total / 2; cut++) n += parts[cut].count;
  cut = Math.max(1, cut);
  return [parts.slice(0, cut), parts.slice(cut)];
}

export async function finishCommitted(ctx: WindowUploadContext, m: ManifestRow): Promise<WindowReport> {
  await ctx.manifest.durable(); // the commit row may be from a run whose sync failed
  const deleted = m.up_to !== null ? await ctx.store(m.store).deleteWindow(m.window, m.up_to) : 0;
  ctx.manifest.finish(m.window);
  return { window: iso(m.window), store: m.store, result: 'committed', readings: 0, parts: 0, deleted, stale_parts_removed: 0, groups: [] };
}

/** Runs (or re-runs) the `upload` phase of manifest `m`; throws TransientUploadError or Abandoned. */
export async function runManifest(ctx: WindowUploadContext, m: ManifestRow): Promise<WindowReport> {
  const store = ctx.store(m.store);
  const builder = new PartBuilder({ gatewayId: ctx.gatewayId, store: m.store, windowMs: ctx.windowMs, partMaxBytes: ctx.partMaxBytes });
  const groups = new Map<string, GroupSummary>();
  const refused = new Map<string, UploadFailure>();
  const produced = new Set<string>();
  let wroteOnce = false;
  let last: string | null = null;

  // The manifest names a part before Atlas may hold it; `recorded` is that record made durable.
  const write = async (parts: PartDoc[], recorded: Promise<void>): Promise<void> => {
    for (const p of parts) {
      produced.add(p._id);
      const g = groups.get(p.group_id) ?? { group_id: p.group_id, readings: 0, parts: 0, refused: 0 };
      g.readings += p.count;
      g.parts++;
      groups.set(p.group_id, g);
    }
    await recorded;
    if (ctx.stopping()) throw new Abandoned();
    const coll = await ctx.groupHours().catch((err) => { throw new TransientUploadError(classify(err)); });
    try {
      await coll.bulkWrite(
        parts.map((p) => ({ replaceOne: { filter: { _id: p._id }, replacement: p, upsert: true } })),
        { ordered: false, writeConcern: { w: 'majority' } },
      );
    } catch (err) {
      const failures = writeErrorsOf(err);
      if (!failures) throw new TransientUploadError(classify(err)); // the request as a whole failed
      for (const { index, failure } of failures) {
        if (failure.kind === 'transient' || failure.scope === 'global') throw new TransientUploadError(failure);
        const p = parts[index];
        refused.set(p._id, failure);
        groups.get(p.group_id)!.refused++;
        ctx.log.error({ window: iso(m.window), group_id: p.group_id, part: p._id, readings: p.count, code: failure.code, reason: failure.reason }, 'Atlas refused a group_hours part; it stays queued');
      }
    }
    ctx.onPartsAcked?.(parts.length);
    if (!wroteOnce) {
      wroteOnce = true;
      await testPause('after-write', ctx.log);
    }
  };

  // Writes overlap the building of the next parts: Atlas's round trip overlaps our CPU. Parts
  // sealed together go out as two writes, and two may be in flight, so the driver serializes one
  // (~90 ms of BSON per 8 MB here) while the server stores the other instead of the server
  // waiting for it; memory stays at about one sealed batch plus the open parts. A write's error
  // surfaces at a later send or at the end.
  const inFlight: Promise<void>[] = [];
  // The parts' manifest record is committed and its fsync started before waiting for a write in
  // flight, so the fsync overlaps that write instead of delaying this one.
  const send = async (parts: PartDoc[]): Promise<void> => {
    if (parts.length === 0) return;
    ctx.manifest.intend(m.window, parts.map((p) => p._id));
    const recorded = ctx.manifest.durable();
    recorded.catch(() => undefined);
    for (const half of halves(parts)) {
      if (inFlight.length >= MAX_WRITES_IN_FLIGHT) await inFlight.shift();
      const next = write(half, recorded);
      next.catch(() => undefined);
      inFlight.push(next);
    }
  };

  await testPause('before-write', ctx.log);
  let after: string | null = null;
  for (;;) {
    if (ctx.stopping()) throw new Abandoned();
    const page = await store.readWindow(m.window, after, ctx.readPage);
    for (const r of page.readings) {
      // Written as soon as they seal: one bulkWrite then carries about one part's worth of BSON.
      const sealed = builder.add(r);
      if (sealed.length > 0) await send(sealed);
      last = r.pos;
    }
    if (page.next === null || page.readings.length === 0) break;
    after = page.next;
  }
  await send(builder.finish());
  while (inFlight.length > 0) await inFlight.shift();

  const report: WindowReport = {
    window: iso(m.window), store: m.store, result: 'uploaded', readings: builder.count, parts: produced.size, deleted: 0, stale_parts_removed: 0,
    groups: [...groups.values()].sort((a, b) => a.group_id.localeCompare(b.group_id)),
  };
  const refusedGroups = new Set([...groups.values()].filter((g) => g.refused > 0).map((g) => g.group_id));
  if (refused.size > 0) {
    report.result = 'refused';
    report.error = [...refused.values()][0].reason;
  } else {
    // Only a complete, fully acknowledged read of the range may judge earlier parts stale.
    const stale = ctx.manifest.intended(m.window).filter((id) => !produced.has(id));
    if (stale.length > 0) {
      const coll = await ctx.groupHours().catch((err) => { throw new TransientUploadError(classify(err)); });
      let removed: number;
      try {
        // Counted by what Atlas removed: some recorded parts never reached it (their record is
        // made before the write ahead of them has returned, and that write may fail).
        removed = (await coll.deleteMany({ _id: { $in: stale } }, { writeConcern: { w: 'majority' } })).deletedCount;
      } catch (err) {
        throw new TransientUploadError(classify(err));
      }
      ctx.manifest.forgetParts(m.window, stale);
      report.stale_parts_removed = removed;
      ctx.log.info({ window: iso(m.window), parts: removed }, 'removed parts whose readings left the store since an earlier attempt (moved or dropped)');
    }
  }

  // device_groups for every group whose parts were all acknowledged (idempotent merge).
  if (builder.latest.size > 0) {
    const coll = await ctx.deviceGroups().catch((err) => { throw new TransientUploadError(classify(err)); });
    const now = new Date(ctx.now());
    for (const [groupId, devices] of [...builder.latest].sort(([a], [b]) => a.localeCompare(b))) {
      if (refusedGroups.has(groupId)) continue;
      try {
        await upsertDeviceGroup(coll, groupId, [...devices.values()].map(plain), now);
      } catch (err) {
        const f = classify(err);
        if (f.kind === 'transient' || f.scope === 'global') throw new TransientUploadError(f);
        // A refused summary must not hold back the readings, which are in group_hours already.
        ctx.log.error({ group_id: groupId, code: f.code, reason: f.reason }, 'Atlas refused the device_groups update');
      }
    }
  }
  if (refused.size > 0) return report;

  await testPause('after-ack', ctx.log);
  ctx.manifest.commit(m.window, last);
  await ctx.manifest.durable();
  report.deleted = last !== null ? await store.deleteWindow(m.window, last) : 0;
  ctx.manifest.finish(m.window);
  if (builder.count === 0) report.result = 'empty';
  return report;
}

function writeErrorsOf(err: unknown): { index: number; failure: UploadFailure }[] | null {
  if (!(err instanceof MongoBulkWriteError)) return null;
  if (writeConcernErrorOf(err)) return null; // applied but not majority-acknowledged: retry the request
  const list = Array.isArray(err.writeErrors) ? err.writeErrors : Object.values(err.writeErrors ?? {});
  if (list.length === 0) return null;
  return list.map((we) => ({ index: we.index, failure: classifyWriteError({ code: we.code, errmsg: we.errmsg }) }));
}

const iso = (t: number): string => new Date(t).toISOString();
