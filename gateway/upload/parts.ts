import { BSON } from 'mongodb';
import type { ReadingDoc, StoredReading } from '../reading.ts';
import type { StoreKind } from '../buffer/store.ts';
import { RidRanges, splitRid, type RidRange } from './rid-ranges.ts';

/**
 * Cutting a window's readings into `group_hours` documents ("parts"). Pure and synchronous, so
 * the one property everything else rests on can be unit-tested on its own:
 *
 *   **Placement is decided by the prefix.** Readings are fed one at a time in store order; the
 *   part a reading joins, and therefore the `_id` it is uploaded under, depends only on the
 *   readings before it in the range, never on page size, timing or what comes after it.
 *
 * Consequences (see docs/atlas.md, "How uploads stay exactly-once"):
 * - the same range always gives the same `_id`s with the same contents;
 * - a longer range starting at the same place (late readings arrived between a crash and the
 *   replay) gives every earlier `_id` again with a superset of its readings, plus new `_id`s for
 *   new parts; with `replaceOne(upsert)` Atlas never holds a reading in two documents.
 *
 * Memory: only open parts are held. A part is sealed when the next reading would take it past
 * `partMaxBytes` (exact BSON size, not an estimate: `BSON.calculateObjectSize` per entry plus the
 * array-index overhead), and all open parts are sealed when together they pass `openBudgetBytes`
 * (many groups in one window). Both rules look only at the prefix, so determinism holds.
 */

export const HOUR_MS = 3600_000;

/** One element of `group_hours.readings`: the original document plus two gateway fields. */
export type PartEntry = ReadingDoc & { _rid: string; _t: Date };

export interface PartDoc {
  _id: string;
  gateway_id: string;
  group_id: string;
  hour: Date;
  /** `<store>:<position of the part's first reading>`: what makes two parts of one hour distinct. */
  part_key: string;
  devices: string[];
  count: number;
  first: Date;
  last: Date;
  /** The part's reading ids as intervals per device and boot (or receipt): rid-ranges.ts. */
  rid_ranges: RidRange[];
  readings: PartEntry[];
}

export interface PartBuilderOptions {
  gatewayId: string;
  store: StoreKind;
  windowMs: number;
  partMaxBytes: number;
  /** Seal every open part when their total passes this (default 2 × partMaxBytes). */
  openBudgetBytes?: number;
}

/** BSON bytes a document needs besides its readings and devices (field names, ids, dates); generous. */
const HEADER_BYTES = 512;

/**
 * The time a reading is filed under: the device's `ts` when intake used it to pick the window,
 * else the gateway's receive time. `hour` and `_t` both come from it, so `_t` always lies inside
 * the document's hour.
 */
export function readingTime(r: StoredReading, windowMs: number): number {
  const ts = r.doc.ts;
  if (typeof ts === 'number' && Number.isFinite(ts) && Math.floor(ts / windowMs) * windowMs === r.window) return ts;
  return r.received_at;
}

export const hourStart = (t: number): number => Math.floor(t / HOUR_MS) * HOUR_MS;

/** `2026-11-23T17:00:00Z`: the ISO hour without milliseconds, as it appears in `_id`. */
export const hourIso = (hour: number): string => new Date(hour).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function partId(gatewayId: string, groupId: string, hour: number, store: StoreKind, firstPos: string): string {
  return `${gatewayId}:${groupId}:${hourIso(hour)}:${store}:${firstPos}`;
}

/** BSON bytes of element `index` of an array: type byte, the index as a C string, then the value. */
const elementOverhead = (index: number): number => 2 + String(index).length;
const stringElementBytes = (index: number, s: string): number => elementOverhead(index) + 5 + Buffer.byteLength(s);

interface OpenPart {
  groupId: string;
  hour: number;
  firstPos: string;
  entries: PartEntry[];
  bytes: number;
  devices: Set<string>;
  ranges: RidRanges;
  first: number;
  last: number;
}

export class PartBuilder {
  private readonly open = new Map<string, OpenPart>();
  private openBytes = 0;
  private readonly budget: number;
  /** Readings fed so far. */
  count = 0;

  constructor(private readonly opts: PartBuilderOptions) {
    // One part's worth open at a time keeps the upload's memory near 3x part_max_bytes of JS objects.
    this.budget = opts.openBudgetBytes ?? opts.partMaxBytes;
  }

  /** Feeds the next reading in store order; returns the parts this sealed (usually none). */
  add(r: StoredReading): PartDoc[] {
    const sealed: PartDoc[] = [];
    const t = readingTime(r, this.opts.windowMs);
    const hour = hourStart(t);
    const key = `${r.group_id}\u0000${hour}`;
    // The store parsed `doc` for this pass alone, so it is extended in place (no copy per reading).
    const entry = r.doc as PartEntry;
    entry._rid = r.id;
    entry._t = new Date(t);
    let part = this.open.get(key);
    const [ridKey, ridN] = splitRid(r.id);
    const entryBytes = bsonSize(entry);
    const cost = (p: OpenPart | undefined): number => {
      const index = p ? p.entries.length : 0;
      let bytes = elementOverhead(index) + entryBytes;
      if (!p || !p.devices.has(r.device_id)) bytes += stringElementBytes(p ? p.devices.size : 0, r.device_id);
      return bytes + (p ? p.ranges : EMPTY_RANGES).cost(ridKey, ridN);
    };
    let bytes = cost(part);
    if (part && part.bytes + bytes > this.opts.partMaxBytes) {
      sealed.push(this.seal(key, part));
      part = undefined;
      bytes = cost(part);
    }
    if (!part) {
      part = { groupId: r.group_id, hour, firstPos: r.pos, entries: [], bytes: HEADER_BYTES + Buffer.byteLength(r.group_id) + Buffer.byteLength(this.opts.gatewayId) * 2, devices: new Set(), ranges: new RidRanges(), first: t, last: t };
      this.open.set(key, part);
      this.openBytes += part.bytes;
    }
    part.entries.push(entry);
    part.devices.add(r.device_id);
    part.ranges.addSplit(ridKey, ridN);
    part.bytes += bytes;
    this.openBytes += bytes;
    if (t < part.first) part.first = t;
    if (t > part.last) part.last = t;
    this.count++;
    if (this.openBytes > this.budget) sealed.push(...this.sealAll());
    return sealed;
  }

  /** Seals every open part (end of the range). */
  finish(): PartDoc[] {
    return this.sealAll();
  }

  /** Bytes held in open parts now (for tests and the memory bound). */
  get heldBytes(): number {
    return this.openBytes;
  }

  private sealAll(): PartDoc[] {
    const out: PartDoc[] = [];
    for (const [key, part] of [...this.open]) out.push(this.seal(key, part));
    return out;
  }

  private seal(key: string, p: OpenPart): PartDoc {
    this.open.delete(key);
    this.openBytes -= p.bytes;
    // Time order inside a part (stable: ties keep store order). Parts of one hour are ordered by
    // `part_key`'s position; a late part can hold readings older than an earlier part's.
    p.entries.sort((a, b) => a._t.getTime() - b._t.getTime());
    const doc: PartDoc = {
      _id: partId(this.opts.gatewayId, p.groupId, p.hour, this.opts.store, p.firstPos),
      gateway_id: this.opts.gatewayId,
      group_id: p.groupId,
      hour: new Date(p.hour),
      part_key: `${this.opts.store}:${p.firstPos}`,
      devices: [...p.devices].sort(),
      count: p.entries.length,
      first: new Date(p.first),
      last: new Date(p.last),
      rid_ranges: p.ranges.toArray(),
      readings: p.entries,
    };
    sealedBytes.set(doc, p.bytes);
    return doc;
  }

}

/** Per group, the newest reading of each device among the parts Atlas took (for `device_groups`). */
export class LatestPerDevice {
  readonly groups = new Map<string, Map<string, PartEntry>>();

  addPart(part: PartDoc): void {
    let devices = this.groups.get(part.group_id);
    if (!devices) this.groups.set(part.group_id, (devices = new Map()));
    for (const entry of part.readings) {
      const current = devices.get(entry.device_id);
      const a = entry.timestamp;
      const b = current?.timestamp;
      // Intake writes one ISO format, which compares as a string; anything else goes to isNewer.
      const newer = !current || (a !== b && isoLike(a) && isoLike(b) ? a > b! : isNewer(entry, current));
      if (newer) devices.set(entry.device_id, entry);
    }
  }
}

/**
 * Whether reading `a` is newer than `b` for "latest reading of a device": the later receive
 * `timestamp` wins (the original API kept the last one it received). Order-independent, so a
 * replayed upload merges to the same result.
 */
export function isNewer(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const ta = Date.parse(String(a.timestamp));
  const tb = Date.parse(String(b.timestamp));
  if (Number.isFinite(ta) && Number.isFinite(tb) && ta !== tb) return ta > tb;
  if (!Number.isFinite(tb) && Number.isFinite(ta)) return true;
  if (!Number.isFinite(ta) && Number.isFinite(tb)) return false;
  return String(a.timestamp ?? '') > String(b.timestamp ?? '') || (a.timestamp === b.timestamp && JSON.stringify(a) > JSON.stringify(b));
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const isoLike = (s: unknown): boolean => typeof s === 'string' && ISO.test(s);

const EMPTY_RANGES = new RidRanges();

/** The builder's byte count of each part it sealed (an upper bound of its BSON size). */
const sealedBytes = new WeakMap<PartDoc, number>();

/** About how many bytes a part puts on the wire: the builder's count, else (a rebuilt or quarantined part) its BSON size. */
export const partBytes = (doc: PartDoc): number => sealedBytes.get(doc) ?? BSON.calculateObjectSize(doc);

/**
 * The part without the readings `drop` names (Atlas holds them in another part already,
 * duplicate-guard.ts), with its counts, devices, times and ranges made to match; null when
 * nothing is left. Same `_id` and `part_key`: a replay that drops the same readings writes the
 * same document.
 */
export function withoutReadings(part: PartDoc, drop: (entry: PartEntry) => boolean): PartDoc | null {
  const readings = part.readings.filter((e) => !drop(e));
  if (readings.length === part.readings.length) return part;
  if (readings.length === 0) return null;
  const ranges = new RidRanges();
  const devices = new Set<string>();
  let first = Infinity;
  let last = -Infinity;
  for (const e of readings) {
    ranges.add(e._rid);
    devices.add(e.device_id);
    const t = e._t.getTime();
    if (t < first) first = t;
    if (t > last) last = t;
  }
  return { ...part, devices: [...devices].sort(), count: readings.length, first: new Date(first), last: new Date(last), rid_ranges: ranges.toArray(), readings };
}

/** The original reading document, without the gateway's `_rid`/`_t` (for `device_groups`). */
export function plain(entry: PartEntry): ReadingDoc {
  const { _rid: _r, _t: _tt, ...doc } = entry;
  return doc as ReadingDoc;
}

/**
 * BSON size of a reading entry, as the driver will serialize it, without building anything:
 * a flat walk for the usual scalar fields, `BSON.calculateObjectSize` for nested values.
 * (Several times faster than calling calculateObjectSize on every reading; the unit test checks
 * both agree.)
 */
export function bsonSize(doc: Record<string, unknown>): number {
  let n = 5; // int32 length + trailing 0
  for (const key in doc) {
    const v = doc[key];
    n += 2 + (isAscii(key) ? key.length : Buffer.byteLength(key));
    switch (typeof v) {
      case 'string': n += 5 + (isAscii(v) ? v.length : Buffer.byteLength(v)); break;
      case 'number': n += Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff && !Object.is(v, -0) ? 4 : 8; break;
      case 'boolean': n += 1; break;
      case 'bigint': n += 8; break;
      case 'undefined': break;
      case 'object':
        if (v === null) break; // null (and undefined, which the driver writes as null) has no value bytes
        if (v instanceof Date) { n += 8; break; }
        n += BSON.calculateObjectSize(Array.isArray(v) ? { ...v } : (v as Record<string, unknown>));
        break;
      default: n += BSON.calculateObjectSize({ v }) - 8 - 1; // rare: let bson decide
    }
  }
  return n;
}

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;
const isAscii = (s: string): boolean => !NON_ASCII.test(s);

/** Exact BSON size of a sealed part (tests check it against the bound). */
export const partBsonSize = (doc: PartDoc): number => BSON.calculateObjectSize(doc);
