import type { Reading, StoredReading } from '../reading.ts';
import { parseReading } from './records.ts';
import type { LatestCandidate } from './latest-throttle.ts';
import type { AckedRecordsFor } from './store.ts';

/**
 * The gateway's half of the Redis chunk layout (see redis-scripts.ts): building one append call
 * with one chunk per window, and reading list elements back into readings with positions.
 */

/** An element that starts with this holds one Reading JSON per line. */
export const CHUNK_HEAD = '#\n';

/**
 * Ids minted per receipt (`rcv:`, see ingest/validate.ts) are unique by construction, so there is
 * nothing to dedup them against and they stay out of the id set.
 */
export const isMintedId = (id: string): boolean => id.startsWith('rcv:');

export interface WindowChunk {
  window: number;
  lines: string[];
  /** Per line, the index of the caller it came from. */
  owners: number[];
  /** (line, id) pairs the script checks against the id set, lines ascending. */
  check: string[];
  seen: Set<string>;
}

export interface AppendCall {
  args: (string | Buffer)[];
  chunks: WindowChunk[];
  /** Per caller, readings not repeated within this call (the script's answer lowers it further). */
  fresh: number[];
}

/** Serializes a Reading as the line (or legacy element) the store keeps. */
export const readingJson = (r: Reading): string =>
  JSON.stringify({ id: r.id, device_id: r.device_id, group_id: r.group_id, window: r.window, received_at: r.received_at, doc: r.doc });

/**
 * The ARGV of APPEND_LUA for the readings of several callers. A repeated checked id within the
 * call keeps its first occurrence, as a retried send would. The latest candidate per device is
 * the call's newest reading of it (later wins ties); when that one turns out to be a resend
 * Redis already held, the device's `latest` is left as it was for this call (a resend of an older
 * reading behind a newer one in the same call leaves `latest` one reading behind until the next).
 * `pickLatest` chooses which candidates this call writes (latest-throttle.ts throttles them).
 */
export function buildAppendCall(
  prefix: string,
  callers: readonly { readings: Reading[] }[],
  pickLatest: (candidates: Iterable<LatestCandidate>) => LatestCandidate[] = (c) => [...c],
  ackedRecords?: AckedRecordsFor,
): AppendCall {
  const byWindow = new Map<number, WindowChunk>();
  const fresh = callers.map((c) => c.readings.length);
  const latest = new Map<string, LatestCandidate>();
  for (let owner = 0; owner < callers.length; owner++) {
    for (const r of callers[owner].readings) {
      let chunk = byWindow.get(r.window);
      if (!chunk) {
        chunk = { window: r.window, lines: [], owners: [], check: [], seen: new Set() };
        byWindow.set(r.window, chunk);
      }
      const checked = !isMintedId(r.id);
      if (checked) {
        if (chunk.seen.has(r.id)) { fresh[owner]--; continue; }
        chunk.seen.add(r.id);
      }
      const line = chunk.lines.length;
      const json = readingJson(r);
      chunk.lines.push(json);
      chunk.owners.push(owner);
      if (checked) chunk.check.push(String(line), r.id);
      const cur = latest.get(r.device_id);
      if (!cur || cur.at <= r.received_at) latest.set(r.device_id, { device: r.device_id, at: r.received_at, json, key: checked ? `${r.window}/${line}` : '' });
    }
  }
  const chunks = [...byWindow.values()];
  const args: (string | Buffer)[] = [prefix, String(chunks.length)];
  for (const c of chunks) {
    args.push(String(c.window), encodeChunk(c.lines), String(c.lines.length), String(c.check.length / 2));
    for (const v of c.check) args.push(v);
  }
  pushAcked(args, ackedRecords ? ackedRecords(callers.map((c) => c.readings)) : []);
  pushLatest(args, pickLatest(latest.values()));
  return { args, chunks, fresh };
}

/** The ARGV of APPEND_LUA that writes only `latest` entries (no window). */
export function latestOnlyCall(prefix: string, entries: readonly LatestCandidate[]): string[] {
  const args = [prefix, '0', '0'];
  pushLatest(args, entries);
  return args;
}

/** The acknowledged-record section: a count, then (device_id, serialized record) pairs (acked-ledger.ts). */
function pushAcked(args: (string | Buffer)[], records: readonly [string, string][]): void {
  const at = args.length;
  args.push('0');
  let n = 0;
  for (const [d, rec] of records) {
    if (rec === '') continue;
    args.push(d, rec);
    n++;
  }
  args[at] = String(n);
}

function pushLatest(args: (string | Buffer)[], entries: readonly LatestCandidate[]): void {
  for (const l of entries) args.push(l.device, String(l.at), l.json, l.key);
}

/**
 * The chunk as UTF-8 bytes, written line by line into one buffer of the exact size. A chunk of a
 * busy call is ~1 MB: built as a JS string it was copied four times (join, then flattened again
 * for each byte count and for the socket write) into fresh large-object pages, which with the
 * page faults was most of the gateway's CPU on batched intake (perf). ioredis sends a Buffer
 * argument as it is.
 */
export function encodeChunk(lines: readonly string[]): Buffer {
  let size = CHUNK_HEAD.length + lines.length - 1;
  for (const l of lines) size += Buffer.byteLength(l);
  const buf = Buffer.allocUnsafe(size);
  let at = buf.write(CHUNK_HEAD, 0, 'latin1');
  for (let i = 0; i < lines.length; i++) {
    if (i > 0) buf[at++] = 10;
    at += buf.write(lines[i], at);
  }
  return buf;
}

export interface BadEntry {
  /** Absolute index of the element. */
  abs: number;
  /** The chunk line, or null for a whole record element. */
  line: number | null;
  raw: string;
  reason: string;
}

/**
 * Appends the readings of the element at absolute index `abs` to `out`, skipping blank lines,
 * dead ids and chunk lines up to `skipThrough` (a page that resumes inside a chunk); unreadable
 * ones go to `bad`.
 */
export function decodeElement(raw: string, gen: string, abs: number, window: number, dead: ReadonlySet<string>, out: StoredReading[], bad: BadEntry[], skipThrough = -1): void {
  if (raw === '') return;
  if (!raw.startsWith(CHUNK_HEAD)) {
    const r = parseReading(raw, window);
    if (typeof r === 'string') bad.push({ abs, line: null, raw, reason: r });
    else if (!dead.has(r.id)) out.push({ ...r, pos: `${gen}-${abs}` });
    return;
  }
  const lines = chunkLines(raw);
  for (let k = skipThrough + 1; k < lines.length; k++) {
    if (lines[k] === '') continue;
    const r = parseReading(lines[k], window);
    if (typeof r === 'string') bad.push({ abs, line: k, raw: lines[k], reason: r });
    else if (!dead.has(r.id)) out.push({ ...r, pos: `${gen}-${abs}-${k}` });
  }
}

/** A chunk's lines by line number, blank ones included (they keep the numbering). */
const chunkLines = (raw: string): string[] => raw.slice(CHUNK_HEAD.length).split('\n');

/** The lines of an element that may hold a reading, newest last ('' tombstones give none). */
export function elementRecords(raw: string): string[] {
  if (raw === '') return [];
  return raw.startsWith(CHUNK_HEAD) ? chunkLines(raw).filter((l) => l !== '') : [raw];
}
