import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MongoClient, type Db, type FindCursor } from 'mongodb';
import { startMongoForTests } from './support/mongo-server.ts';
import { HOUR, makeReadings, openHarness, type Harness } from './support/upload-driver.ts';

// Every ```mongosh block of docs/atlas.md runs here against documents the real uploader wrote.
// A block is one mongosh expression; a tiny shim maps it onto the Node driver.

const doc = readFileSync(fileURLToPath(new URL('../docs/atlas.md', import.meta.url)), 'utf8');
const queries = [...doc.matchAll(/```mongosh\n([\s\S]*?)```/g)].map((m) => m[1].trim());
// Audits (```mongosh audit): checks that must come back empty.
const audits = [...doc.matchAll(/```mongosh audit\n([\s\S]*?)```/g)].map((m) => m[1].trim());

let mongo: Awaited<ReturnType<typeof startMongoForTests>>;
let client: MongoClient;
let h: Harness;
const database = `iotgw_docs_${process.pid}`;
const T = Date.parse('2025-06-01T10:00:00Z');

before(async () => {
  mongo = await startMongoForTests();
  client = new MongoClient(mongo.uri);
  h = await openHarness({ mongoUri: mongo.uri, database, overrides: { gateway_id: 'pi-greenhouse', 'upload.part_max_bytes': 16 * 1024 } });
  const fix = (rs: ReturnType<typeof makeReadings>, group: string, devices: string[]) => rs.map((r, i) => {
    const device_id = devices[i % devices.length];
    return { ...r, device_id, group_id: group, doc: { ...r.doc, device_id, group_id: group, hum: 50 + (i % 7) } };
  });
  // Two hours of greenhouse-1 (two devices, one reading every 20 s each), another group, then a
  // late batch for 10:00 uploaded afterwards: several parts per hour, as in the field.
  await h.buffer.append(fix(makeReadings(720, { start: T, stepMs: 10_000, tag: 'a' }), 'greenhouse-1', ['esp32-a1', 'esp32-b2']));
  await h.buffer.append(fix(makeReadings(60, { start: T, stepMs: 60_000, tag: 'b' }), 'barn', ['esp32-c3']));
  await h.uploader.runOnce();
  await h.buffer.append(fix(makeReadings(10, { start: T + 30 * 60_000, stepMs: 1000, tag: 'late' }), 'greenhouse-1', ['esp32-a1']));
  const r = await h.uploader.runOnce();
  assert.equal(r.error, null);
});
after(async () => {
  await h?.cleanup();
  await client?.close();
  await mongo?.stop();
});

function shim(db: Db) {
  const chain = (cursor: FindCursor) => ({
    sort: (s: Record<string, 1 | -1>) => chain(cursor.sort(s)),
    limit: (n: number) => chain(cursor.limit(n)),
    then: (ok: (v: unknown) => unknown, fail: (e: unknown) => unknown) => cursor.toArray().then(ok, fail),
  });
  return new Proxy({}, {
    get: (_t, name: string) => {
      const c = db.collection(name);
      return {
        find: (q = {}, projection?: Record<string, 0 | 1>) => chain(c.find(q, { projection })),
        findOne: (q = {}, projection?: Record<string, 0 | 1>) => c.findOne(q, { projection }),
        aggregate: (pipeline: object[], options?: object) => c.aggregate(pipeline, options).toArray(),
        distinct: (field: string, q = {}) => c.distinct(field, q),
        countDocuments: (q = {}) => c.countDocuments(q),
      };
    },
  });
}

async function run(code: string): Promise<any> {
  const fn = new Function('db', 'ISODate', `return (${code});`);
  return await fn(shim(client.db(database)), (s: string) => new Date(s));
}

test('docs/atlas.md has the documented queries', () => {
  assert.ok(queries.length >= 6, `found ${queries.length} mongosh blocks`);
});

test('every documented query runs and returns data', async () => {
  for (const q of queries) {
    const result = await run(q);
    const empty = result === null || (Array.isArray(result) && result.length === 0);
    assert.ok(!empty, `no result for:\n${q}`);
  }
});

test('the documented answers are right', async () => {
  const [groupRange, deviceRange, hourlyMean, perHour, gateways, devices, latest] = await Promise.all(queries.map(run));
  // A group between two times: both hours, parts in order, no readings arrays.
  assert.ok(groupRange.length >= 3);
  assert.ok(groupRange.every((p: any) => p.group_id === 'greenhouse-1' && p.readings === undefined));
  assert.equal(groupRange.reduce((n: number, p: any) => n + p.count, 0), 730);
  // One device, 10:15–10:45: flat readings in time order, each once.
  const inRange = (t: number) => t >= T + 15 * 60_000 && t < T + 45 * 60_000;
  const expected = 90 + 10; // every 20 s for 30 min, plus the late batch
  assert.equal(deviceRange.length, expected);
  assert.ok(deviceRange.every((r: any) => r.device_id === 'esp32-a1' && inRange(r._t.getTime())));
  assert.equal(new Set(deviceRange.map((r: any) => r._rid)).size, expected);
  // Hourly mean per device, parts combined: recompute from what was uploaded.
  const all = await client.db(database).collection('group_hours').find({ group_id: 'greenhouse-1' }).toArray();
  const sums = new Map<string, { s: number; n: number }>();
  for (const p of all) for (const r of p.readings) {
    const k = `${r.device_id}|${p.hour.toISOString()}`;
    const e = sums.get(k) ?? { s: 0, n: 0 };
    e.s += r.temp; e.n++;
    sums.set(k, e);
  }
  assert.equal(hourlyMean.length, 4);
  for (const row of hourlyMean) {
    const e = sums.get(`${row._id.device_id}|${row._id.hour.toISOString()}`)!;
    assert.equal(row.readings, e.n);
    assert.ok(Math.abs(row.mean_temp - e.s / e.n) < 1e-9);
  }
  assert.deepEqual(perHour.map((r: any) => [r._id.group_id, r._id.hour.getTime() - T, r.readings]), [['barn', 0, 60], ['greenhouse-1', 0, 370], ['greenhouse-1', HOUR, 360]]);
  assert.ok(perHour.find((r: any) => r._id.group_id === 'greenhouse-1' && r._id.hour.getTime() === T).parts > 1, 'the late batch is its own part');
  assert.deepEqual(gateways, ['pi-greenhouse']);
  assert.deepEqual([...devices].sort(), ['esp32-a1', 'esp32-b2']);
  assert.equal(latest.group_id, 'greenhouse-1');
  assert.equal(latest._id, undefined);
  assert.deepEqual(latest.devices.map((d: any) => d.device_id), ['esp32-a1', 'esp32-b2']);
});

test('the audit for readings held twice returns nothing, and finds a planted duplicate', async () => {
  assert.equal(audits.length, 1);
  assert.deepEqual(await run(audits[0]), [], 'each reading once');
  // Copy one reading of the 10:00 hour into a part of 11:00 of the same gateway.
  const coll = client.db(database).collection('group_hours');
  const [a] = await coll.find({ hour: new Date(T) }).limit(1).toArray();
  const [b] = await coll.find({ hour: new Date(T + HOUR) }).limit(1).toArray();
  await coll.updateOne({ _id: b._id }, { $push: { readings: a.readings[0] } });
  try {
    const found = await run(audits[0]);
    assert.deepEqual(found.map((r: any) => [r._id.gateway_id, r._id.hour.getTime() - T, r.duplicate_rids, r.extra_copies]), [['pi-greenhouse', 0, 1, 1]]);
  } finally {
    await coll.updateOne({ _id: b._id }, { $pop: { readings: 1 } });
  }
  assert.deepEqual(await run(audits[0]), []);
});
