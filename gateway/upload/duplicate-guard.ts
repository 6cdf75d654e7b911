import type { Collection, Document } from 'mongodb';
import { hourIso, withoutReadings, type PartDoc } from './parts.ts';
import { RidRanges, type RidRange } from './rid-ranges.ts';

/**
 * The second line of defence of exactly-once (issue 21): before parts are written, Atlas is asked
 * which other parts of this gateway already hold any of their reading ids, and those readings are
 * left out (and counted). The buffer's own record of acknowledged readings is the first line; this
 * one catches what it let through: a record forgotten past its bounds, a Redis that was down when
 * the daemon started, a reading both stores took during a failover.
 *
 * One query per batch of parts, answered from the `{rid_ranges.k, rid_ranges.hi}` index:
 * - per device and boot (`dev:` key) in the batch, the parts whose interval for that key reaches
 *   into the batch's [lowest, highest] seq: for new readings (seqs above everything uploaded) the
 *   index finds nothing;
 * - `rcv:` ids (readings without seq) can only be held twice by this gateway's own two stores,
 *   which file them under the same group and hour: for those (and ids of any other shape), the
 *   other parts of that group-hour.
 * The exact overlap is then computed here from the returned `rid_ranges`.
 *
 * "Other parts" excludes the window's own (`own`: every `_id` its manifest recorded): a replay
 * rewrites them or removes them as stale at the end, so readings in them are not duplicates.
 * Parts written by versions before rid_ranges existed are not seen (the audit aggregation in
 * docs/atlas.md still counts them).
 */
export interface GuardResult {
  parts: PartDoc[];
  /** Readings left out because another part holds them. */
  dropped: number;
  /** `_id`s of the parts that hold them. */
  holders: string[];
}

/** $or clauses per query: a batch of many devices becomes several queries. */
const CLAUSES_PER_QUERY = 500;

export async function withoutHeldReadings(coll: Collection<PartDoc>, gatewayId: string, parts: PartDoc[], own: ReadonlySet<string>): Promise<GuardResult> {
  if (parts.length === 0) return { parts, dropped: 0, holders: [] };
  const bounds = new Map<string, [number, number]>();
  const hourKeys = new Set<string>();
  const groupHours = new Map<string, { group_id: string; hour: Date; prefix: string }>();
  for (const p of parts) {
    for (const r of p.rid_ranges) {
      if (!r.k.startsWith('dev:')) {
        hourKeys.add(r.k);
        const prefix = `${gatewayId}:${p.group_id}:${hourIso(p.hour.getTime())}:`;
        groupHours.set(prefix, { group_id: p.group_id, hour: p.hour, prefix });
        continue;
      }
      const b = bounds.get(r.k);
      if (!b) bounds.set(r.k, [r.lo, r.hi]);
      else {
        if (r.lo < b[0]) b[0] = r.lo;
        if (r.hi > b[1]) b[1] = r.hi;
      }
    }
  }
  const clauses: Document[] = [...bounds].map(([k, [lo, hi]]) => ({ rid_ranges: { $elemMatch: { k, hi: { $gte: lo }, lo: { $lte: hi } } } }));
  for (const g of groupHours.values()) clauses.push({ group_id: g.group_id, hour: g.hour });
  // The window's own parts of those group-hours are excluded in the query (they would all match);
  // own parts found through a key are skipped below.
  const ownHere = [...own].filter((id) => [...groupHours.keys()].some((prefix) => id.startsWith(prefix)));
  const held = new RidRanges();
  const holders: string[] = [];
  for (let i = 0; i < clauses.length; i += CLAUSES_PER_QUERY) {
    const filter: Document = { gateway_id: gatewayId, $or: clauses.slice(i, i + CLAUSES_PER_QUERY) };
    if (ownHere.length > 0) filter._id = { $nin: ownHere };
    const found = await coll.find(filter, { projection: { rid_ranges: 1 } }).toArray();
    for (const doc of found as unknown as { _id: string; rid_ranges?: RidRange[] }[]) {
      if (own.has(doc._id) || !Array.isArray(doc.rid_ranges)) continue;
      let holds = false;
      for (const r of doc.rid_ranges) {
        const b = bounds.get(r.k);
        if ((b && r.hi >= b[0] && r.lo <= b[1]) || hourKeys.has(r.k)) {
          held.addRange(r);
          holds = true;
        }
      }
      if (holds) holders.push(doc._id);
    }
  }
  if (holders.length === 0) return { parts, dropped: 0, holders };
  let dropped = 0;
  const kept: PartDoc[] = [];
  for (const p of parts) {
    const q = withoutReadings(p, (e) => held.has(e._rid));
    dropped += p.count - (q?.count ?? 0);
    if (q) kept.push(q);
  }
  return { parts: kept, dropped, holders };
}
