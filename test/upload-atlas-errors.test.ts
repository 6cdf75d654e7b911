import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { atlasContents, makeReadings, type Harness } from './support/upload-driver.ts';
import { hourAgo, uploadSuite } from './support/upload-suite.ts';
import { waitFor } from './support/ports.ts';

// What Atlas answers that the uploader must read right (issue 21, item 6): a duplicate key that
// lasts, index builds that take their time, write-concern errors, overload. Against the wire
// server's faults, so these skip under MONGODB_URI.

const suite = uploadSuite('errors');
const skip = !!process.env.MONGODB_URI && 'needs the wire server';
const withHarness = suite.withHarness;

const metric = async (h: Harness, name: string): Promise<string> => h.metrics.registry.getSingleMetricAsString(name);

test('legacy device_groups with duplicate group_ids: the unique index fails with 11000, one warning, uploads go on', { skip }, () => withHarness(async (h, db) => {
  const client = new MongoClient(suite.mongo.uri);
  await client.db(db).collection('device_groups').insertMany([
    { group_id: 'grp-0', created_at: new Date(0), last_updated: new Date(0), devices: [] },
    { group_id: 'grp-0', created_at: new Date(0), last_updated: new Date(0), devices: [] },
  ]);
  await client.close();
  await h.buffer.append(makeReadings(20, { start: hourAgo(2) + 1000, tag: 'dup' }));
  const first = await h.uploader.runOnce();
  assert.equal(first.error, null, 'a failed index build is not a connect failure');
  assert.equal(first.readings, 20);
  await h.uploader.atlas.indexesSettled();
  assert.equal(h.uploader.status().atlas, 'up');
  const warnings = h.lines.filter((l) => l.level === 40 && /could not create the Atlas index device_groups\.group_id_1/.test(l.msg));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0].reason, /DuplicateKey \(11000\)/);
  // The group_hours indexes are made all the same.
  assert.deepEqual(suite.mongo.server!.indexes(db, 'group_hours').map((i) => i.name).sort(), ['_id_', 'gateway_id_1_hour_1', 'group_id_1_hour_1', 'readings.device_id_1_hour_1', 'rid_ranges.k_1_rid_ranges.hi_1']);
  await h.buffer.append(makeReadings(10, { start: hourAgo(3) + 1000, tag: 'dup2' }));
  assert.equal((await h.uploader.runOnce()).error, null);
  assert.equal(h.lines.filter((l) => /could not create the Atlas index/.test(l.msg ?? '')).length, 1, 'logged once, not per pass');
  assert.equal((await atlasContents(suite.mongo.uri, db)).rids.length, 30);
}));

test('uploads do not wait for index builds: a createIndexes that never answers holds nothing up', { skip, timeout: 60_000 }, () => withHarness(async (h, db) => {
  const release = suite.mongo.server!.faults.hold(['createIndexes']);
  await h.buffer.append(makeReadings(30, { start: hourAgo(2) + 1000, tag: 'idx' }));
  const report = await h.uploader.runOnce();
  assert.equal(report.error, null);
  assert.equal(report.readings, 30);
  assert.equal((await atlasContents(suite.mongo.uri, db)).rids.length, 30);
  assert.ok((suite.mongo.server!.stats().commands.createIndexes ?? 0) >= 1, 'the build was asked for');
  assert.deepEqual(suite.mongo.server!.indexes(db, 'group_hours').map((i) => i.name), ['_id_'], 'and is still running');
  release();
  await waitFor(() => suite.mongo.server!.indexes(db, 'group_hours').length === 5, 10_000, 'the indexes once the build ends');
}));

for (const wce of [{ code: 64, errmsg: 'waiting for replication timed out' }, { code: 79, errmsg: "unrecognized getLastError mode: majority" }]) {
  test(`a write-concern error (${wce.code}) on a part: applied but not confirmed, so nothing is deleted and the write is retried`, { skip }, () => withHarness(async (h, db) => {
    await h.buffer.append(makeReadings(40, { start: hourAgo(2) + 1000, tag: 'wce' }));
    suite.mongo.server!.faults.writeConcernErrors(1, wce);
    const first = await h.uploader.runOnce();
    assert.equal(suite.mongo.server!.stats().writeConcernErrors, 1);
    assert.equal(first.error?.kind, 'transient', 'whatever the code: the data was not refused');
    assert.match(first.error!.reason, /not acknowledged by a majority/);
    assert.equal((await h.buffer.listWindows()).length, 1, 'nothing deleted locally');
    assert.ok((await atlasContents(suite.mongo.uri, db)).rids.length > 0, 'the write was applied');
    assert.match(await metric(h, 'iotgw_upload_errors_total'), /kind="transient"} 1/);
    const second = await h.uploader.runOnce();
    assert.equal(second.error, null);
    const { rids } = await atlasContents(suite.mongo.uri, db);
    assert.equal(rids.length, 40);
    assert.equal(new Set(rids).size, 40);
    assert.equal((await h.buffer.listWindows()).length, 0);
  }));
}

test('462 (IngressRequestRateLimitExceeded) on a part is an overload that passes: retried, not refused', { skip }, () => withHarness(async (h, db) => {
  await h.buffer.append(makeReadings(20, { start: hourAgo(2) + 1000, tag: 'busy' }));
  let left = 1;
  suite.mongo.server!.faults.failWritesWhere((w) => (w.collection === 'group_hours' && left-- > 0 ? { code: 462, errmsg: 'ingress request rate limit exceeded' } : null));
  const first = await h.uploader.runOnce();
  assert.equal(first.error?.kind, 'transient');
  assert.match(first.error!.reason, /462/);
  assert.deepEqual(first.windows, []);
  suite.mongo.server!.faults.failWritesWhere(null);
  assert.equal((await h.uploader.runOnce()).error, null);
  assert.equal((await atlasContents(suite.mongo.uri, db)).rids.length, 20);
}));

test('a group_hours write error 11000 (a unique index someone added) is permanent, not retried forever', { skip }, () => withHarness(async (h) => {
  await h.buffer.append(makeReadings(20, { start: hourAgo(2) + 1000, tag: 'uniq', groups: 2 }));
  suite.mongo.server!.faults.failWritesWhere((w) => (w.collection === 'group_hours' && String((w.statement.q as { _id?: string })._id).includes(':grp-1:') ? { code: 11000, errmsg: 'E11000 duplicate key error collection: iot_database.group_hours index: site_1 dup key: { site: "x" }' } : null));
  const report = await h.uploader.runOnce();
  assert.equal(report.error, null, 'not an outage');
  assert.match(h.uploader.status().last_error!.reason, /DuplicateKey \(11000\)/);
  assert.match(await metric(h, 'iotgw_upload_errors_total'), /kind="permanent"} 1/);
  assert.doesNotMatch(await metric(h, 'iotgw_upload_errors_total'), /kind="transient"/);
}));

test('an index someone built by hand under one of our names (86): the other indexes are still created, one warning', { skip }, () => withHarness(async (h, db) => {
  const client = new MongoClient(suite.mongo.uri);
  await client.db(db).collection('group_hours').createIndex({ group_id: 1 }, { name: 'group_id_1_hour_1' });
  await client.close();
  await h.buffer.append(makeReadings(10, { start: hourAgo(2) + 1000, tag: 'i86' }));
  assert.equal((await h.uploader.runOnce()).error, null);
  await h.uploader.atlas.indexesSettled();
  // createIndexes is all or none: asked for together, the conflict would have kept every one out.
  assert.deepEqual(suite.mongo.server!.indexes(db, 'group_hours').map((i) => i.name).sort(), ['_id_', 'gateway_id_1_hour_1', 'group_id_1_hour_1', 'readings.device_id_1_hour_1', 'rid_ranges.k_1_rid_ranges.hi_1']);
  const warnings = h.lines.filter((l) => l.level === 40 && /could not create the Atlas index/.test(l.msg));
  assert.deepEqual(warnings.map((l) => [l.msg.match(/index (\S+);/)?.[1], l.code]), [['group_hours.group_id_1_hour_1', 86]]);
}));
