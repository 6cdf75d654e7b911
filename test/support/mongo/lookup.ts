// Index use for speed, where mongod would use an index and a scan would distort a benchmark.
//
// The uploader's duplicate check (gateway/upload/duplicate-guard.ts) asks, before each write,
// which parts hold any of a batch's reading ids: `$or` of `{rid_ranges: {$elemMatch: {k, hi:
// {$gte}}}}` per key. Atlas answers that from the `{rid_ranges.k, rid_ranges.hi}` index in a few
// index probes; a scan of every stored part per write (mingo evaluating hundreds of clauses on
// each) would make the test server, not the uploader, the cost that bench/upload.ts measures.
//
// So a collection keeps, for an index, a map from its first field's values to the documents that
// hold them, built the first time a query can use it and kept current on every write after. When
// the index's second field sits in the same array of subdocuments (`a.k`, `a.hi`), the map also
// keeps, per value and document, the largest second-field value of the elements with that first
// value, so `$elemMatch: {k: v, hi: {$gte: x}}` skips documents whose elements all end below x.
// The planner only narrows the candidates: every candidate is still tested against the whole
// filter, so results are the same as a scan's.
import type { Document } from 'bson';
import { isOperatorObject, keyString, pathValues } from './keys.ts';

export interface LookupIndex {
  name: string;
  fields: string[];
}

export class FieldLookup {
  /** keyString(first-field value) → _id key → largest second-field value (Infinity: unknown, always a candidate). */
  private readonly entries = new Map<string, Map<string, number>>();
  readonly first: string;
  /** For `a.k` + `a.hi`: ['a', 'k', 'hi']; else null. */
  private readonly pair: [string, string, string] | null;

  constructor(index: LookupIndex) {
    this.first = index.fields[0];
    const [f1, f2] = index.fields;
    const split = (f: string): [string, string] | null => (f.includes('.') ? [f.slice(0, f.lastIndexOf('.')), f.slice(f.lastIndexOf('.') + 1)] : null);
    const a = split(f1);
    const b = f2 !== undefined ? split(f2) : null;
    this.pair = a && b && a[0] === b[0] ? [a[0], a[1], b[1]] : null;
  }

  add(doc: Document, idKey: string): void {
    for (const [key, max] of this.keysOf(doc)) {
      let docs = this.entries.get(key);
      if (!docs) this.entries.set(key, (docs = new Map()));
      docs.set(idKey, max);
    }
  }

  remove(doc: Document, idKey: string): void {
    for (const key of this.keysOf(doc).keys()) {
      const docs = this.entries.get(key);
      docs?.delete(idKey);
      if (docs?.size === 0) this.entries.delete(key);
    }
  }

  /** _id keys of documents whose first field holds `value` (and, with `atLeast`, whose paired second field reaches it). */
  find(value: unknown, atLeast?: number): string[] {
    const docs = this.entries.get(keyString(value));
    if (!docs) return [];
    const out: string[] = [];
    for (const [id, max] of docs) if (atLeast === undefined || max >= atLeast) out.push(id);
    return out;
  }

  get paired(): { parent: string; first: string; second: string } | null {
    return this.pair ? { parent: this.pair[0], first: this.pair[1], second: this.pair[2] } : null;
  }

  private keysOf(doc: Document): Map<string, number> {
    const out = new Map<string, number>();
    if (this.pair) {
      const [parent, k, v] = this.pair;
      for (const el of pathValues(doc, parent)) {
        if (!el || typeof el !== 'object') continue;
        const key = keyString((el as Document)[k]);
        const n = (el as Document)[v];
        const max = typeof n === 'number' ? n : Infinity;
        out.set(key, Math.max(out.get(key) ?? -Infinity, max));
      }
      return out;
    }
    for (const v of pathValues(doc, this.first)) out.set(keyString(v), Infinity);
    return out;
  }
}

/**
 * Candidate _id keys for `filter` from the collection's lookups, or null when no lookup applies
 * (then every document is a candidate). `lookupFor(field)` returns (building it if needed) the
 * lookup of an index whose first field is `field`, or null.
 */
export function planCandidates(filter: Document, lookupFor: (field: string) => FieldLookup | null): Set<string> | null {
  const or = filter.$or;
  if (Array.isArray(or) && or.length > 0) {
    const union = new Set<string>();
    let usable = true;
    for (const clause of or as Document[]) {
      const ids = clause && typeof clause === 'object' ? planCandidates(clause, lookupFor) : null;
      if (!ids) { usable = false; break; }
      for (const id of ids) union.add(id);
    }
    if (usable) return union;
  }
  for (const [field, cond] of Object.entries(filter)) {
    if (field.startsWith('$')) continue;
    const direct = equalities(cond);
    if (direct) {
      const lookup = lookupFor(field);
      if (lookup) return new Set(direct.flatMap((v) => lookup.find(v)));
    }
    const elem = isOperatorObject(cond) ? (cond as Document).$elemMatch : undefined;
    if (!elem || typeof elem !== 'object') continue;
    for (const [sub, subCond] of Object.entries(elem as Document)) {
      const values = equalities(subCond);
      const lookup = values ? lookupFor(`${field}.${sub}`) : null;
      if (!values || !lookup) continue;
      const pair = lookup.paired;
      const bound = pair && pair.parent === field ? lowerBound((elem as Document)[pair.second]) : undefined;
      return new Set(values.flatMap((v) => lookup.find(v, bound)));
    }
  }
  return null;
}

/** The values an equality condition allows (`v`, `{$eq: v}`, `{$in: [...]}`), or null. */
function equalities(cond: unknown): unknown[] | null {
  if (cond instanceof RegExp || Array.isArray(cond)) return null;
  if (!isOperatorObject(cond)) return cond !== null && typeof cond === 'object' && Object.keys(cond).length === 0 ? null : [cond];
  const ops = Object.keys(cond);
  if (ops.length === 1 && ops[0] === '$eq') return [(cond as Document).$eq];
  if (ops.length === 1 && ops[0] === '$in' && Array.isArray((cond as Document).$in) && !(cond as Document).$in.some((v: unknown) => v instanceof RegExp)) return (cond as Document).$in;
  return null;
}

/** x of `{$gte: x}` / `{$gt: x}` (with other operators beside it) when numeric. */
function lowerBound(cond: unknown): number | undefined {
  if (!isOperatorObject(cond)) return undefined;
  const c = cond as Document;
  const x = c.$gte ?? c.$gt;
  return typeof x === 'number' ? x : undefined;
}
