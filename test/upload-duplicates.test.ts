import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOUR, atlasContents, makeReadings, openHarness, type Harness } from './support/upload-driver.ts';
import { hourAgo, uploadSuite } from './support/upload-suite.ts';
import { withoutHeldReadings } from '../gateway/upload/duplicate-guard.ts';
import { PartBuilder, type PartDoc } from '../gateway/upload/parts.ts';
import type { Reading, StoredReading } from '../gateway/reading.ts';

// The second line of defence (issue 21, item 2): a reading id Atlas holds in one part of a
// gateway is never written into another. The buffer's record of acknowledged readings is the
// first line; here it is out of the picture: the retries reach a gateway whose data dir is new
// (an SD card replaced, a record gone), so only Atlas knows them.

const suite = uploadSuite('dups');
const { freshDb } = suite;

/** Readings of 4 devices in one group with (boot_id, seq) ids, as intake builds them: seq from..to-1, one every 10 s from `start`. */
function seqReadings(from: number, to: number, start: number, boot = 'b1'): Reading[] {
  return makeReadings(to - from, { start, stepMs: 10_000, groups: 1, devices: 1 }).flatMap((r, i) =>
    ['d0', 'd1', 'd2', 'd3'].map((device_id) => {
      const seq = from + i;
      return { ...r, id: `dev:${device_id}/${boot}/${seq}`, device_id, doc: { ...r.doc, device_id, boot_id: boot, seq } };
    }));
}

async function withTwoSites(fn: (first: Harness, second: Harness, db: string) => Promise<void>): Promise<void> {
  const db = freshDb();
  const first = await openHarness({ mongoUri: suite.mongo.uri, database: db });
  const second = await openHarness({ mongoUri: suite.mongo.uri, database: db }); // same gateway_id, new data dir
  try {
    await fn(first, second, db);
  } finally {
    await first.cleanup();
    await second.cleanup();
  }
}

test('retries of uploaded readings, hours later, with no local record of them: Atlas holds each once, the rest are counted', () => withTwoSites(async (first, second, db) => {
  await first.buffer.append(seqReadings(0, 30, hourAgo(3) + 1000));
  assert.equal((await first.uploader.runOnce()).readings, 120);
  // The boards resend seq 15..29 (acks lost) and send 30..32, in a later hour.
  await second.buffer.append(seqReadings(15, 33, hourAgo(2) + 1000));
  const report = await second.uploader.runOnce();
  assert.equal(report.error, null);
  assert.equal(report.windows[0].duplicates_dropped, 60);
  assert.match(await second.metrics.registry.getSingleMetricAsString('iotgw_upload_duplicates_dropped_total'), / 60$/m);
  assert.ok(second.lines.some((l) => l.level === 40 && /Atlas holds them in other parts already/.test(l.msg) && l.readings === 60));
  const { rids, parts } = await atlasContents(suite.mongo.uri, db);
  assert.equal(rids.length, 132);
  assert.equal(new Set(rids).size, 132);
  // The new part holds only the new seqs, and its summary says so.
  const late = parts.find((p) => p.hour.getTime() === hourAgo(2))!;
  assert.deepEqual(late.rid_ranges, ['d0', 'd1', 'd2', 'd3'].map((d) => ({ k: `dev:${d}/b1`, lo: 30, hi: 32 })));
  assert.deepEqual((await second.buffer.listWindows()), [], 'the window committed and was deleted as usual');
  // A new boot of the same devices restarts seq at 0: new readings, not duplicates.
  await second.buffer.append(seqReadings(0, 5, hourAgo(1) + 1000, 'b2'));
  const reboot = await second.uploader.runOnce();
  assert.equal(reboot.windows[0].duplicates_dropped, 0);
  assert.equal((await atlasContents(suite.mongo.uri, db)).rids.length, 152);
}));

test('readings without seq held twice (the same receipt id in two copies of one hour) go up once', () => withTwoSites(async (first, second, db) => {
  const w = hourAgo(2);
  const readings = makeReadings(12, { start: w + 1000, groups: 2 }).map((r, i) => ({ ...r, id: `rcv:0192a1b2c3d4-0a1-8b2-0c3d4e5f6a7b/${i}` }));
  await first.buffer.append(readings);
  await first.uploader.runOnce();
  // (Another site's store numbers its positions afresh: shift them, or the parts would share _ids
  // with the first site's and simply replace them.)
  await second.buffer.append(makeReadings(5, { start: Date.now(), tag: 'open' }));
  await second.buffer.append([...readings, ...makeReadings(2, { start: w + 60_000, groups: 2 }).map((r, i) => ({ ...r, id: `rcv:0192a1b2c3d5-0a1-8b2-0c3d4e5f6a7b/${i}` }))]);
  const report = await second.uploader.runOnce();
  assert.equal(report.windows[0].duplicates_dropped, 12);
  const { rids } = await atlasContents(suite.mongo.uri, db);
  assert.equal(rids.length, 14);
  assert.equal(new Set(rids).size, 14);
}));

test('the check leaves the window\'s own parts alone and finds exactly the overlapping readings', async () => {
  const coll = suite.client.db(freshDb()).collection<PartDoc>('group_hours');
  await coll.createIndex({ 'rid_ranges.k': 1, 'rid_ranges.hi': 1 });
  const build = (rs: StoredReading[]): PartDoc[] => {
    const b = new PartBuilder({ gatewayId: 'gw', store: 'sqlite', windowMs: HOUR, partMaxBytes: 1 << 20 });
    return [...rs.flatMap((r) => b.add(r)), ...b.finish()];
  };
  const stored = (rs: Reading[], firstPos: number): StoredReading[] => rs.map((r, i) => ({ ...r, pos: String(firstPos + i) }));
  const [held] = build(stored(seqReadings(0, 10, hourAgo(5)), 1));
  await coll.insertOne(held);
  // Other gateways' parts with the same ids do not count.
  await coll.insertOne({ ...held, _id: 'other-gw:part', gateway_id: 'other-gw' });
  const [mine] = build(stored(seqReadings(8, 14, hourAgo(4)), 100));
  const checked = await withoutHeldReadings(coll, 'gw', [mine], new Set([mine._id]));
  assert.equal(checked.dropped, 8, 'seq 8 and 9 of four devices');
  assert.deepEqual(checked.holders, [held._id]);
  assert.deepEqual(checked.parts[0].readings.map((r) => r.seq).sort(), [10, 10, 10, 10, 11, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13]);
  assert.equal(checked.parts[0].count, 16);
  // The same part, when it is the window's own (a replay): nothing is dropped.
  const replay = await withoutHeldReadings(coll, 'gw', [held], new Set([held._id]));
  assert.deepEqual([replay.dropped, replay.parts[0]], [0, held]);
});
