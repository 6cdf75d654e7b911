import { LatestPerDevice, plain, type PartDoc } from './parts.ts';
import { upsertDeviceGroup } from './device-groups.ts';
import { classify, writeErrorsOf, type UploadFailure } from './errors.ts';
import { withoutHeldReadings } from './duplicate-guard.ts';
import type { WindowUploadContext } from './window-types.ts';

export interface QuarantineRetryReport {
  enabled: boolean;
  ok: boolean;
  parts: { part_id: string; group_id: string; hour: string; readings: number; result: 'uploaded' | 'refused' | 'held-elsewhere'; duplicates_dropped: number; reason?: string }[];
  uploaded: { parts: number; readings: number };
  /** What the quarantine holds after the retry. */
  remaining: { parts: number; readings: number };
  error: (UploadFailure & { at: string }) | null;
}

/**
 * `iotgw upload --retry-quarantine`: each quarantined part, oldest first, goes to Atlas as it was
 * refused (same `_id`, so a copy an earlier attempt left is replaced), after the same duplicate
 * check as any write (a reading uploaded since in another part is left out). Taken: out of the
 * quarantine, and its devices' readings merged into device_groups. Refused again: stays, with the
 * new reason. Atlas unreachable: the retry stops there, nothing lost.
 */
export async function retryQuarantined(ctx: WindowUploadContext, report: QuarantineRetryReport): Promise<QuarantineRetryReport> {
  for (const row of ctx.quarantine.list()) {
    if (ctx.stopping()) break;
    const part = ctx.quarantine.load(row.part_id);
    if (!part) continue;
    const entry: QuarantineRetryReport['parts'][number] = { part_id: part._id, group_id: part.group_id, hour: part.hour.toISOString(), readings: part.count, result: 'uploaded', duplicates_dropped: 0 };
    try {
      const coll = await ctx.groupHours();
      const checked = await withoutHeldReadings(coll, ctx.gatewayId, [part], new Set([part._id]));
      entry.duplicates_dropped = checked.dropped;
      const kept = checked.parts[0];
      if (kept) {
        try {
          await coll.bulkWrite([{ replaceOne: { filter: { _id: kept._id }, replacement: kept, upsert: true } }], { ordered: false, writeConcern: { w: 'majority' } });
        } catch (err) {
          // Refused again: the document's own error, read as the upload reads it.
          throw writeErrorsOf(err)?.[0]?.failure ?? err;
        }
      } else entry.result = 'held-elsewhere';
      if (kept) {
        report.uploaded.parts++;
        report.uploaded.readings += kept.count;
      }
      if (kept) await mergeLatest(ctx, kept);
      ctx.quarantine.remove(part._id);
      ctx.log.info({ part: part._id, readings: kept?.count ?? 0, duplicates_dropped: checked.dropped }, 'quarantined part uploaded');
    } catch (err) {
      const f = isFailure(err) ? err : classify(err);
      if (f.kind === 'transient' || f.scope === 'global') {
        report.ok = false;
        report.error = { ...f, at: new Date(ctx.now()).toISOString() };
        ctx.log.warn({ part: part._id, reason: f.reason }, 'retrying the quarantine stopped: Atlas failed; the parts stay quarantined');
        break;
      }
      ctx.quarantine.refusedAgain(part._id, f, ctx.now());
      entry.result = 'refused';
      entry.reason = f.reason;
      report.ok = false;
      ctx.log.error({ part: part._id, code: f.code, reason: f.reason }, 'Atlas refused a quarantined part again; it stays quarantined');
    }
    report.parts.push(entry);
  }
  report.remaining = ctx.quarantine.summary();
  return report;
}

/** The part's newest reading per device into device_groups; a refusal there does not undo the part (it is in Atlas). */
async function mergeLatest(ctx: WindowUploadContext, part: PartDoc): Promise<void> {
  const latest = new LatestPerDevice();
  latest.addPart(part);
  const groups = await ctx.deviceGroups();
  for (const [groupId, devices] of latest.groups) {
    try {
      await upsertDeviceGroup(groups, groupId, [...devices.values()].map(plain), new Date(ctx.now()));
    } catch (err) {
      const f = classify(err);
      if (f.kind === 'transient' || f.scope === 'global') throw err;
      ctx.log.error({ group_id: groupId, code: f.code, reason: f.reason }, 'Atlas refused the device_groups update');
    }
  }
}

const isFailure = (x: unknown): x is UploadFailure => typeof x === 'object' && x !== null && 'kind' in x && 'reason' in x && !(x instanceof Error);
