import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoBulkWriteError, MongoNetworkError, MongoServerError, MongoServerSelectionError } from 'mongodb';
import { BSON } from 'mongodb';
import { PartBuilder, bsonSize, partBsonSize, hourIso, readingTime, type PartDoc } from '../gateway/upload/parts.ts';
import { backoffMs } from '../gateway/upload/backoff.ts';
import { classify, classifyWriteError, oneLine } from '../gateway/upload/errors.ts';
import type { StoredReading } from '../gateway/reading.ts';
import { RidRanges, splitRid } from '../gateway/upload/rid-ranges.ts';
import { MIN_PART_BYTES, UplinkMeter } from '../gateway/upload/uplink.ts';

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 10, 23, 17, 0, 0);

/** `n` readings in store order: devices round-robin, groups by device, one every `stepMs`. */
function readings(n: number, opts: { groups?: number; devices?: number; start?: number; stepMs?: number; firstPos?: number; window?: number; payload?: number } = {}): StoredReading[] {
  const { groups = 2, devices = 6, start = T0, stepMs = 1000, firstPos = 1, window = T0, payload = 0 } = opts;
  return Array.from({ length: n }, (_, i) => {
    const d = i % devices;
    const at = start + i * stepMs;
    const doc = { device_id: `dev-${d}`, group_id: `g${d % groups}`, cpu: i % 100, pad: 'x'.repeat(payload), timestamp: new Date(at).toISOString(), status: 'online' as const };
    return { id: `rcv:${i}`, device_id: doc.device_id, group_id: doc.group_id, window, received_at: at, doc, pos: String(firstPos + i) };
  });
}

function build(rs: StoredReading[], partMaxBytes = 8 * 1024 * 1024, openBudgetBytes?: number): PartDoc[] {
  const b = new PartBuilder({ gatewayId: 'gw1', store: 'sqlite', windowMs: HOUR, partMaxBytes, openBudgetBytes });
  const out: PartDoc[] = [];
  for (const r of rs) out.push(...b.add(r));
  out.push(...b.finish());
  return out;
}

const rids = (parts: PartDoc[]): string[] => parts.flatMap((p) => p.readings.map((r) => r._rid));

test('the same range gives the same _ids and the same contents', () => {
  const rs = readings(500, { payload: 50 });
  const a = build(rs, 8 * 1024);
  const b = build(structuredClone(rs), 8 * 1024);
  assert.ok(a.length > 4, 'several parts');
  assert.deepEqual(b, a);
  assert.equal(a[0]._id, `gw1:g0:2026-11-23T17:00:00Z:sqlite:1`);
  assert.equal(a[0].part_key, 'sqlite:1');
  assert.deepEqual(a[0].hour, new Date(T0));
});

test('a longer range replaces every earlier part with a superset and never places a reading twice', () => {
  const all = readings(800, { payload: 40 });
  const short = build(all.slice(0, 333), 6 * 1024);
  const long = build(all, 6 * 1024);
  const longById = new Map(long.map((p) => [p._id, p]));
  for (const p of short) {
    const q = longById.get(p._id);
    assert.ok(q, `${p._id} is produced again`);
    const ids = new Set(q.readings.map((r) => r._rid));
    for (const r of p.readings) assert.ok(ids.has(r._rid), `${r._rid} stays in ${p._id}`);
  }
  // Atlas after both uploads (replaceOne by _id): each reading exactly once.
  const atlas = new Map<string, PartDoc>();
  for (const p of [...short, ...long]) atlas.set(p._id, p);
  const stored = rids([...atlas.values()]);
  assert.equal(stored.length, 800);
  assert.equal(new Set(stored).size, 800);
});

test('parts are cut at part_max_bytes (exact BSON size) and keep every reading once, in time order', () => {
  const rs = readings(2000, { groups: 1, payload: 100 });
  const max = 16 * 1024;
  const parts = build(rs, max);
  assert.ok(parts.length > 10);
  for (const p of parts) {
    assert.ok(partBsonSize(p) <= max, `${p._id}: ${partBsonSize(p)} <= ${max}`);
    assert.equal(p.count, p.readings.length);
    assert.deepEqual(p.devices, [...new Set(p.readings.map((r) => r.device_id))].sort());
    const ts = p.readings.map((r) => r._t.getTime());
    assert.deepEqual(ts, [...ts].sort((x, y) => x - y));
    assert.deepEqual(p.first, p.readings[0]._t);
    assert.deepEqual(p.last, p.readings[p.readings.length - 1]._t);
  }
  assert.deepEqual(rids(parts).sort(), rs.map((r) => r.id).sort());
  // Parts fill up: all but the last are more than half full.
  for (const p of parts.slice(0, -1)) assert.ok(partBsonSize(p) > max / 2);
});

test('rid_ranges: seq intervals per device and boot, exact under retries and gaps, and within the bytes it reported', () => {
  assert.deepEqual(splitRid('dev:esp32-a1/k3f9/812'), ['dev:esp32-a1/k3f9', 812]);
  assert.deepEqual(splitRid('rcv:0192a1b2c3d4-0a1-8b2-0c3d4e5f6a7b/3'), ['rcv:0192a1b2c3d4-0a1-8b2-0c3d4e5f6a7b', 3]);
  assert.deepEqual(splitRid('dev:a/b/007'), ['dev:a/b/007', -1], 'a tail that does not read back the same is not a number');
  const r = new RidRanges();
  let reported = 0;
  // Seqs 0..99 with 10..19 missing, then the missing ones retried out of order, then a gap at 200.
  const order = [...Array.from({ length: 100 }, (_, i) => i).filter((i) => i < 10 || i >= 20), 15, 11, 19, 10, 12, 13, 14, 16, 18, 17, 200, 201];
  for (const n of order) reported += r.add(`dev:d1/b1/${n}`);
  reported += r.add('dev:d2/b1/5');
  assert.deepEqual(r.toArray(), [{ k: 'dev:d1/b1', lo: 0, hi: 99 }, { k: 'dev:d1/b1', lo: 200, hi: 201 }, { k: 'dev:d2/b1', lo: 5, hi: 5 }]);
  assert.ok(r.has('dev:d1/b1/42') && r.has('dev:d1/b1/201') && !r.has('dev:d1/b1/150') && !r.has('dev:d3/b1/5'));
  // What add() reported covers the array's BSON bytes (field name and array header aside).
  assert.ok(reported >= BSON.calculateObjectSize({ a: r.toArray() }) - 12, `${reported}`);
  // A part of dev readings keeps to part_max_bytes with its ranges, retries and all.
  const rs = readings(3000, { groups: 1, payload: 40 }).map((x, i) => ({ ...x, id: `dev:${x.device_id}/b/${i % 7 === 3 ? i - 500 : i}` }));
  const parts = build(rs, 12 * 1024);
  for (const p of parts) {
    assert.ok(partBsonSize(p) <= 12 * 1024, `${partBsonSize(p)}`);
    assert.deepEqual(p.rid_ranges, (() => { const q = new RidRanges(); for (const e of p.readings) q.add(e._rid); return q.toArray(); })());
  }
});

test('the fast size walk agrees with BSON.calculateObjectSize', () => {
  const docs: Record<string, unknown>[] = [
    { device_id: 'd', cpu: 1, big: 2 ** 31, neg: -(2 ** 31), negBig: -(2 ** 31) - 1, f: 1.5, nan: NaN, t: true, n: null, s: 'héllo ☃', 'ключ': 'x', _t: new Date(0) },
    { nested: { a: [1, 'two', { three: 3 }], b: { c: null } }, arr: [1.5, 2], empty: {}, emptyArr: [] },
    { huge: 1e300, small: -0.0, str: '' },
  ];
  for (const d of docs) assert.equal(bsonSize(d), BSON.calculateObjectSize(d), JSON.stringify(d));
});

test('a single reading larger than the bound gets a part of its own', () => {
  const rs = readings(3, { groups: 1, payload: 5000 });
  const parts = build(rs, 2048);
  assert.equal(parts.length, 3);
});

test('open parts never hold much more than the budget, whatever the number of groups', () => {
  const rs = readings(5000, { groups: 50, devices: 200, payload: 20 });
  const b = new PartBuilder({ gatewayId: 'gw1', store: 'redis', windowMs: HOUR, partMaxBytes: 64 * 1024, openBudgetBytes: 32 * 1024 });
  let peak = 0;
  const parts: PartDoc[] = [];
  for (const r of rs) {
    parts.push(...b.add(r));
    peak = Math.max(peak, b.heldBytes);
  }
  parts.push(...b.finish());
  assert.equal(b.heldBytes, 0);
  assert.ok(peak <= 32 * 1024 + 1024, `peak ${peak}`);
  assert.equal(new Set(rids(parts)).size, 5000);
  assert.ok(parts.every((p) => p._id.includes(':redis:')));
});

test('the hour comes from the device time when intake used it, else from the receive time', () => {
  const [r] = readings(1, { start: T0 + 2 * HOUR + 5 });
  // Received at 19:00:00.005 but measured at 17:30 and filed in the 17:00 window.
  const late = { ...r, window: T0, doc: { ...r.doc, ts: T0 + HOUR / 2 } };
  assert.equal(readingTime(late, HOUR), T0 + HOUR / 2);
  const [p] = build([late]);
  assert.equal(p._id, 'gw1:g0:2026-11-23T17:00:00Z:sqlite:1');
  assert.deepEqual(p.readings[0]._t, new Date(T0 + HOUR / 2));
  assert.equal(p.readings[0].timestamp, r.doc.timestamp, 'timestamp stays the original ISO string');
  // A ts outside the window (intake did not trust it) does not move the reading.
  const untrusted = { ...r, window: T0 + 2 * HOUR, doc: { ...r.doc, ts: 1 } };
  assert.equal(readingTime(untrusted, HOUR), r.received_at);
  // Windows shorter than an hour map into their hour.
  assert.equal(build(readings(1, { start: T0 + 59 * 60_000, window: T0 + 59 * 60_000 }))[0].hour.getTime(), T0);
  assert.equal(hourIso(T0), '2026-11-23T17:00:00Z');
});

test('the uplink meter: unknown until measured, then parts that fit a quarter of the socket timeout and a timeout that fits the parts', () => {
  const m = new UplinkMeter({ floorMs: 60_000, maxPartBytes: 8 * 1024 * 1024 });
  assert.deepEqual([m.bytesPerSecond, m.partBytes(), m.socketTimeoutMs(8 * 1024 * 1024)], [null, 8 * 1024 * 1024, 60_000]);
  m.observe(10_000, 5); // small writes measure latency, not the link
  assert.equal(m.bytesPerSecond, null);
  // An 8 MiB write got no answer within 60 s: below 140 KB/s, so half that is assumed.
  m.timedOut(8 * 1024 * 1024, 60_000);
  assert.equal(Math.round(m.bytesPerSecond!), Math.round((8 * 1024 * 1024) / 60 / 2));
  const rate = m.bytesPerSecond!;
  assert.equal(m.partBytes(), Math.floor((rate * 60) / 4), 'a part takes a quarter of the socket timeout');
  assert.equal(m.socketTimeoutMs(8 * 1024 * 1024), Math.ceil((4 * 8 * 1024 * 1024 * 1000) / rate), 'a replay of the big parts gets 4x their time');
  assert.equal(m.socketTimeoutMs(m.partBytes()), 60_000);
  // A fast link: the configured size and timeout again.
  for (let i = 0; i < 30; i++) m.observe(8 * 1024 * 1024, 800);
  assert.deepEqual([m.partBytes(), m.socketTimeoutMs(8 * 1024 * 1024)], [8 * 1024 * 1024, 60_000]);
  // A very slow one: never below the smallest part.
  for (let i = 0; i < 30; i++) m.timedOut(100_000, 60_000);
  assert.equal(m.partBytes(), MIN_PART_BYTES);
});

test('backoff grows exponentially with full jitter, floored at the base and capped at the max', () => {
  assert.equal(backoffMs(0, 1000, 60_000, () => 0), 1000);
  assert.equal(backoffMs(0, 1000, 60_000, () => 1), 1000);
  assert.equal(backoffMs(3, 1000, 60_000, () => 1), 8000);
  assert.equal(backoffMs(30, 1000, 60_000, () => 1), 60_000);
  for (let i = 0; i < 100; i++) {
    const v = backoffMs(5, 1000, 60_000);
    assert.ok(v >= 1000 && v <= 32_000);
  }
});

test('errors are classified as transient or permanent, with a one-line reason', () => {
  assert.equal(classify(new MongoNetworkError('connection reset')).kind, 'transient');
  assert.equal(classify(new MongoServerSelectionError('Server selection timed out after 100 ms', { type: 'Unknown', servers: new Map() } as never)).kind, 'transient');
  const auth = classify(new MongoServerError({ code: 18, codeName: 'AuthenticationFailed', errmsg: 'Authentication failed.' }));
  assert.deepEqual([auth.kind, auth.scope], ['permanent', 'global']);
  assert.match(auth.reason, /AuthenticationFailed \(18\)/);
  assert.equal(classify(new MongoServerError({ code: 10107, errmsg: 'not primary' })).kind, 'transient');
  assert.deepEqual(classifyWriteError({ code: 121, errmsg: 'Document failed validation' }), { kind: 'permanent', scope: 'part', code: 121, codeName: 'DocumentValidationFailure', reason: 'DocumentValidationFailure (121): Document failed validation' });
  // A duplicate key that reaches the client lasts (the server retries upsert races itself).
  assert.deepEqual(classifyWriteError({ code: 11000, errmsg: 'E11000' }), { kind: 'permanent', scope: 'part', code: 11000, codeName: 'DuplicateKey', reason: 'DuplicateKey (11000): E11000' });
  assert.equal(classify(new MongoServerError({ code: 11000, errmsg: 'E11000 duplicate key error' })).kind, 'permanent');
  // Overload (SystemOverloadedError) passes.
  assert.equal(classifyWriteError({ code: 462, errmsg: 'ingress request rate limit exceeded' }).kind, 'transient');
  assert.equal(classify(new MongoServerError({ code: 462, errmsg: 'ingress request rate limit exceeded' })).kind, 'transient');
  assert.equal(classify(Object.assign(new Error('getaddrinfo ENOTFOUND cluster0.example.net'), { code: 'ENOTFOUND' })).kind, 'transient');
  assert.equal(oneLine(new Error('bad auth for mongodb+srv://user:secret@cluster0.example.net/x\nstack')), 'bad auth for mongodb+srv://***@cluster0.example.net/x');
  assert.ok(MongoBulkWriteError);
});
