import type { Reading, ReadingDoc } from '../reading.ts';

/** A device's latest reading with its receive time, so two stores' views can be merged. */
export interface LatestEntry {
  device_id: string;
  received_at: number;
  doc: ReadingDoc;
}

/** One reading of a device as the read API lists it, with the id that dedups across stores. */
export interface DeviceEntry {
  id: string;
  received_at: number;
  doc: ReadingDoc;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses a stored `doc`; returns the reason as a string when it is not a readable reading document. */
export function parseDoc(raw: string): ReadingDoc | string {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return 'doc is not valid JSON';
  }
  return checkDoc(v);
}

export function checkDoc(v: unknown): ReadingDoc | string {
  if (!isObject(v)) return 'doc is not an object';
  if (typeof v.device_id !== 'string' || typeof v.group_id !== 'string') return 'doc lacks device_id or group_id';
  return v as ReadingDoc;
}

/** Parses a stored Reading JSON (the Redis record); returns the reason when it cannot be used. */
export function parseReading(raw: string, window: number): Reading | string {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return 'record is not valid JSON';
  }
  if (!isObject(v)) return 'record is not an object';
  if (typeof v.id !== 'string' || typeof v.device_id !== 'string' || typeof v.group_id !== 'string') return 'record lacks id, device_id or group_id';
  if (typeof v.received_at !== 'number' || !Number.isFinite(v.received_at)) return 'record lacks received_at';
  const doc = checkDoc(v.doc);
  if (typeof doc === 'string') return doc;
  return { id: v.id, device_id: v.device_id, group_id: v.group_id, window, received_at: v.received_at, doc };
}

/** Per device the entry with the greatest receive time (ties: the first list wins). */
export function mergeLatest(lists: LatestEntry[][]): ReadingDoc[] {
  const best = new Map<string, LatestEntry>();
  for (const list of lists) {
    for (const e of list) {
      const cur = best.get(e.device_id);
      if (!cur || e.received_at > cur.received_at) best.set(e.device_id, e);
    }
  }
  return [...best.values()].sort((a, b) => a.device_id.localeCompare(b.device_id)).map((e) => e.doc);
}

/**
 * Orders two positions of one store: SQLite positions are integers; Redis positions are
 * "<generation>-<element>" or "<generation>-<element>-<line>" (redis-scripts.ts), compared
 * numerically part by part, an element position after every line of that element (it stands for
 * the whole element). Positions of different windows are comparable too.
 */
export function comparePos(store: 'redis' | 'sqlite', a: string, b: string): number {
  if (store === 'sqlite') return Math.sign(Number(a) - Number(b));
  const pa = a.split('-').map(BigInt);
  const pb = b.split('-').map(BigInt);
  for (let i = 0; i < 2; i++) if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
  if (pa.length !== pb.length) return pa.length < pb.length ? 1 : -1;
  return pa[2] === pb[2] ? 0 : pa[2] < pb[2] ? -1 : 1;
}
