/**
 * A part's compact summary of its reading ids (`group_hours.rid_ranges`), what the duplicate
 * check before each write (duplicate-guard.ts) compares. A reading id is `<key>/<n>`:
 * `dev:<device>/<boot_id>/<seq>` (key: device and boot, n: seq) or `rcv:<receipt>/<index>` (key:
 * the receipt, n: the reading's index in the request). A part keeps, per key, its n as sorted
 * closed intervals: a device's readings in a part are nearly always consecutive seqs, so an hour
 * of one device is one entry `{k, lo, hi}`. An id of any other shape is its own key with n = -1.
 */

export interface RidRange {
  k: string;
  lo: number;
  hi: number;
}

const TAIL = /^(0|[1-9]\d{0,15})$/;

/** `[key, n]` of a reading id (see above). */
export function splitRid(rid: string): [string, number] {
  const slash = rid.lastIndexOf('/');
  if (slash > 0) {
    const tail = rid.slice(slash + 1);
    if (TAIL.test(tail)) {
      const n = Number(tail);
      if (Number.isSafeInteger(n)) return [rid.slice(0, slash), n];
    }
  }
  return [rid, -1];
}

/**
 * BSON bytes one more `{k, lo, hi}` element can add to a document, at most: the element's type
 * and index (up to 7 digits), the subdocument's length and terminator, `k` as a string, `lo`
 * and `hi` as doubles (the driver writes int32 when it can, which is smaller).
 */
export const rangeBytes = (key: string): number => 9 + 4 + 1 + (1 + 2 + 4 + Buffer.byteLength(key) + 1) + 2 * (1 + 3 + 8);

/** Intervals per key, built one id at a time; `add` reports an upper bound of the bytes it added. */
export class RidRanges {
  /** key → [lo0, hi0, lo1, hi1, …], sorted, disjoint and not adjacent. */
  private readonly byKey = new Map<string, number[]>();

  /** Adds a reading id; returns the BSON bytes this may have added (0 when an interval only grew). */
  add(rid: string): number {
    const [key, n] = splitRid(rid);
    const bytes = this.cost(key, n);
    this.addSplit(key, n);
    return bytes;
  }

  /** What adding `key`/`n` would cost in bytes, without adding it (see add). */
  cost(key: string, n: number): number {
    const list = this.byKey.get(key);
    if (!list) return rangeBytes(key);
    const hi = list[list.length - 1];
    if (n === hi + 1) return 0;
    if (n > hi + 1) return rangeBytes(key);
    const at = firstAfter(list, n);
    const prev = at - 1;
    if (prev >= 0 && n <= list[2 * prev + 1] + 1) return 0; // inside, or extends the interval before
    return at < list.length / 2 && list[2 * at] === n + 1 ? 0 : rangeBytes(key);
  }

  addSplit(key: string, n: number): void {
    const list = this.byKey.get(key);
    if (!list) {
      this.byKey.set(key, [n, n]);
      return;
    }
    const hi = list[list.length - 1];
    if (n === hi + 1) list[list.length - 1] = n; // the usual case: the next seq
    else if (n > hi + 1) list.push(n, n);
    else insert(list, n);
  }

  /** Whether `rid` lies in one of the intervals. */
  has(rid: string): boolean {
    const [key, n] = splitRid(rid);
    const list = this.byKey.get(key);
    return list !== undefined && intervalAt(list, n) >= 0;
  }

  get keys(): IterableIterator<string> {
    return this.byKey.keys();
  }

  /** [smallest lo, largest hi] of a key. */
  bounds(key: string): [number, number] | null {
    const list = this.byKey.get(key);
    return list ? [list[0], list[list.length - 1]] : null;
  }

  /** The document form: sorted by key, then lo (so the same ids always give the same array). */
  toArray(): RidRange[] {
    const out: RidRange[] = [];
    for (const k of [...this.byKey.keys()].sort()) {
      const list = this.byKey.get(k)!;
      for (let i = 0; i < list.length; i += 2) out.push({ k, lo: list[i], hi: list[i + 1] });
    }
    return out;
  }

  /** Intervals of another set, merged in (for the ranges other parts hold). */
  addRange({ k, lo, hi }: RidRange): void {
    const list = this.byKey.get(k) ?? [];
    this.byKey.set(k, list);
    // Rare (only when another part overlaps): a plain merge of the sorted pairs.
    const pairs: [number, number][] = [];
    for (let i = 0; i < list.length; i += 2) pairs.push([list[i], list[i + 1]]);
    pairs.push([lo, hi]);
    pairs.sort((a, b) => a[0] - b[0]);
    list.length = 0;
    for (const [a, b] of pairs) {
      if (list.length > 0 && a <= list[list.length - 1] + 1) list[list.length - 1] = Math.max(list[list.length - 1], b);
      else list.push(a, b);
    }
  }
}

/** Index (even) of the interval holding n, or -1. */
function intervalAt(list: number[], n: number): number {
  let lo = 0;
  let hi = list.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (n < list[2 * mid]) hi = mid - 1;
    else if (n > list[2 * mid + 1]) lo = mid + 1;
    else return 2 * mid;
  }
  return -1;
}

/** Index of the first interval that starts after n (binary search over the pairs). */
function firstAfter(list: number[], n: number): number {
  let i = 0;
  let j = list.length / 2;
  while (i < j) {
    const mid = (i + j) >> 1;
    if (list[2 * mid] > n) j = mid;
    else i = mid + 1;
  }
  return i;
}

/** Puts n into the sorted intervals, joining the neighbours it touches. */
function insert(list: number[], n: number): void {
  const i = firstAfter(list, n);
  const prev = i - 1;
  if (prev >= 0 && n <= list[2 * prev + 1]) return; // already in
  const joinsPrev = prev >= 0 && list[2 * prev + 1] === n - 1;
  const joinsNext = i < list.length / 2 && list[2 * i] === n + 1;
  if (joinsPrev && joinsNext) {
    list[2 * prev + 1] = list[2 * i + 1];
    list.splice(2 * i, 2);
  } else if (joinsPrev) list[2 * prev + 1] = n;
  else if (joinsNext) list[2 * i] = n;
  else list.splice(2 * i, 0, n, n);
}
