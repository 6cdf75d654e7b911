import { LatestPerDevice, partBytes, type PartDoc } from './parts.ts';
import { classify, writeErrorsOf, type UploadFailure } from './errors.ts';
import { withoutHeldReadings } from './duplicate-guard.ts';
import type { ManifestRow } from './manifest.ts';
import { testPause } from './test-pause.ts';
import { Abandoned, TransientUploadError, type GroupSummary, type WindowUploadContext } from './window-types.ts';

/** Writes at most this many bulk writes of one window at a time. */
const MAX_WRITES_IN_FLIGHT = 2;

/**
 * Step 2 of window-upload.ts for one window: parts go to Atlas as they seal. For each batch:
 * record the `_id`s in the manifest (durable before the write), leave out readings Atlas holds
 * in another part (duplicate-guard.ts), `replaceOne(upsert)` in an unordered bulk write with
 * w: majority. A part Atlas refuses goes to the quarantine (quarantine.ts) instead of holding the
 * window back; anything else that fails (network, election, a write-concern error) fails the
 * window, to be replayed.
 *
 * Writes overlap the building of the next parts: Atlas's round trip overlaps our CPU. Parts
 * sealed together go out as two writes, and two may be in flight, so the driver serializes one
 * (~90 ms of BSON per 8 MB here) while the server stores the other; memory stays at about one
 * sealed batch plus the open parts. A write's error surfaces at a later send or at `drain`.
 */
export class PartWriter {
  /** Parts accounted for: written, or set aside in the quarantine. */
  readonly produced = new Set<string>();
  readonly groups = new Map<string, GroupSummary>();
  /** The newest reading per device among the parts Atlas took, for device_groups. */
  readonly latest = new LatestPerDevice();
  quarantined = { parts: 0, readings: 0 };
  firstRefusal: string | null = null;
  /** Readings left out because Atlas holds them in another part. */
  duplicates = 0;
  private readonly inFlight: Promise<void>[] = [];
  /** Every `_id` the manifest recorded for this window: not "other parts" for the duplicate check. */
  private readonly own: Set<string>;
  /** This window's parts in the quarantine from an earlier attempt. */
  private readonly quarantinedBefore: Set<string>;
  private wroteOnce = false;

  constructor(private readonly ctx: WindowUploadContext, private readonly m: ManifestRow) {
    this.own = new Set(ctx.manifest.intended(m.window));
    this.quarantinedBefore = ctx.quarantine.idsOf(m.window);
  }

  async send(parts: PartDoc[]): Promise<void> {
    if (parts.length === 0) return;
    const { ctx, m } = this;
    // The parts' manifest record is committed and its fsync started before waiting for a write in
    // flight, so the fsync overlaps that write instead of delaying this one.
    ctx.manifest.intend(m.window, parts.map((p) => p._id));
    for (const p of parts) this.own.add(p._id);
    const recorded = ctx.manifest.durable();
    recorded.catch(() => undefined);
    // One duplicate check for the whole batch, in flight beside the writes ahead of it.
    const checked = this.check(parts);
    checked.catch(() => undefined);
    for (const half of halves(parts)) {
      if (this.inFlight.length >= MAX_WRITES_IN_FLIGHT) await this.inFlight.shift();
      const ids = new Set(half.map((p) => p._id));
      const next = this.write(checked.then((kept) => kept.filter((p) => ids.has(p._id))), recorded);
      next.catch(() => undefined);
      this.inFlight.push(next);
    }
  }

  /** Waits for every write in flight; throws the first failure. */
  async drain(): Promise<void> {
    while (this.inFlight.length > 0) await this.inFlight.shift();
  }

  private async check(parts: PartDoc[]): Promise<PartDoc[]> {
    const { ctx, m } = this;
    const coll = await ctx.groupHours().catch((err) => { throw new TransientUploadError(classify(err)); });
    let result;
    try {
      result = await withoutHeldReadings(coll, ctx.gatewayId, parts, this.own);
    } catch (err) {
      throw new TransientUploadError(classify(err));
    }
    if (result.dropped > 0) {
      this.duplicates += result.dropped;
      ctx.log.warn({ window: iso(m.window), readings: result.dropped, held_by: result.holders.slice(0, 5) }, 'left readings out of the upload: Atlas holds them in other parts already (retries the buffer did not recognise)');
    }
    return result.parts;
  }

  private async write(pending: Promise<PartDoc[]>, recorded: Promise<void>): Promise<void> {
    const { ctx } = this;
    const parts = await pending;
    for (const p of parts) {
      this.produced.add(p._id);
      const g = this.groups.get(p.group_id) ?? { group_id: p.group_id, readings: 0, parts: 0, refused: 0 };
      g.readings += p.count;
      g.parts++;
      this.groups.set(p.group_id, g);
    }
    await recorded;
    if (ctx.stopping()) throw new Abandoned();
    if (parts.length === 0) return;
    const coll = await ctx.groupHours().catch((err) => { throw new TransientUploadError(classify(err)); });
    const refused = new Map<number, UploadFailure>();
    const bytes = parts.reduce((n, p) => n + partBytes(p), 0);
    const started = performance.now();
    try {
      await coll.bulkWrite(
        parts.map((p) => ({ replaceOne: { filter: { _id: p._id }, replacement: p, upsert: true } })),
        { ordered: false, writeConcern: { w: 'majority' } },
      );
      ctx.onWrite?.(bytes, performance.now() - started, true);
    } catch (err) {
      const failures = writeErrorsOf(err);
      ctx.onWrite?.(bytes, performance.now() - started, failures !== null);
      if (!failures) throw new TransientUploadError(classify(err)); // the request as a whole failed
      for (const { index, failure } of failures) {
        if (failure.kind === 'transient' || failure.scope === 'global') throw new TransientUploadError(failure);
        refused.set(index, failure);
      }
    }
    parts.forEach((p, i) => {
      const failure = refused.get(i);
      if (failure) this.setAside(p, failure);
      else {
        this.latest.addPart(p);
        if (this.quarantinedBefore.has(p._id)) ctx.quarantine.remove(p._id); // an earlier attempt set it aside
      }
    });
    ctx.onPartsAcked?.(parts.length - refused.size);
    if (!this.wroteOnce) {
      this.wroteOnce = true;
      await testPause('after-write', ctx.log);
    }
  }

  /** A part Atlas refused: into the quarantine with its reason (committed with the window's commit). */
  private setAside(p: PartDoc, failure: UploadFailure): void {
    const { ctx, m } = this;
    ctx.quarantine.put(p, m.window, failure, ctx.now());
    this.groups.get(p.group_id)!.refused++;
    this.quarantined.parts++;
    this.quarantined.readings += p.count;
    this.firstRefusal ??= failure.reason;
    ctx.log.error({ window: iso(m.window), group_id: p.group_id, part: p._id, readings: p.count, code: failure.code, reason: failure.reason }, 'Atlas refused a group_hours part; it is set aside in the quarantine (iotgw upload --retry-quarantine after the fix)');
  }
}

/** The parts split into two writes of about as many readings each (one write for a single part). */
function halves(parts: PartDoc[]): PartDoc[][] {
  if (parts.length < 2) return [parts];
  const total = parts.reduce((n, p) => n + p.count, 0);
  let cut = 0;
  for (let n = 0; cut < parts.length - 1 && n + parts[cut].count <= total / 2; cut++) n += parts[cut].count;
  cut = Math.max(1, cut);
  return [parts.slice(0, cut), parts.slice(cut)];
}

const iso = (t: number): string => new Date(t).toISOString();
