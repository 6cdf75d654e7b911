import { PartBuilder, plain } from './parts.ts';
import { upsertDeviceGroup } from './device-groups.ts';
import { classify } from './errors.ts';
import type { ManifestRow } from './manifest.ts';
import { PartWriter } from './part-writer.ts';
import { testPause } from './test-pause.ts';
import { Abandoned, TransientUploadError, type WindowReport, type WindowUploadContext } from './window-types.ts';

export { Abandoned, TransientUploadError, type GroupSummary, type WindowReport, type WindowUploadContext } from './window-types.ts';

/**
 * Uploading one window: the protocol behind durability rule 3. The caller holds
 * `buffer.exclusive`, so nothing else deletes or moves this window's readings meanwhile (intake
 * may append late readings; they get larger positions).
 *
 *   1. manifest row (phase `upload`) committed to SQLite      ← before anything reaches Atlas
 *   2. page through the window in store order, cut parts, record each part `_id` in the
 *      manifest, leave out readings Atlas holds in another part, then `replaceOne({_id}, part,
 *      {upsert})` in an unordered `bulkWrite`, w: majority (part-writer.ts); a part Atlas
 *      refuses is set aside in the quarantine (quarantine.ts) with its reason
 *   3. parts recorded earlier but not produced now → `deleteMany` (readings moved/dropped)
 *   4. `device_groups` merged per group by one pipeline update in Atlas, w: majority
 *   5. manifest phase `commit` with up_to = last position read
 *   6. `store.deleteWindow(window, up_to)`; manifest row removed
 *
 * A crash anywhere before 5 replays 2–6 and produces the same `_id`s (parts.ts); after 5, replay
 * is just 6. A refused part does not hold its window back: its readings are in the quarantine
 * (same file, made durable with the commit) when the window's are deleted.
 */
export async function finishCommitted(ctx: WindowUploadContext, m: ManifestRow): Promise<WindowReport> {
  await ctx.manifest.durable(); // the commit row may be from a run whose sync failed
  const deleted = m.up_to !== null ? await ctx.store(m.store).deleteWindow(m.window, m.up_to) : 0;
  ctx.manifest.finish(m.window);
  return { window: iso(m.window), store: m.store, result: 'committed', readings: 0, parts: 0, deleted, stale_parts_removed: 0, duplicates_dropped: 0, quarantined: { parts: 0, readings: 0 }, groups: [] };
}

/** Runs (or re-runs) the `upload` phase of manifest `m`; throws TransientUploadError or Abandoned. */
export async function runManifest(ctx: WindowUploadContext, m: ManifestRow): Promise<WindowReport> {
  const store = ctx.store(m.store);
  const builder = new PartBuilder({ gatewayId: ctx.gatewayId, store: m.store, windowMs: ctx.windowMs, partMaxBytes: m.part_bytes ?? ctx.partMaxBytes });
  const writer = new PartWriter(ctx, m);
  let last: string | null = null;

  await testPause('before-write', ctx.log);
  let after: string | null = null;
  for (;;) {
    if (ctx.stopping()) throw new Abandoned();
    const page = await store.readWindow(m.window, after, ctx.readPage);
    for (const r of page.readings) {
      // Written as soon as they seal: one bulkWrite then carries about one part's worth of BSON.
      const sealed = builder.add(r);
      if (sealed.length > 0) await writer.send(sealed);
      last = r.pos;
    }
    if (page.next === null || page.readings.length === 0) break;
    after = page.next;
  }
  await writer.send(builder.finish());
  await writer.drain();

  const report: WindowReport = {
    window: iso(m.window), store: m.store, result: 'uploaded', readings: builder.count, parts: writer.produced.size, deleted: 0, stale_parts_removed: 0,
    duplicates_dropped: writer.duplicates, quarantined: writer.quarantined,
    groups: [...writer.groups.values()].sort((a, b) => a.group_id.localeCompare(b.group_id)),
  };
  if (writer.firstRefusal) report.error = writer.firstRefusal;

  // Only a complete, fully acknowledged read of the range may judge earlier parts stale.
  const stale = ctx.manifest.intended(m.window).filter((id) => !writer.produced.has(id));
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
  // Parts an earlier attempt set aside that this one no longer produces are stale the same way.
  for (const id of ctx.quarantine.idsOf(m.window)) if (!writer.produced.has(id)) ctx.quarantine.remove(id);

  // device_groups from the parts Atlas took (idempotent merge).
  if (writer.latest.groups.size > 0) {
    const coll = await ctx.deviceGroups().catch((err) => { throw new TransientUploadError(classify(err)); });
    const now = new Date(ctx.now());
    for (const [groupId, devices] of [...writer.latest.groups].sort(([a], [b]) => a.localeCompare(b))) {
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

  await testPause('after-ack', ctx.log);
  ctx.manifest.commit(m.window, last);
  await ctx.manifest.durable(); // the commit and the quarantined parts, before the local delete
  report.deleted = last !== null ? await store.deleteWindow(m.window, last) : 0;
  ctx.manifest.finish(m.window);
  if (builder.count === 0) report.result = 'empty';
  return report;
}

const iso = (t: number): string => new Date(t).toISOString();
