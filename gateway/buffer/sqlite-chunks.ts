import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Reading, ReadingDoc } from '../reading.ts';
import { checkDoc } from './records.ts';

/**
 * The SQLite buffer stores one row (a **chunk**) per commit and window, not one per reading: a
 * group commit of many requests writes one row into the window's table, and the per-row costs of
 * a B-tree (cell, key, page split) are paid once per commit.
 *
 * A chunk's `body` is one line per reading, joined by `\n` and deflated (raw deflate, level 1:
 * readings of one fleet share most of their text, so a commit's worth shrinks 3-5x, and a card
 * writes each byte twice, in the WAL and at the checkpoint); a TEXT body (a migrated row) is the
 * plain text. Each line is a JSON array
 * `[id, device_id, group_id, received_at, doc]` (JSON has no raw newline). A reading that was
 * deleted (a partial delete) or quarantined becomes an empty line, so the lines after it keep
 * their numbers. `devices` is `\n<device>\n<device>\n…` (distinct, device ids have no newline): a
 * device's readings are found by testing this column, without parsing bodies.
 *
 * Positions: `seq * LINES_PER_CHUNK + line`, decimal strings, so a position is still one integer
 * (comparePos and the upload manifest compare them as numbers) and strictly increases with the
 * store order. A chunk holds at most LINES_PER_CHUNK readings (larger calls are split).
 */
export const LINES_PER_CHUNK = 65_536;

export const chunkPos = (seq: number, line: number): number => seq * LINES_PER_CHUNK + line;
export const posSeq = (pos: number): number => Math.floor(pos / LINES_PER_CHUNK);
export const posLine = (pos: number): number => pos % LINES_PER_CHUNK;

/** A stored body. */
export type Body = string | Buffer;

export function packBody(lines: string[]): Buffer {
  return deflateRawSync(lines.join('\n'), { level: 1 });
}

export function bodyLines(body: Body): string[] {
  return (typeof body === 'string' ? body : inflateRawSync(body).toString('utf8')).split('\n');
}

export interface EncodedChunk {
  n: number;
  bytes: number;
  /** Newest received_at of its readings. */
  at: number;
  devices: string;
  body: Buffer;
}

/** One reading's line; `doc` is its JSON (serialized once by the caller). */
export function encodeLine(r: Reading, docJson: string): string {
  return `[${JSON.stringify(r.id)},${JSON.stringify(r.device_id)},${JSON.stringify(r.group_id)},${r.received_at},${docJson}]`;
}

/** `bytes` counts the doc JSON, as listWindows did before (retention's byte bound compares it). */
export function encodeChunk(readings: Reading[], docs: string[]): EncodedChunk {
  const lines: string[] = new Array(readings.length);
  const devices = new Set<string>();
  let bytes = 0;
  let at = -Infinity;
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i];
    lines[i] = encodeLine(r, docs[i]);
    devices.add(r.device_id);
    bytes += Buffer.byteLength(docs[i]);
    if (r.received_at > at) at = r.received_at;
  }
  return { n: readings.length, bytes, at, devices: `\n${[...devices].join('\n')}\n`, body: packBody(lines) };
}

export const deviceNeedle = (deviceId: string): string => `\n${deviceId}\n`;

export interface DecodedLine {
  id: string;
  device_id: string;
  group_id: string;
  received_at: number;
  doc: ReadingDoc;
}

/** Parses a line; returns the reason as a string when it cannot be used (then it is quarantined). */
export function decodeLine(line: string): DecodedLine | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return 'record is not valid JSON';
  }
  if (!Array.isArray(v) || v.length !== 5) return 'record is not a stored reading';
  const [id, device, group, at, doc] = v as unknown[];
  if (typeof id !== 'string' || typeof device !== 'string' || typeof group !== 'string') return 'record lacks id, device_id or group_id';
  if (typeof at !== 'number' || !Number.isFinite(at)) return 'record lacks received_at';
  const checked = checkDoc(doc);
  if (typeof checked === 'string') return checked;
  return { id, device_id: device, group_id: group, received_at: at, doc: checked };
}

/** The id of a line without a full parse, or null (an empty or unreadable line). */
export function lineId(line: string): string | null {
  if (line.length === 0) return null;
  const end = line.indexOf('",');
  if (line[0] !== '[' || line[1] !== '"' || end < 0) return null;
  try {
    return JSON.parse(line.slice(1, end + 1)) as string;
  } catch {
    return null;
  }
}
