import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startMongoForTests, type MongoWireServer } from './support/mongo-server.ts';
import { HOUR, atlasContents, makeReadings, openHarness, type Harness } from './support/upload-driver.ts';
import { TestRedis } from './support/redis.ts';

// One pass, re-runs, late readings, device_groups, lost acks, refusals and outages, through the
// real driver against the wire-protocol server (or MONGODB_URI when set: fault tests skip then).

let mongo: { uri: string; server?: MongoWireServer; stop(): Promise<void> };
let dbSeq = 0;
before(async () => { mongo = await startMongoForTests(); });
after(async () => { await mongo.stop(); });

const freshDb = (): string => `iotgw_upload_${process.pid}_${++dbSeq}`;
const hourAgo = (n: number): number => Math.floor(Date.now() / HOUR) * HOUR - n * HOUR;

async function withHarness(fn: (h: Harness, db: string) => Promise<void>, opts: { redisUrl?: string; overrides?: Record<string, unknown> } = {}): Promise<void> {
  const db = freshDb();
  const h = await openHarness({ mongoUri: mongo.uri, database: db, ...opts });
  try {
    await fn(h, db);
  } finally {
    mongo.server?.faults.reset();
    await h.cleanup();
  }
}

const metric = async (h: Harness, name: string): Promise<string> => (await h.metrics.registry.getSingleMetricAsString(name));

test('one pass uploads every closed window as group_hours parts and device_groups; a re-run is a no-op', () => withHarness(async (h, db) => {
  const w1 = hourAgo(3);
  const w2 = hourAgo(2);
  await h.buffer.append(makeReadings(120, { start: w1 + 1000, stepMs: 10_000, tag: 'a' }));
  await h.buffer.append(makeReadings(60, { start: w2 + 5000, stepMs: 30_000, tag: 'b' }));
  await h.buffer.append(makeReadings(5, { start: Date.now(), tag: 'open' })); // open window: stays

  const report = await h.uploader.runOnce();
  assert.equal(report.error, null);
  assert.equal(report.ok, true);
  assert.equal(report.readings, 180);
  assert.deepEqual(report.windows.map((w) => [w.window, w.result, w.readings, w.deleted]), [
    [new Date(w1).toISOString(), 'uploaded', 120, 120], [new Date(w2).toISOString(), 'uploaded', 60, 60],
  ]);

  const { parts, groups, rids } = await atlasContents(mongo.uri, db);
  assert.equal(parts.length, 4, 'two groups × two hours');
  assert.equal(rids.length, 180);
  assert.equal(new Set(rids).size, 180);
  const p = parts.find((x) => x.group_id === 'grp-0' && x.hour.getTime() === w1)!;
  assert.match(p._id, new RegExp(`^gw-test:grp-0:${new Date(w1).toISOString().slice(0, 19)}Z:sqlite:\\d+$`));
  assert.deepEqual(p.devices, ['dev-000', 'dev-002']);
  assert.equal(p.count, 60);
  assert.equal(p.gateway_id, 'gw-test');
  assert.ok(p.first instanceof Date && p.last instanceof Date && p.first <= p.last);
  const r0 = p.readings[0];
  assert.equal(typeof r0.timestamp, 'string');
  assert.ok(r0._t instanceof Date);
  assert.deepEqual(Object.keys(r0).sort(), ['_rid', '_t', 'cpu', 'device_id', 'device_type', 'group_id', 'status', 'temp', 'timestamp']);

  assert.deepEqual(groups.map((g) => g.group_id), ['grp-0', 'grp-1']);
  const g0 = groups[0];
  assert.deepEqual(g0.devices.map((d: { device_id: string }) => d.device_id), ['dev-000', 'dev-002']);
  assert.ok(g0.created_at instanceof Date && g0.last_updated instanceof Date);
  // The latest reading of dev-000 is the last one it sent (window 2).
  const last = makeReadings(60, { start: w2 + 5000, stepMs: 30_000, tag: 'b' }).filter((r) => r.device_id === 'dev-000').pop()!;
  assert.deepEqual({ ...g0.devices[0] }, last.doc);

  // Local copies are gone, the open window stays.
  const windows = await h.buffer.listWindows();
  assert.deepEqual(windows.map((w) => w.count), [5]);
  assert.match(await metric(h, 'iotgw_upload_readings_total'), /iotgw_upload_readings_total 180/);
  assert.match(await metric(h, 'iotgw_upload_last_success_timestamp_seconds'), /seconds [1-9]\d+/);
  const st = h.uploader.status();
  assert.equal(st.enabled, true);
  assert.equal(st.queued_windows, 0);
  assert.equal(st.last_error, null);
  assert.ok(st.last_success);

  const again = await h.uploader.runOnce();
  assert.deepEqual([again.windows.length, again.readings, again.error], [0, 0, null]);
  const after2 = await atlasContents(mongo.uri, db);
  assert.deepEqual(after2.parts, parts);
  // The manifest is empty.
  assert.equal((h.buffer.stores.sqlite.db.prepare('SELECT count(*) AS n FROM upload_manifest').get() as { n: number }).n, 0);
}));

test('late readings for an uploaded hour land in a new part of that hour, each reading once', () => withHarness(async (h, db) => {
  const w = hourAgo(2);
  await h.buffer.append(makeReadings(40, { start: w + 1000, tag: 'early', groups: 1 }));
  await h.uploader.runOnce();
  // A device replays its backlog: same window, arriving after the upload.
  await h.buffer.append(makeReadings(10, { start: w + 600_000, tag: 'late', groups: 1 }));
  const report = await h.uploader.runOnce();
  assert.equal(report.readings, 10);
  const { parts, rids } = await atlasContents(mongo.uri, db);
  assert.equal(parts.length, 2);
  assert.deepEqual(parts.map((p) => p.hour.getTime()), [w, w]);
  assert.deepEqual(parts.map((p) => p.count).sort(), [10, 40]);
  assert.equal(new Set(rids).size, 50);
  assert.notEqual(parts[0].part_key, parts[1].part_key);
}));

test('device_groups keeps devices that did not report, the original created_at, and the newest reading', () => withHarness(async (h, db) => {
  // A document as the original Flask API left it.
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(mongo.uri);
  const created = new Date('2025-01-01T00:00:00Z');
  await client.db(db).collection('device_groups').insertOne({
    group_id: 'grp-0', created_at: created, last_updated: created,
    devices: [{ device_id: 'legacy-1', group_id: 'grp-0', device_type: 'esp32', cpu: 3, timestamp: '2025-01-01T00:00:00.000000', status: 'online' }],
  });
  await client.close();
  const w = hourAgo(2);
  await h.buffer.append(makeReadings(8, { start: w + 1000, tag: 'x', groups: 1, devices: 2 }));
  await h.uploader.runOnce();
  await h.buffer.append(makeReadings(4, { start: w + HOUR + 1000, tag: 'y', groups: 1, devices: 1 }));
  await h.uploader.runOnce();
  const { groups } = await atlasContents(mongo.uri, db);
  assert.equal(groups.length, 1);
  assert.deepEqual(groups[0].created_at, created);
  assert.deepEqual(groups[0].devices.map((d: { device_id: string }) => d.device_id), ['dev-000', 'dev-001', 'legacy-1']);
  const d0 = groups[0].devices[0];
  assert.equal(d0.timestamp, new Date(w + HOUR + 1000 + 3000).toISOString().replace('.000Z', '.000Z'), 'the newest reading of dev-000 (second hour)');
  assert.ok(groups[0].last_updated > created);
}));

test('a lost ack (write applied, connection dropped) is retried and ends with the same documents', { skip: !!process.env.MONGODB_URI && 'needs the wire server' }, () => withHarness(async (h, db) => {
  const w = hourAgo(2);
  await h.buffer.append(makeReadings(300, { start: w + 1000, stepMs: 5000, tag: 'l', groups: 3, devices: 9 }));
  mongo.server!.faults.dropAfterWrite(1);
  const first = await h.uploader.runOnce();
  assert.equal(first.error?.kind, 'transient');
  assert.equal(mongo.server!.stats().droppedAfterWrite, 1);
  const partial = await atlasContents(mongo.uri, db);
  assert.ok(partial.parts.length > 0, 'the write was applied');
  assert.equal((await h.buffer.listWindows()).length, 1, 'nothing deleted locally');
  const second = await h.uploader.runOnce();
  assert.equal(second.error, null);
  const { parts, rids } = await atlasContents(mongo.uri, db);
  assert.equal(parts.length, 3);
  assert.equal(rids.length, 300);
  assert.equal(new Set(rids).size, 300);
  for (const p of partial.parts) assert.ok(parts.some((q) => q._id === p._id), 'same _ids on replay');
  assert.match(await metric(h, 'iotgw_upload_errors_total'), /kind="transient"} 1/);
}));

test('Atlas unreachable: the pass fails fast with one log line, windows stay queued, then upload once it is back', { skip: !!process.env.MONGODB_URI && 'needs the wire server' }, () => withHarness(async (h, db) => {
  const w = hourAgo(2);
  await h.buffer.append(makeReadings(30, { start: w + 1000, tag: 'd' }));
  mongo.server!.faults.refuseConnections = true;
  for (let i = 0; i < 3; i++) {
    const r = await h.uploader.runOnce();
    assert.equal(r.error?.kind, 'transient');
  }
  const warnings = h.lines.filter((l) => l.level >= 40 && /Atlas unreachable/.test(l.msg));
  assert.equal(warnings.length, 1, 'the first failure is logged once, not per pass');
  assert.ok(!h.lines.some((l) => typeof l.err?.stack === 'string'), 'no stack traces');
  const st = h.uploader.status();
  assert.equal(st.queued_windows, 1);
  assert.equal(st.queued_readings, 30);
  assert.ok(st.queued_bytes > 0);
  assert.equal(st.atlas, 'down');
  assert.match(await metric(h, 'iotgw_upload_queued_windows'), / 1$/m);
  mongo.server!.faults.refuseConnections = false;
  const ok = await h.uploader.runOnce();
  assert.equal(ok.error, null);
  assert.equal((await atlasContents(mongo.uri, db)).rids.length, 30);
  assert.ok(h.lines.some((l) => /working again/.test(l.msg)));
}));

test('authentication failure is permanent and global: nothing is written or deleted', { skip: !!process.env.MONGODB_URI && 'needs the wire server' }, () => withHarness(async (h, db) => {
  const w = hourAgo(2);
  await h.buffer.append(makeReadings(10, { start: w + 1000, tag: 'auth' }));
  await h.uploader.runOnce(); // connect and index first
  await h.buffer.append(makeReadings(10, { start: w + HOUR + 1000, tag: 'auth2' }));
  mongo.server!.faults.failCommandsWhere((name) => (name === 'update' ? { code: 13, errmsg: 'not authorized on iot_database to execute command' } : null));
  const r = await h.uploader.runOnce();
  assert.equal(r.error?.kind, 'permanent');
  assert.match(r.error!.reason, /Unauthorized \(13\)/);
  assert.equal((await h.buffer.listWindows()).length, 1);
  mongo.server!.faults.failCommandsWhere(null);
  assert.equal((await h.uploader.runOnce()).error, null);
  assert.equal((await atlasContents(mongo.uri, db)).rids.length, 20);
}));

test('interrupted after the parts were written: the manifest is replayed with the same _ids', { skip: !!process.env.MONGODB_URI && 'needs the wire server' }, () => withHarness(async (h, db) => {
  const w = hourAgo(2);
  await h.buffer.append(makeReadings(50, { start: w + 1000, tag: 'm' }));
  // group_hours parts are acknowledged, then the device_groups write fails: the pass stops
  // between "written" and "committed", as a crash there would.
  let failures = 1;
  mongo.server!.faults.failCommandsWhere((name, body) => (name === 'update' && body.update === 'device_groups' && failures-- > 0 ? { code: 91, errmsg: 'The server is in quiesce mode and will shut down' } : null));
  const first = await h.uploader.runOnce();
  assert.equal(first.error?.kind, 'transient');
  const written = await atlasContents(mongo.uri, db);
  assert.equal(written.rids.length, 50);
  const manifest = h.buffer.stores.sqlite.db.prepare('SELECT window, store, phase FROM upload_manifest').all();
  assert.deepEqual(manifest, [{ window: w, store: 'sqlite', phase: 'upload' }]);
  // A restart replays it first: same _ids, same contents, then device_groups and the delete.
  const h2 = await h.reopen();
  try {
    const r = await h2.uploader.runOnce();
    assert.equal(r.error, null);
    const again = await atlasContents(mongo.uri, db);
    assert.deepEqual(again.parts, written.parts);
    assert.equal(again.groups.length, 2);
    assert.equal((await h2.buffer.listWindows()).length, 0);
  } finally {
    await h2.close();
  }
}));

test('interrupted between the ack and the local delete: only the delete is finished', () => withHarness(async (h, db) => {
  const w = hourAgo(2);
  await h.buffer.append(makeReadings(30, { start: w + 1000, tag: 'c' }));
  const sqlite = h.buffer.stores.sqlite;
  const realDelete = sqlite.deleteWindow.bind(sqlite);
  sqlite.deleteWindow = async () => { throw new Error('simulated crash before the local delete'); };
  const first = await h.uploader.runOnce();
  assert.equal(first.ok, false);
  assert.deepEqual(h.buffer.stores.sqlite.db.prepare('SELECT phase FROM upload_manifest').all(), [{ phase: 'commit' }]);
  sqlite.deleteWindow = realDelete;
  // A late reading arrives meanwhile: it must not be taken for uploaded.
  await h.buffer.append(makeReadings(1, { start: w + 2000, tag: 'late' }));
  const r = await h.uploader.runOnce();
  assert.deepEqual(r.windows.map((x) => [x.result, x.deleted]), [['committed', 30]]);
  assert.equal((await atlasContents(mongo.uri, db)).rids.length, 30);
  assert.deepEqual((await h.buffer.listWindows()).map((x) => x.count), [1]);
  await h.uploader.runOnce();
  const { rids } = await atlasContents(mongo.uri, db);
  assert.equal(rids.length, 31);
  assert.equal(new Set(rids).size, 31);
}));

test('a window that moved from Redis to SQLite between attempts is uploaded once (stale parts removed)', { skip: !!process.env.MONGODB_URI && 'needs the wire server' }, async () => {
  const redis = await new TestRedis().start();
  try {
    await withHarness(async (h, db) => {
      assert.equal(h.buffer.mode, 'redis');
      const w = hourAgo(2);
      await h.buffer.append(makeReadings(200, { start: w + 1000, stepMs: 1000, tag: 'mv', groups: 2 }));
      assert.deepEqual((await h.buffer.listWindows()).map((x) => x.store), ['redis']);
      // The first bulk write is applied but its ack lost: Atlas holds parts with redis `_id`s.
      mongo.server!.faults.dropAfterWrite(1);
      const first = await h.uploader.runOnce();
      assert.equal(first.error?.kind, 'transient');
      const partial = await atlasContents(mongo.uri, db);
      assert.ok(partial.parts.length > 0 && partial.parts.every((p) => p.part_key.startsWith('redis:')));
      // Meanwhile the buffer spills the window to SQLite (new positions, so new `_id`s).
      await h.buffer.consolidate(w);
      assert.deepEqual((await h.buffer.listWindows()).map((x) => x.store), ['sqlite']);
      const second = await h.uploader.runOnce();
      assert.equal(second.error, null);
      assert.equal(second.windows[0].stale_parts_removed, partial.parts.length);
      await h.uploader.runOnce();
      const { parts, rids } = await atlasContents(mongo.uri, db);
      assert.ok(parts.every((p) => p.part_key.startsWith('sqlite:')));
      assert.equal(rids.length, 200);
      assert.equal(new Set(rids).size, 200);
    }, { redisUrl: redis.url, overrides: { 'upload.part_max_bytes': 8192 } });
  } finally {
    await redis.destroy();
  }
});

test('stop() during a pass abandons it safely; the next start replays it to the same documents', { skip: !!process.env.MONGODB_URI && 'needs the wire server' }, () => withHarness(async (h, db) => {
  const w = hourAgo(2);
  await h.buffer.append(makeReadings(100, { start: w + 1000, tag: 's' }));
  mongo.server!.faults.delayMs = 1500;
  mongo.server!.faults.delayFilter = (name) => name === 'update';
  const running = h.uploader.runOnce();
  await new Promise((r) => setTimeout(r, 300));
  await h.uploader.stop(100);
  const report = await running;
  assert.equal(report.ok, false);
  assert.equal((await h.buffer.listWindows()).length, 1, 'nothing deleted');
  mongo.server!.faults.reset();
  const h2 = await h.reopen();
  try {
    assert.equal((await h2.uploader.runOnce()).error, null);
    const { rids } = await atlasContents(mongo.uri, db);
    assert.equal(rids.length, 100);
    assert.equal(new Set(rids).size, 100);
  } finally {
    await h2.close();
  }
}));

test('mongodb.uri unset: upload disabled with one warning, readings stay queued', async () => {
  const h = await openHarness({ mongoUri: null, database: freshDb() });
  try {
    await h.buffer.append(makeReadings(5, { start: hourAgo(2) + 1000, tag: 'n' }));
    h.uploader.start();
    h.uploader.start();
    const r = await h.uploader.runOnce();
    assert.equal(r.enabled, false);
    assert.equal(h.lines.filter((l) => /upload disabled/.test(l.msg)).length, 1);
    await h.uploader.refreshQueue();
    assert.deepEqual({ ...h.uploader.status(), last_success: null }, { enabled: false, atlas: 'disabled', last_success: null, last_error: null, queued_windows: 1, queued_bytes: h.uploader.status().queued_bytes, queued_readings: 5, in_progress: false, next_pass: null, quarantine: { parts: 0, readings: 0 }, uplink: { bytes_per_second: null, part_bytes: 8 * 1024 * 1024, socket_timeout_ms: 60_000 } });
    assert.match(await metric(h, 'iotgw_upload_atlas_up'), / -1$/m);
  } finally {
    await h.cleanup();
  }
});
